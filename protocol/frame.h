/*
 * PostgreSQL protocol 3 framing and the few messages the proxy builds or
 * reads field by field. Buffers in, messages out: no sockets, no libuv.
 * Readers return pointers into the caller's bytes and allocate nothing.
 */
#ifndef PGSLUICE_FRAME_H
#define PGSLUICE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/buf.h"

#define FRAME_NEED_MORE 0
#define FRAME_OK 1
#define FRAME_EBADLEN (-1)  /* declared length impossible: lost synchronization */
#define FRAME_ETOOBIG (-2)  /* declared length over the caller's limit */
#define FRAME_EMALFORMED (-3)

#define FRAME_CODE_SSL 80877103u
#define FRAME_CODE_GSSENC 80877104u
#define FRAME_CODE_CANCEL 80877102u
#define FRAME_PROTO_3 196608u
#define FRAME_STARTUP_MAX 10000u /* the server's own limit for startup packets */

typedef struct frame {
    uint8_t type;          /* 0 for startup-phase packets */
    uint32_t len;          /* declared length, including the length field */
    const uint8_t *body;   /* first byte after the length field */
    size_t body_len;       /* len - 4 */
    size_t total;          /* bytes the whole message spans in the buffer */
} frame_t;

/*
 * Reads a typed message header at p[0..n). FRAME_OK fills f->type, f->len,
 * f->total and, when the whole message is present, f->body (else NULL).
 * Returns FRAME_NEED_MORE before the 5-byte header is complete, FRAME_EBADLEN
 * when the length is below 4, FRAME_ETOOBIG when it is over max.
 */
int frame_read(const uint8_t *p, size_t n, size_t max, frame_t *f);
/* Same for an untyped startup-phase packet (length, then code). */
int frame_read_startup(const uint8_t *p, size_t n, frame_t *f);
/* The 32-bit code of a startup-phase packet whose body is present. */
uint32_t frame_startup_code(const frame_t *f);

/* A cursor over a message body, PostgreSQL's pq_getmsg* in miniature. */
typedef struct frame_cur {
    const uint8_t *p;
    size_t left;
    int err;
} frame_cur_t;

void frame_cur_init(frame_cur_t *c, const uint8_t *p, size_t n);
/* Reads a NUL-terminated string; NULL (and c->err set) if none ends in bounds. */
const char *frame_get_str(frame_cur_t *c);
uint32_t frame_get_u32(frame_cur_t *c);
uint16_t frame_get_u16(frame_cur_t *c);
uint8_t frame_get_u8(frame_cur_t *c);
const uint8_t *frame_get_bytes(frame_cur_t *c, size_t n);

/* Startup packet parameters: pointers into the packet body. */
#define FRAME_MAX_PARAMS 64
typedef struct frame_startup {
    uint32_t version;
    int nparams;
    const char *keys[FRAME_MAX_PARAMS];
    const char *values[FRAME_MAX_PARAMS];
} frame_startup_t;

/* Parses a protocol-3 startup body; FRAME_EMALFORMED when not well formed. */
int frame_parse_startup(const frame_t *f, frame_startup_t *st);
const char *frame_startup_get(const frame_startup_t *st, const char *key);

/* ErrorResponse / NoticeResponse fields: pointers into the body. */
typedef struct frame_error {
    const char *severity;
    const char *sqlstate;
    const char *message;
    const char *detail;
} frame_error_t;

int frame_parse_error(const frame_t *f, frame_error_t *e);

/* Builders: append one whole message to out; return 0 or -ENOMEM. */
int frame_put_error(buf_t *out, const char *severity, const char *sqlstate,
                    const char *message, const char *detail);
int frame_put_ready(buf_t *out, char status);
int frame_put_backend_key(buf_t *out, uint32_t pid, uint32_t key);
int frame_put_cancel(buf_t *out, uint32_t pid, uint32_t key);
int frame_put_ssl_request(buf_t *out);
int frame_put_query(buf_t *out, const char *sql);
int frame_put_terminate(buf_t *out);
/* Opens a typed message; frame_end fills in its length. */
size_t frame_begin(buf_t *out, uint8_t type);
void frame_end(buf_t *out, size_t start);

#endif
