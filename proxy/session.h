/*
 * A client session: one client connection joined to one upstream session
 * for its whole life. Owns the protocol state machine, the queue slots the
 * session holds and what it records for replay.
 */
#ifndef PGSLUICE_SESSION_H
#define PGSLUICE_SESSION_H

#include <stdint.h>
#include <uv.h>

struct session;
typedef struct session session_t;

/* Accepts a pending connection from the listener and starts the session. */
int session_accept(uv_stream_t *listener);
/* A CancelRequest for the proxy-issued keys; unknown keys are ignored. */
void session_cancel_request(uint32_t pid, uint32_t key);
/* Closes the session with a FATAL ErrorResponse (admin_shutdown etc.). */
void session_terminate(session_t *s, const char *sqlstate, const char *msg);
/* During shutdown: closes the session unless a transaction or a statement
 * is still under way. */
void session_stop_if_idle(session_t *s);
/* Once a second: idle-in-transaction holders past hold_timeout. */
void session_tick(session_t *s, uint64_t now_ms);

#endif
