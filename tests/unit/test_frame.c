/*
 * Unit tests for protocol framing: every split of a message stream across
 * reads, declared lengths against limits, startup packets, error fields and
 * the builders. No network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/buf.h"
#include "protocol/frame.h"

#include "tests/unit/expect.h"

/* A stream of three messages: Query, Sync, a 300-byte CopyData. */
static void make_stream(buf_t *b)
{
    size_t m;
    uint8_t big[300];

    memset(big, 'x', sizeof(big));
    frame_put_query(b, "SELECT 1; SELECT 2");
    m = frame_begin(b, 'S');
    frame_end(b, m);
    m = frame_begin(b, 'd');
    buf_append(b, big, sizeof(big));
    frame_end(b, m);
}

/* Feeds the stream in two reads split at every offset; the reader must see
 * the same three messages, and report "need more" until each is whole. */
static void test_split_every_byte(void)
{
    buf_t whole = {0};
    int ok = 1;

    make_stream(&whole);
    for (size_t cut = 0; cut <= whole.len; cut++) {
        buf_t in = {0};
        frame_t f;
        char types[4] = {0};
        int n = 0, rc;

        buf_append(&in, whole.data, cut);
        for (int round = 0; round < 2; round++) {
            while ((rc = frame_read(buf_head(&in), buf_avail(&in), 1 << 20, &f)) ==
                       FRAME_OK &&
                   f.body) {
                if (n < 3)
                    types[n] = (char)f.type;
                n++;
                buf_consume(&in, f.total);
            }
            if (rc < 0)
                ok = 0;
            if (round == 0)
                buf_append(&in, whole.data + cut, whole.len - cut);
        }
        if (n != 3 || strcmp(types, "QSd") != 0 || buf_avail(&in) != 0)
            ok = 0;
        buf_free(&in);
    }
    EXPECT(ok);
    buf_free(&whole);
}

static void test_lengths(void)
{
    frame_t f;
    uint8_t neg[5] = {'Q', 0xff, 0xff, 0xff, 0xf0};
    uint8_t small[5] = {'Q', 0, 0, 0, 3};
    uint8_t huge[5] = {'Q', 0x10, 0, 0, 0};
    uint8_t exact[9] = {'Q', 0, 0, 0, 8, 'a', 'b', 'c', 0};

    EXPECT(frame_read(neg, 5, 1 << 20, &f) == FRAME_EBADLEN);
    EXPECT(frame_read(small, 5, 1 << 20, &f) == FRAME_EBADLEN);
    EXPECT(frame_read(huge, 5, 1 << 20, &f) == FRAME_ETOOBIG);
    EXPECT(frame_read(huge, 4, 1 << 20, &f) == FRAME_NEED_MORE);
    EXPECT(frame_read(exact, 8, 1 << 20, &f) == FRAME_OK && f.body == NULL);
    EXPECT(frame_read(exact, 9, 1 << 20, &f) == FRAME_OK && f.body == exact + 5 &&
          f.body_len == 4 && f.total == 9);
    EXPECT(frame_read(exact, 9, 8, &f) == FRAME_OK);
    EXPECT(frame_read(exact, 9, 7, &f) == FRAME_ETOOBIG);
}

static void test_startup(void)
{
    buf_t b = {0};
    frame_t f;
    frame_startup_t st;
    uint8_t bad_len[8] = {0, 0, 0, 4, 0, 3, 0, 0};
    uint8_t too_big[8] = {0, 0x10, 0, 0, 0, 3, 0, 0};

    buf_put_u32(&b, 0);
    buf_put_u32(&b, FRAME_PROTO_3);
    buf_put_str(&b, "user");
    buf_put_str(&b, "etl");
    buf_put_str(&b, "options");
    buf_put_str(&b, "-c search_path=etl");
    buf_put_u8(&b, 0);
    buf_set_u32(b.data, (uint32_t)b.len);
    for (size_t n = 0; n < b.len; n++)
        EXPECT(frame_read_startup(b.data, n, &f) == FRAME_NEED_MORE);
    EXPECT(frame_read_startup(b.data, b.len, &f) == FRAME_OK);
    EXPECT(frame_startup_code(&f) == FRAME_PROTO_3);
    EXPECT(frame_parse_startup(&f, &st) == FRAME_OK && st.nparams == 2);
    EXPECT(strcmp(frame_startup_get(&st, "user"), "etl") == 0);
    EXPECT(frame_startup_get(&st, "database") == NULL);
    /* A missing final terminator is malformed. */
    f.body_len--;
    EXPECT(frame_parse_startup(&f, &st) == FRAME_EMALFORMED);
    EXPECT(frame_read_startup(bad_len, 8, &f) == FRAME_EBADLEN);
    EXPECT(frame_read_startup(too_big, 8, &f) == FRAME_ETOOBIG);
    buf_free(&b);
}

static void test_error_roundtrip(void)
{
    buf_t b = {0};
    frame_t f;
    frame_error_t e;

    EXPECT(frame_put_error(&b, "ERROR", "40001", "could not serialize", "detail x") == 0);
    EXPECT(frame_read(b.data, b.len, 1 << 20, &f) == FRAME_OK && f.type == 'E');
    EXPECT(frame_parse_error(&f, &e) == FRAME_OK);
    EXPECT(strcmp(e.sqlstate, "40001") == 0 && strcmp(e.message, "could not serialize") == 0);
    EXPECT(strcmp(e.detail, "detail x") == 0 && strcmp(e.severity, "ERROR") == 0);
    /* Cut inside a field: malformed, never a read past the end. */
    f.body_len = 12;
    EXPECT(frame_parse_error(&f, &e) == FRAME_EMALFORMED);
    buf_free(&b);
}

static void test_cursor_bounds(void)
{
    uint8_t b[6] = {'a', 'b', 0, 1, 2, 3};
    frame_cur_t c;

    frame_cur_init(&c, b, sizeof(b));
    EXPECT(strcmp(frame_get_str(&c), "ab") == 0);
    EXPECT(frame_get_u16(&c) == 0x0102 && !c.err);
    EXPECT(frame_get_u32(&c) == 0 && c.err);
    frame_cur_init(&c, b + 3, 3);
    EXPECT(frame_get_str(&c) == NULL && c.err);
}

static void test_builders(void)
{
    buf_t b = {0};
    frame_t f;

    frame_put_ready(&b, 'T');
    EXPECT(b.len == 6 && frame_read(b.data, b.len, 100, &f) == FRAME_OK &&
          f.type == 'Z' && f.body[0] == 'T');
    buf_reset(&b);
    frame_put_cancel(&b, 7, 9);
    EXPECT(b.len == 16 && buf_get_u32(b.data + 4) == FRAME_CODE_CANCEL &&
          buf_get_u32(b.data + 8) == 7 && buf_get_u32(b.data + 12) == 9);
    buf_free(&b);
}

int main(void)
{
    test_split_every_byte();
    test_lengths();
    test_startup();
    test_error_roundtrip();
    test_cursor_bounds();
    test_builders();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
