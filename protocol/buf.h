/*
 * Growable byte buffers with a read offset: the unit every layer hands bytes
 * around in. Pure memory; no I/O.
 */
#ifndef PGSLUICE_BUF_H
#define PGSLUICE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *data;
    size_t off; /* first unread byte */
    size_t len; /* end of written bytes */
    size_t cap;
} buf_t;

/* Bytes written and not yet consumed. */
static inline size_t buf_avail(const buf_t *b)
{
    return b->len - b->off;
}

static inline const uint8_t *buf_head(const buf_t *b)
{
    return b->data + b->off;
}

void buf_free(buf_t *b);
void buf_reset(buf_t *b);
/* Ensures room for n more bytes; returns 0 or -ENOMEM. */
int buf_reserve(buf_t *b, size_t n);
int buf_append(buf_t *b, const void *p, size_t n);
int buf_put_u8(buf_t *b, uint8_t v);
int buf_put_u16(buf_t *b, uint16_t v);
int buf_put_u32(buf_t *b, uint32_t v);
int buf_put_str(buf_t *b, const char *s); /* with its NUL */
/* Marks n bytes consumed; compacts when everything is consumed. */
void buf_consume(buf_t *b, size_t n);
/* Moves the unread bytes to the front (before reading into the tail). */
void buf_compact(buf_t *b);
/* Hands the storage to the caller and leaves b empty. */
uint8_t *buf_steal(buf_t *b, size_t *len);

static inline uint32_t buf_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint16_t buf_get_u16(const uint8_t *p)
{
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

static inline void buf_set_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
