/*
 * Write classification of SQL text: which configured target tables each
 * statement writes, and what it does to the transaction and session state.
 * Knows nothing of sessions or sockets; parsing is libpg_query's.
 */
#ifndef PGSLUICE_CLASSIFY_H
#define PGSLUICE_CLASSIFY_H

#include <stddef.h>

/* Flags of one classified statement. */
#define CLASSIFY_F_BEGIN 0x01           /* BEGIN / START TRANSACTION */
#define CLASSIFY_F_END 0x02             /* COMMIT/END/ROLLBACK/ABORT/PREPARE TRANSACTION */
#define CLASSIFY_F_SAVEPOINT 0x04       /* SAVEPOINT / RELEASE / ROLLBACK TO */
#define CLASSIFY_F_IMPLICIT_COMMIT 0x08 /* commits at once on Redshift */
#define CLASSIFY_F_SEARCH_PATH 0x10     /* SET/RESET search_path: see new_search_path */
#define CLASSIFY_F_GUESSED 0x20         /* "when in doubt" token rules decided */
#define CLASSIFY_F_LOCAL 0x40           /* SET LOCAL (transaction-scoped) */

typedef enum classify_dialect {
    CLASSIFY_DIALECT_POSTGRES = 0,
    CLASSIFY_DIALECT_REDSHIFT = 1,
} classify_dialect_t;

typedef struct classify_stmt {
    const char *kind;      /* static upper-case tag: "INSERT", "COPY", "SELECT" ... */
    unsigned flags;        /* CLASSIFY_F_* */
    char **writes;         /* configured targets written, "schema.table", sorted, unique */
    int nwrites;
    char *prepare_name;    /* PREPARE name AS ...: writes are the prepared statement's */
    char *execute_name;    /* EXECUTE name: the session looks up what name writes */
    char *deallocate_name; /* DEALLOCATE name; "" for DEALLOCATE ALL */
    char *new_search_path; /* with CLASSIFY_F_SEARCH_PATH: the value; NULL for RESET/DEFAULT */
    char *reason;          /* why, when guessed or unusual: for the debug log; may be NULL */
    int location;          /* byte offset of the statement in the input */
    int length;            /* its length in bytes (0: to the end) */
} classify_stmt_t;

typedef struct classify_result {
    classify_stmt_t *stmts;
    int n;
} classify_result_t;

typedef struct classify_config classify_config_t;

/* Configuration: targets are "schema.table" or patterns with '*'. Names are
 * written as they would be in SQL (unquoted folds to lower case). Returns 0,
 * or a negative errno-style code for a malformed entry. */
classify_config_t *classify_config_new(void);
void classify_config_free(classify_config_t *cfg);
int classify_config_add_target(classify_config_t *cfg, const char *pattern);
/* CALL of proc writes each table in tables_csv ("a.b, c.d"). */
int classify_config_add_procedure(classify_config_t *cfg, const char *proc,
                                  const char *tables_csv);
void classify_config_set_dialect(classify_config_t *cfg, classify_dialect_t d);

/* True when table ("schema.table", already resolved) matches a target;
 * *pattern gets the configured entry it matched (owned by cfg). */
int classify_target_match(const classify_config_t *cfg, const char *table,
                          const char **pattern);

/*
 * Classifies sql (NUL-terminated; one or many statements). search_path is
 * the session's raw setting (NULL: "$user", public); user replaces $user.
 * Never fails on bad SQL: unparsable text is decided by token rules. The
 * result is owned by the caller and freed with classify_result_free. Results
 * may come from a cache keyed by (sql, search_path, user); cfg must outlive
 * the cache (classify_cache_clear after changing cfg). NULL only when memory
 * runs out. The cache and parser scratch are process-wide: call from one
 * thread (the loop).
 */
classify_result_t *classify_sql(const classify_config_t *cfg, const char *sql,
                                const char *search_path, const char *user);
void classify_result_free(classify_result_t *res);
void classify_cache_clear(void);

/* Union of all statements' writes, sorted and unique; caller frees with
 * classify_strv_free. */
char **classify_result_writes(const classify_result_t *res, int *n);
void classify_strv_free(char **v, int n);

#endif
