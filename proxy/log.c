/*
 * Formats and writes log lines. Owns the output stream and level; callers
 * own what goes in a line (which session, which table).
 */
#include "proxy/log.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static log_level_t g_level = LOG_INFO;
static int g_json;
static FILE *g_out;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level_t level, int json, FILE *out)
{
    g_level = level;
    g_json = json;
    g_out = out;
}

int log_enabled(log_level_t level)
{
    return level >= g_level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

static void put(log_line_t *l, const char *s, size_t n)
{
    size_t room = sizeof(l->text) - 1 - l->len;

    if (n > room)
        n = room;
    memcpy(l->text + l->len, s, n);
    l->len += n;
}

static void putc1(log_line_t *l, char c)
{
    put(l, &c, 1);
}

/* Writes v escaped for the line's format: JSON string rules, or text with
 * quotes when it holds spaces, quotes or '='. */
static void put_value(log_line_t *l, const char *v, size_t n)
{
    int quote = l->json || n == 0 || strpbrk(v, " \"=\t\n\\") != NULL;
    char esc[8];

    if (quote)
        putc1(l, '"');
    for (size_t i = 0; i < n && v[i]; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            putc1(l, '\\');
            putc1(l, (char)c);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, strlen(esc));
        } else {
            putc1(l, (char)c);
        }
    }
    if (quote)
        putc1(l, '"');
}

static void put_key(log_line_t *l, const char *key)
{
    if (l->json) {
        put(l, ",\"", 2);
        put(l, key, strlen(key));
        put(l, "\":", 2);
    } else {
        putc1(l, ' ');
        put(l, key, strlen(key));
        putc1(l, '=');
    }
}

void log_begin(log_line_t *l, log_level_t level, const char *event)
{
    struct timeval tv;
    struct tm tm;
    char ts[64];

    l->on = log_enabled(level);
    l->len = 0;
    l->json = g_json;
    if (!l->on)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    if (l->json) {
        put(l, "{\"time\":\"", 9);
        put(l, ts, strlen(ts));
        put(l, "\",\"level\":\"", 11);
        put(l, level_names[level], strlen(level_names[level]));
        put(l, "\",\"event\":\"", 11);
        put(l, event, strlen(event));
        putc1(l, '"');
    } else {
        put(l, ts, strlen(ts));
        putc1(l, ' ');
        put(l, level_names[level], strlen(level_names[level]));
        putc1(l, ' ');
        put(l, event, strlen(event));
    }
}

void log_strn(log_line_t *l, const char *key, const char *value, size_t max)
{
    size_t n;

    if (!l->on || !value)
        return;
    n = strnlen(value, max);
    put_key(l, key);
    put_value(l, value, n);
}

void log_str(log_line_t *l, const char *key, const char *value)
{
    log_strn(l, key, value, 512);
}

static void put_number(log_line_t *l, const char *key, const char *num)
{
    if (!l->on)
        return;
    put_key(l, key);
    put(l, num, strlen(num));
}

void log_u64(log_line_t *l, const char *key, uint64_t value)
{
    char num[32];

    snprintf(num, sizeof(num), "%" PRIu64, value);
    put_number(l, key, num);
}

void log_i64(log_line_t *l, const char *key, int64_t value)
{
    char num[32];

    snprintf(num, sizeof(num), "%" PRId64, value);
    put_number(l, key, num);
}

void log_end(log_line_t *l)
{
    if (!l->on)
        return;
    if (l->json)
        putc1(l, '}');
    putc1(l, '\n');
    fwrite(l->text, 1, l->len, g_out ? g_out : stderr);
    fflush(g_out ? g_out : stderr);
}

void log_simple(log_level_t level, const char *event, const char *msg)
{
    log_line_t l;

    log_begin(&l, level, event);
    log_str(&l, "msg", msg);
    log_end(&l);
}
