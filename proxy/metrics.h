/*
 * Prometheus metrics over HTTP on metrics_port. Reads the server's
 * counters, the queues and the sessions; changes nothing.
 */
#ifndef PGSLUICE_METRICS_H
#define PGSLUICE_METRICS_H

struct server;

/* Starts the HTTP endpoint when metrics_port is set; 0 or -1 (logged). */
int metrics_start(struct server *sv);
void metrics_stop(void);

#endif
