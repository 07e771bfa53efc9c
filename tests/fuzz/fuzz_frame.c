/* fuzz-sources: protocol/frame.c protocol/buf.c */
/*
 * Fuzz target for the protocol decoders: arbitrary bytes as a stream of
 * typed messages, as a startup packet, and as error fields. Any crash,
 * out-of-bounds read or leak is a bug.
 */
#include <stddef.h>
#include <stdint.h>

#include "protocol/frame.h"

static void decode_stream(const uint8_t *p, size_t n)
{
    frame_t f;
    frame_error_t e;
    frame_cur_t c;

    while (frame_read(p, n, 1 << 16, &f) == FRAME_OK && f.body) {
        if (f.type == 'E' || f.type == 'N')
            frame_parse_error(&f, &e);
        frame_cur_init(&c, f.body, f.body_len);
        while (!c.err && frame_get_str(&c))
            frame_get_u16(&c);
        p += f.total;
        n -= f.total;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frame_t f;
    frame_startup_t st;

    decode_stream(data, size);
    if (frame_read_startup(data, size, &f) == FRAME_OK && f.body_len >= 4) {
        if (frame_startup_code(&f) == FRAME_PROTO_3 && frame_parse_startup(&f, &st) == FRAME_OK)
            frame_startup_get(&st, "user");
    }
    return 0;
}
