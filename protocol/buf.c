/*
 * Growable byte buffers. Callers own the buf_t; this file owns its storage
 * policy (doubling growth, compaction when drained).
 */
#include "protocol/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void buf_free(buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void buf_reset(buf_t *b)
{
    b->off = 0;
    b->len = 0;
}

void buf_compact(buf_t *b)
{
    if (b->off == 0)
        return;
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

int buf_reserve(buf_t *b, size_t n)
{
    size_t cap;
    uint8_t *p;

    if (b->cap - b->len >= n)
        return 0;
    if (b->off > 0 && b->cap - buf_avail(b) >= n && b->off >= b->cap / 2) {
        buf_compact(b);
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_put_u8(buf_t *b, uint8_t v)
{
    return buf_append(b, &v, 1);
}

int buf_put_u16(buf_t *b, uint16_t v)
{
    uint8_t p[2] = {(uint8_t)(v >> 8), (uint8_t)v};

    return buf_append(b, p, 2);
}

int buf_put_u32(buf_t *b, uint32_t v)
{
    uint8_t p[4];

    buf_set_u32(p, v);
    return buf_append(b, p, 4);
}

int buf_put_str(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s) + 1);
}

void buf_consume(buf_t *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        buf_reset(b);
}

uint8_t *buf_steal(buf_t *b, size_t *len)
{
    uint8_t *p;

    buf_compact(b);
    p = b->data;
    *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}
