/*
 * Presentation of benchmark results: one human-readable line per run, a
 * CSV row per run appended to a file, and a summary per scenario,
 * concurrency and mode with makespan ratios. Computing results is run's.
 */
#ifndef PGSLUICE_BENCH_REPORT_H
#define PGSLUICE_BENCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "run.h"

struct report_entry {
    int scenario;
    const char *mode;
    int concurrency;
    int rep;
    struct run_result r;
};

void report_print_header(FILE *out);
void report_print_row(FILE *out, const struct report_entry *e);

/* Appends e to the CSV at path, writing the header first when the file is
 * new or empty. Returns 0 or -1 (with errno). */
int report_append_csv(const char *path, const struct report_entry *e);

/* Totals and medians per (scenario, concurrency, mode), then the makespan
 * of pgsluice relative to the other modes. */
void report_print_summary(FILE *out, const struct report_entry *e, size_t n);

#endif
