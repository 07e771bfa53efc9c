/*
 * Forwarding a CancelRequest upstream: a short-lived connection of its own,
 * with the same TLS negotiation as sessions, that sends the server's keys.
 */
#ifndef PGSLUICE_CANCEL_H
#define PGSLUICE_CANCEL_H

#include <stdint.h>

/* Fire and forget: failures are logged, never reported to anyone. */
void cancel_forward(uint32_t server_pid, uint32_t server_key, uint64_t sid);

#endif
