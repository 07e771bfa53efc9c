/*
 * Prometheus metrics. This build has no HTTP endpoint yet and says so when
 * metrics_port asks for one.
 */
#include "proxy/metrics.h"

#include "proxy/log.h"
#include "proxy/server.h"

int metrics_start(struct server *sv)
{
    if (sv->cfg->metrics_port == 0)
        return 0;
    log_simple(LOG_ERROR, "metrics_unavailable", "this build has no metrics endpoint");
    return -1;
}

void metrics_stop(void)
{
}
