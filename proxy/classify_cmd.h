/*
 * `pgsluice classify`: reads SQL text and prints, per statement, its kind,
 * the target tables it writes and its flags. Argument parsing is main.c's.
 */
#ifndef PGSLUICE_CLASSIFY_CMD_H
#define PGSLUICE_CLASSIFY_CMD_H

#include <stdio.h>

#include "proxy/classify.h"

/*
 * Reads all of in as one text (as one Query message would carry it) and
 * writes one line per statement to out: text columns, or with json one
 * JSON object per line. search_path is the session's starting value (NULL:
 * "$user", public); user replaces $user (may be NULL). Returns 0, or 1 when
 * in cannot be read.
 */
int classify_cmd_run(const classify_config_t *cfg, const char *search_path,
                     const char *user, int json, FILE *in, FILE *out);

#endif
