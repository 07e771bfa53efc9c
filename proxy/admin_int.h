/*
 * Shared by the files of the admin console (admin.c: authentication, the
 * message loop and commands that act; admin_show.c: the SHOW result sets).
 * Nothing outside proxy/admin*.c includes this.
 */
#ifndef PGSLUICE_ADMIN_INT_H
#define PGSLUICE_ADMIN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/buf.h"

/* A result set being written: RowDescription, DataRows, CommandComplete.
 * Every column is text. */
typedef struct admin_rows {
    buf_t *out;
    int ncols;
    uint64_t nrows;
} admin_rows_t;

void admin_rows_begin(admin_rows_t *r, buf_t *out, const char *const *cols,
                      int n);
/* vals has r->ncols entries; a NULL entry is SQL NULL. */
void admin_rows_add(admin_rows_t *r, const char *const *vals);
void admin_rows_end(admin_rows_t *r, const char *tag);

/* Writes the result set of SHOW what ("queues", "locks" ...). Returns 0, or
 * -1 when what names no result set (nothing written). */
int admin_show(const char *what, buf_t *out);

/* Reads a table name as SQL writes it (unquoted folds to lower case, quoted
 * stays exact, schema optional and "public" when absent) into "schema.table".
 * Returns 0, or -1 when text is not one such name. */
int admin_table_name(const char *text, char *out, size_t len);

/* Wall clock in ms since the epoch; a loop timestamp (uv_now) as wall time. */
uint64_t admin_wall_ms(void);
uint64_t admin_loop_to_wall(uint64_t loop_ms);
/* "2024-05-01T12:00:00.123Z" */
void admin_iso_time(uint64_t wall_ms, char *out, size_t len);

#endif
