/*
 * SCRAM-SHA-256 verifiers and exchange for the admin console. This build
 * cannot make verifiers yet and says so.
 */
#include "proxy/scram.h"

#include <stdio.h>

int scram_passwd_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "pgsluice passwd: not available in this build\n");
    return 1;
}
