/*
 * The configuration file: an INI file read with inih into one struct.
 * Knows every key, its default and whether a reload may change it; knows
 * nothing of what the settings drive.
 */
#ifndef PGSLUICE_CONFIG_H
#define PGSLUICE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum tls_client_mode {
    CLIENT_TLS_DISABLE,
    CLIENT_TLS_ALLOW,
    CLIENT_TLS_REQUIRE,
} tls_client_mode_t;

typedef enum tls_server_mode {
    SERVER_TLS_DISABLE,
    SERVER_TLS_PREFER,
    SERVER_TLS_REQUIRE,
    SERVER_TLS_VERIFY_CA,
    SERVER_TLS_VERIFY_FULL,
} tls_server_mode_t;

typedef struct config_table {
    char *pattern; /* as written: "public.fact_sales" or "analytics.fact_*" */
    int limit;
} config_table_t;

typedef struct config_proc {
    char *name;
    char *tables; /* comma separated, as written */
} config_proc_t;

typedef struct config_retry_rule {
    char sqlstate[6];
    char *substring; /* may be NULL: any message */
} config_retry_rule_t;

typedef struct config_admin {
    char *user;
    char *verifier; /* SCRAM-SHA-256$iter:salt$stored:server */
} config_admin_t;

typedef struct config {
    char *path;
    /* [pgsluice] */
    char *listen_addr;
    int listen_port;
    char *upstream_host;
    int upstream_port;
    int connect_timeout;
    int startup_timeout;
    size_t max_message_size;
    size_t high_water;
    tls_client_mode_t client_tls;
    char *client_tls_cert, *client_tls_key;
    tls_server_mode_t server_sslmode;
    char *server_tls_ca;
    int dialect; /* -1 auto, else classify_dialect_t */
    int log_level;
    int log_json;
    int shutdown_timeout;
    int metrics_port;
    char *metrics_addr;
    /* [tables], [procedures] */
    config_table_t *tables;
    int ntables;
    config_proc_t *procs;
    int nprocs;
    /* [queue] */
    int wait_timeout;
    int hold_timeout;
    /* [retry] */
    int retry_enabled;
    int max_attempts;
    int base_delay_ms, max_delay_ms;
    size_t retry_buffer;
    double budget_ratio;
    double budget_floor;
    config_retry_rule_t *retry_rules;
    int nretry_rules;
    /* [admin] */
    config_admin_t *admins;
    int nadmins;
} config_t;

/* Reads path into a new config. On failure returns NULL and writes a
 * message naming the file, line and key into err. */
config_t *config_load(const char *path, char *err, size_t errlen);
/* The defaults alone (no file). */
config_t *config_defaults(void);
void config_free(config_t *c);
/* Limit for a resolved table name: the first matching [tables] entry,
 * else 1. */
int config_table_limit(const config_t *c, const char *table);

/* Writes each setting that differs between a and b and needs a restart to
 * take effect into out as "key, key"; returns how many. */
int config_restart_changes(const config_t *a, const config_t *b, char *out,
                           size_t outlen);

#endif
