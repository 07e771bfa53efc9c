/*
 * Transparent retry: records what the client sends per unit (a Query, or a
 * batch up to Sync) and per transaction, holds responses back until a unit
 * ends, and replays the transaction when it fails with a retryable error.
 * Part of the session module; relay.c feeds it every message.
 */
#ifndef PGSLUICE_RETRY_H
#define PGSLUICE_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

struct session;
struct retry;

/* Flags the relay passes with a client message. */
#define RETRY_MSG_NORETRY 0x01 /* a stand-in the proxy sent: never replay */
/* Set in cflags (beside CLASSIFY_F_*) when the message runs more than
 * transaction control, so a snapshot may have been taken. */
#define RETRY_F_WORK 0x10000

/* Whether an error is one the proxy replays. */
int retry_is_retryable(const config_t *cfg, const char *sqlstate, const char *message,
                       const char *detail);

/* A whole client message about to go upstream; flags are CLASSIFY_F_* of
 * what it runs (0 if unknown), stmt_name the name a Parse creates, sql_prepare
 * the name a SQL PREPARE creates. */
void retry_client_msg(struct session *s, const uint8_t *p, size_t n, unsigned cflags,
                      unsigned rflags, const char *stmt_name, const char *sql_prepare);
/* Bytes of a client message that streams through. */
void retry_client_stream(struct session *s, const uint8_t *p, size_t n);
/* A whole server message. Returns 1 when the relay should deliver it to the
 * client now (after on_ready for ReadyForQuery), 0 when retry took it. */
int retry_server_msg(struct session *s, const uint8_t *p, size_t n);
/* Whether a long server message may stream to the client now (not while
 * a replay's responses are being compared). */
int retry_may_stream(const struct session *s);
/* A server message too long to hold starts streaming: stop holding. */
void retry_server_stream(struct session *s);
/* The upstream is gone: 1 when a COMMIT was in flight (outcome unknown). */
int retry_commit_in_flight(const struct session *s);
/* The upstream is gone: what it said last (a FATAL error) still reaches
 * the client. */
void retry_flush_held(struct session *s);
void retry_free(struct session *s);
/* A write slot was granted after a wait inside a transaction: replays what
 * the transaction did so far, for a fresh snapshot. Returns 1 when a replay
 * started (the session stays blocked until it ends), 0 when none is needed. */
int retry_refresh(struct session *s);

/* A retryable error from the server that no unit is tracking. */
void retry_note_untracked_error(struct session *s, const char *sqlstate,
                                const char *message, const char *detail);

/* Global retry budget (token bucket). */
double retry_budget_remaining(void);

#endif
