/*
 * The admin console: sessions that connect to the virtual database
 * "pgsluice" talk to the proxy itself, never to the upstream. Owns the
 * console's authentication and commands; reads the queues and sessions.
 */
#ifndef PGSLUICE_ADMIN_H
#define PGSLUICE_ADMIN_H

#include "protocol/frame.h"
#include "proxy/session.h"

#define ADMIN_DATABASE "pgsluice"

/* Takes over a session whose startup named the console database. The
 * session's client link is up; the console answers on it. */
void admin_session_start(session_t *s, const frame_startup_t *st);
/* New bytes from the console client. */
void admin_client_data(session_t *s);
/* The session is closing: drop console state. */
void admin_session_closed(session_t *s);

#endif
