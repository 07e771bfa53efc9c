/*
 * One-line structured logs: time, level, event, then key=value fields, as
 * text or JSON. Callers build a line field by field; nothing is buffered
 * across lines.
 */
#ifndef PGSLUICE_LOG_H
#define PGSLUICE_LOG_H

#include <stdint.h>
#include <stdio.h>

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
} log_level_t;

void log_setup(log_level_t level, int json, FILE *out);
int log_enabled(log_level_t level);
/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int log_level_parse(const char *s);

#define LOG_LINE_MAX 2048

typedef struct log_line {
    char text[LOG_LINE_MAX];
    size_t len;
    int json;
    int on;
} log_line_t;

/* Starts a line; when the level is filtered out every later call is a no-op. */
void log_begin(log_line_t *l, log_level_t level, const char *event);
void log_str(log_line_t *l, const char *key, const char *value);
/* Like log_str, cut to at most max bytes (for SQL text). */
void log_strn(log_line_t *l, const char *key, const char *value, size_t max);
void log_u64(log_line_t *l, const char *key, uint64_t value);
void log_i64(log_line_t *l, const char *key, int64_t value);
void log_end(log_line_t *l);

/* A whole line with one message field, for events without context. */
void log_simple(log_level_t level, const char *event, const char *msg);

#endif
