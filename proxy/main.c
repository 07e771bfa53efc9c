/*
 * The pgsluice command: runs the proxy in the foreground, or one of its
 * tools (classify, passwd). Argument handling only; the work is elsewhere.
 */
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "proxy/classify.h"
#include "proxy/classify_cmd.h"
#include "proxy/config.h"
#include "proxy/log.h"
#include "proxy/scram.h"
#include "proxy/server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "pgsluice %s - PostgreSQL protocol proxy that queues writers per table\n"
            "and replays transactions that fail with serialization errors.\n\n"
            "usage:\n"
            "  pgsluice -c FILE          run the proxy in the foreground\n"
            "  pgsluice classify -c FILE [--search-path P] [--user U]\n"
            "                    [--format text|json]\n"
            "                            print what each SQL statement on standard\n"
            "                            input writes, per the [tables] of FILE\n"
            "  pgsluice passwd USER      read a password on standard input and print\n"
            "                            an [admin] line with its SCRAM-SHA-256 verifier\n"
            "  pgsluice --help | --version\n\n"
            "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads FILE.\n"
            "Documentation: docs/ in the source tree.\n",
            PGSLUICE_VERSION);
}

static config_t *load_or_die(const char *path)
{
    char err[600];
    config_t *c;

    if (!path) {
        fprintf(stderr, "pgsluice: -c FILE is required (see pgsluice --help)\n");
        exit(2);
    }
    c = config_load(path, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "pgsluice: %s\n", err);
        exit(2);
    }
    return c;
}

static int run_classify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"search-path", required_argument, 0, 's'},
        {"user", required_argument, 0, 'u'},   {"format", required_argument, 0, 'f'},
        {0, 0, 0, 0}};
    const char *path = NULL, *sp = NULL, *user = NULL, *fmt = "text";
    int o, rc;
    config_t *c;
    classify_config_t *cc;

    optind = 1;
    while ((o = getopt_long(argc, argv, "c:s:u:f:", opts, NULL)) != -1) {
        if (o == 'c')
            path = optarg;
        else if (o == 's')
            sp = optarg;
        else if (o == 'u')
            user = optarg;
        else if (o == 'f')
            fmt = optarg;
        else
            return 2;
    }
    if (strcmp(fmt, "text") != 0 && strcmp(fmt, "json") != 0) {
        fprintf(stderr, "pgsluice classify: --format is text or json\n");
        return 2;
    }
    c = load_or_die(path);
    cc = classify_config_new();
    for (int i = 0; i < c->ntables; i++)
        if (classify_config_add_target(cc, c->tables[i].pattern) < 0) {
            fprintf(stderr, "pgsluice: invalid [tables] entry %s\n", c->tables[i].pattern);
            return 2;
        }
    for (int i = 0; i < c->nprocs; i++)
        classify_config_add_procedure(cc, c->procs[i].name, c->procs[i].tables);
    if (c->dialect >= 0)
        classify_config_set_dialect(cc, (classify_dialect_t)c->dialect);
    rc = classify_cmd_run(cc, sp, user ? user : "", strcmp(fmt, "json") == 0, stdin,
                          stdout);
    classify_cache_clear();
    classify_config_free(cc);
    config_free(c);
    return rc;
}

/* Backoff jitter must differ between processes, or proxies restarted
 * together would retry in step. */
static void seed_random(void)
{
    unsigned int seed;

    if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
        seed = (unsigned int)uv_hrtime() ^ (unsigned int)getpid();
    srandom(seed);
}

static int run_proxy(const char *path)
{
    config_t *c = load_or_die(path);
    uv_loop_t *loop = uv_default_loop();
    int rc;

    log_setup((log_level_t)c->log_level, c->log_json, stderr);
    seed_random();
    if (server_start(loop, c) < 0) {
        fprintf(stderr, "pgsluice: could not start (see the log line above)\n");
        return 1;
    }
    rc = uv_run(loop, UV_RUN_DEFAULT);
    log_simple(LOG_INFO, "stopped", rc == 0 ? "clean exit" : "loop ended with handles");
    server_free();
    uv_loop_close(loop);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int o;

    if (argc > 1 && strcmp(argv[1], "classify") == 0)
        return run_classify(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "passwd") == 0)
        return scram_passwd_main(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("pgsluice %s\n", PGSLUICE_VERSION);
            return 0;
        }
    }
    while ((o = getopt(argc, argv, "c:")) != -1) {
        if (o != 'c') {
            usage(stderr);
            return 2;
        }
        path = optarg;
    }
    return run_proxy(path);
}
