/*
 * SCRAM-SHA-256 for the admin console: verifiers and the server side of the
 * exchange, on OpenSSL's primitives.
 */
#ifndef PGSLUICE_SCRAM_H
#define PGSLUICE_SCRAM_H

/* `pgsluice passwd USER`: reads a password on stdin, prints a config line. */
int scram_passwd_main(int argc, char **argv);

#endif
