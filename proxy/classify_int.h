/*
 * Private interface shared by the classifier's three files: classify.c
 * (API, configuration, name resolution, cache), classify_tree.c (the parse
 * tree walk) and classify_tokens.c (rules over scanner tokens).
 * Nothing outside proxy/classify*.c, the classifier's tests, fuzz target and
 * benchmark includes it.
 */
#ifndef PGSLUICE_CLASSIFY_INT_H
#define PGSLUICE_CLASSIFY_INT_H

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "proxy/classify.h"

/* PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
#define CL_NAMEDATALEN 64

/* A growable vector of owned strings. */
typedef struct cl_strv {
    char **v;
    int n;
    int cap;
} cl_strv_t;

/* One scanner token (comments dropped); offsets index the scanned text. */
typedef struct cl_tok {
    int tok; /* PgQuery__Token */
    int kw;  /* PgQuery__KeywordKind */
    int start;
    int end;
} cl_tok_t;

/* A run of tokens over text (one statement, or a DO block body). */
typedef struct cl_toks {
    const char *text;
    const cl_tok_t *t;
    int n;
} cl_toks_t;

/* One statement while it is being classified. */
typedef struct cl_stmt {
    const char *kind;
    unsigned flags;
    cl_strv_t writes; /* resolved "schema.table" names, maybe repeated */
    char *prepare_name;
    char *execute_name;
    char *deallocate_name;
    char *new_search_path;
    char *reason;
    int location;
    int length;
    int too_deep; /* the tree walk gave up: decide by tokens instead */
} cl_stmt_t;

/* State of one classify_sql call. */
typedef struct cl_ctx {
    const classify_config_t *cfg;
    const char *user;
    cl_strv_t path; /* schemas an unqualified name may resolve to */
    int nomem;
} cl_ctx_t;

/* classify.c: strings, resolution and session state */
int cl_strv_push(cl_strv_t *v, const char *s, size_t len);
void cl_strv_clear(cl_strv_t *v);
char *cl_strdup(cl_ctx_t *ctx, const char *s);
void cl_set_str(cl_ctx_t *ctx, char **dst, const char *s);
void cl_set_reason(cl_ctx_t *ctx, cl_stmt_t *st, const char *why);
int cl_is_temp_schema(const char *schema);
/* Records a write of schema.rel (schema NULL or "": resolve through the
 * search path) when it matches a target. */
void cl_write_name(cl_ctx_t *ctx, cl_stmt_t *st, const char *schema,
                   const char *rel);
/* Counts the tables a CALL of schema.name writes (schema may be NULL). */
void cl_write_call(cl_ctx_t *ctx, cl_stmt_t *st, const char *schema,
                   const char *name);
/* SET/RESET search_path: value is the stored form, NULL for a reset. */
void cl_set_search_path(cl_ctx_t *ctx, cl_stmt_t *st, const char *value,
                        int local);
/* Appends name to buf as quote_identifier() would write it. */
int cl_quote_ident(const char *name, char *buf, size_t size);
/* Bump allocators for unpacking protobuf; reset frees all they gave out. */
#define CL_ARENA_TREE 0
#define CL_ARENA_SCAN 1
ProtobufCAllocator *cl_arena(int which);
void cl_arena_reset(int which);
int cl_is_truthy(const char *s);

/* classify_tree.c */
void cl_tree_stmt(cl_ctx_t *ctx, cl_stmt_t *st, const PgQuery__Node *node);

/* classify_tokens.c */
#define CL_TOK_UNSURE 0
#define CL_TOK_SURE 1
/* Scans text into tokens without comments; 0 or -1 with *errpos set to
 * the byte offset of the scanner error (tokens before it are returned). */
int cl_scan(const char *text, cl_tok_t **out, int *n, int *errpos);
/* Classifies one statement by token rules. With sure_only, returns
 * CL_TOK_UNSURE without touching st when the rules cannot be certain;
 * otherwise decides anyway and marks a guess CLASSIFY_F_GUESSED. */
int cl_tokens_stmt(cl_ctx_t *ctx, cl_stmt_t *st, cl_toks_t ts, int sure_only);
/* A bound on the nesting depth the parse tree of ts would reach. */
int cl_tokens_depth(cl_toks_t ts);
/* Every target that the tokens name counts as written. */
void cl_tokens_doubt(cl_ctx_t *ctx, cl_stmt_t *st, cl_toks_t ts);
/* DO block body: a body that names a target counts as writing it. */
void cl_tokens_do_body(cl_ctx_t *ctx, cl_stmt_t *st, const char *body);

/* Test hooks: 0 turns off the token fast path (every statement the parser
 * accepts is then decided by the tree), 1 restores it. */
void classify_debug_set_fast_path(int on);

#endif
