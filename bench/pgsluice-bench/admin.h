/*
 * Hook into pgsluice's admin console: reads the proxy's cumulative count of
 * transparent retries so the benchmark can report retries for the pgsluice
 * mode as the difference before and after a run.
 */
#ifndef PGSLUICE_BENCH_ADMIN_H
#define PGSLUICE_BENCH_ADMIN_H

/* The admin command sent unless --admin-query names another. */
#define ADMIN_DEFAULT_QUERY "SHOW STATS"

/*
 * Connects to dsn, runs query and sums every value found under a column
 * named "retries" (or "retries_attempted", "retries_total"), or in rows
 * whose first column is one of those names with the value in the second.
 * Returns the sum, or -1 when the console is unreachable or shows no such
 * counter.
 */
long admin_read_retries(const char *dsn, const char *query);

#endif
