/*
 * The admin console. This build refuses console sessions with a clear
 * error; the console proper lives here once written.
 */
#include "proxy/admin.h"

#include "proxy/session_int.h"

void admin_session_start(session_t *s, const frame_startup_t *st)
{
    (void)st;
    sess_fail(s, "0A000", "the pgsluice admin console is not available in this build",
              NULL);
}

void admin_client_data(session_t *s)
{
    (void)s;
}

void admin_session_closed(session_t *s)
{
    s->admin = NULL;
}
