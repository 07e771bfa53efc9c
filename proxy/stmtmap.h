/*
 * Maps names of prepared statements and portals to what the statement
 * writes. One map per kind per session; owns copies of names and tables.
 */
#ifndef PGSLUICE_STMTMAP_H
#define PGSLUICE_STMTMAP_H

#include <stddef.h>

typedef struct stmt_info {
    char **writes; /* target tables, sorted */
    int nwrites;
    unsigned flags; /* CLASSIFY_F_* of the statement(s) */
} stmt_info_t;

typedef struct stmtmap_entry stmtmap_entry_t;

typedef struct stmtmap {
    stmtmap_entry_t **buckets;
    size_t nbuckets;
    size_t count;
} stmtmap_t;

/* Sets name to a copy of info (replacing any old entry). 0 or -ENOMEM. */
int stmtmap_put(stmtmap_t *m, const char *name, const stmt_info_t *info);
/* NULL when name is unknown. */
const stmt_info_t *stmtmap_get(const stmtmap_t *m, const char *name);
void stmtmap_del(stmtmap_t *m, const char *name);
void stmtmap_clear(stmtmap_t *m);
/* Copies info's tables into a new info; 0 or -ENOMEM. */
int stmt_info_copy(stmt_info_t *dst, const stmt_info_t *src);
void stmt_info_free(stmt_info_t *info);

#endif
