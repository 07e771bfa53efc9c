/*
 * Framing and field access for protocol 3 messages. Every reader checks a
 * declared length against limits before trusting it; builders write whole
 * messages into a buf_t.
 */
#include "protocol/frame.h"

#include <errno.h>
#include <string.h>

int frame_read(const uint8_t *p, size_t n, size_t max, frame_t *f)
{
    uint32_t len;

    if (n < 5)
        return FRAME_NEED_MORE;
    len = buf_get_u32(p + 1);
    if (len < 4 || len > 0x7fffffffu)
        return FRAME_EBADLEN;
    if (len > max)
        return FRAME_ETOOBIG;
    f->type = p[0];
    f->len = len;
    f->total = (size_t)len + 1;
    f->body_len = len - 4;
    f->body = n >= f->total ? p + 5 : NULL;
    return FRAME_OK;
}

int frame_read_startup(const uint8_t *p, size_t n, frame_t *f)
{
    uint32_t len;

    if (n < 4)
        return FRAME_NEED_MORE;
    len = buf_get_u32(p);
    if (len < 8)
        return FRAME_EBADLEN;
    if (len > FRAME_STARTUP_MAX)
        return FRAME_ETOOBIG;
    if (n < len)
        return FRAME_NEED_MORE;
    f->type = 0;
    f->len = len;
    f->total = len;
    f->body = p + 4;
    f->body_len = len - 4;
    return FRAME_OK;
}

uint32_t frame_startup_code(const frame_t *f)
{
    return buf_get_u32(f->body);
}

void frame_cur_init(frame_cur_t *c, const uint8_t *p, size_t n)
{
    c->p = p;
    c->left = n;
    c->err = 0;
}

const char *frame_get_str(frame_cur_t *c)
{
    const uint8_t *end;
    const char *s;

    end = c->left ? memchr(c->p, 0, c->left) : NULL;
    if (!end) {
        c->err = 1;
        return NULL;
    }
    s = (const char *)c->p;
    c->left -= (size_t)(end - c->p) + 1;
    c->p = end + 1;
    return s;
}

const uint8_t *frame_get_bytes(frame_cur_t *c, size_t n)
{
    const uint8_t *p;

    if (c->left < n) {
        c->err = 1;
        return NULL;
    }
    p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

uint32_t frame_get_u32(frame_cur_t *c)
{
    const uint8_t *p = frame_get_bytes(c, 4);

    return p ? buf_get_u32(p) : 0;
}

uint16_t frame_get_u16(frame_cur_t *c)
{
    const uint8_t *p = frame_get_bytes(c, 2);

    return p ? buf_get_u16(p) : 0;
}

uint8_t frame_get_u8(frame_cur_t *c)
{
    const uint8_t *p = frame_get_bytes(c, 1);

    return p ? p[0] : 0;
}

int frame_parse_startup(const frame_t *f, frame_startup_t *st)
{
    frame_cur_t c;
    const char *k, *v;

    memset(st, 0, sizeof(*st));
    frame_cur_init(&c, f->body, f->body_len);
    st->version = frame_get_u32(&c);
    for (;;) {
        k = frame_get_str(&c);
        if (!k)
            return FRAME_EMALFORMED;
        if (*k == '\0')
            break;
        v = frame_get_str(&c);
        if (!v || st->nparams == FRAME_MAX_PARAMS)
            return FRAME_EMALFORMED;
        st->keys[st->nparams] = k;
        st->values[st->nparams++] = v;
    }
    /* The terminator must be the last byte, as the server insists. */
    return c.left == 0 ? FRAME_OK : FRAME_EMALFORMED;
}

const char *frame_startup_get(const frame_startup_t *st, const char *key)
{
    for (int i = 0; i < st->nparams; i++)
        if (strcmp(st->keys[i], key) == 0)
            return st->values[i];
    return NULL;
}

int frame_parse_error(const frame_t *f, frame_error_t *e)
{
    frame_cur_t c;
    uint8_t code;
    const char *v;

    memset(e, 0, sizeof(*e));
    frame_cur_init(&c, f->body, f->body_len);
    while ((code = frame_get_u8(&c)) != 0) {
        v = frame_get_str(&c);
        if (!v)
            return FRAME_EMALFORMED;
        if (code == 'V' || (code == 'S' && !e->severity))
            e->severity = v;
        else if (code == 'C')
            e->sqlstate = v;
        else if (code == 'M')
            e->message = v;
        else if (code == 'D')
            e->detail = v;
    }
    return c.err ? FRAME_EMALFORMED : FRAME_OK;
}

size_t frame_begin(buf_t *out, uint8_t type)
{
    size_t start = out->len;

    if (buf_put_u8(out, type) < 0 || buf_put_u32(out, 0) < 0)
        return (size_t)-1;
    return start;
}

void frame_end(buf_t *out, size_t start)
{
    if (start == (size_t)-1)
        return;
    buf_set_u32(out->data + start + 1, (uint32_t)(out->len - start - 1));
}

int frame_put_error(buf_t *out, const char *severity, const char *sqlstate,
                    const char *message, const char *detail)
{
    size_t m = frame_begin(out, 'E');
    int rc = 0;

    rc |= buf_put_u8(out, 'S') | buf_put_str(out, severity);
    rc |= buf_put_u8(out, 'V') | buf_put_str(out, severity);
    rc |= buf_put_u8(out, 'C') | buf_put_str(out, sqlstate);
    rc |= buf_put_u8(out, 'M') | buf_put_str(out, message);
    if (detail)
        rc |= buf_put_u8(out, 'D') | buf_put_str(out, detail);
    rc |= buf_put_u8(out, 0);
    if (m == (size_t)-1 || rc)
        return -ENOMEM;
    frame_end(out, m);
    return 0;
}

int frame_put_ready(buf_t *out, char status)
{
    size_t m = frame_begin(out, 'Z');

    if (m == (size_t)-1 || buf_put_u8(out, (uint8_t)status) < 0)
        return -ENOMEM;
    frame_end(out, m);
    return 0;
}

int frame_put_backend_key(buf_t *out, uint32_t pid, uint32_t key)
{
    size_t m = frame_begin(out, 'K');

    if (m == (size_t)-1 || buf_put_u32(out, pid) < 0 || buf_put_u32(out, key) < 0)
        return -ENOMEM;
    frame_end(out, m);
    return 0;
}

int frame_put_cancel(buf_t *out, uint32_t pid, uint32_t key)
{
    int rc = buf_put_u32(out, 16);

    rc |= buf_put_u32(out, FRAME_CODE_CANCEL);
    rc |= buf_put_u32(out, pid);
    rc |= buf_put_u32(out, key);
    return rc ? -ENOMEM : 0;
}

int frame_put_ssl_request(buf_t *out)
{
    int rc = buf_put_u32(out, 8);

    rc |= buf_put_u32(out, FRAME_CODE_SSL);
    return rc ? -ENOMEM : 0;
}

int frame_put_query(buf_t *out, const char *sql)
{
    size_t m = frame_begin(out, 'Q');

    if (m == (size_t)-1 || buf_put_str(out, sql) < 0)
        return -ENOMEM;
    frame_end(out, m);
    return 0;
}

int frame_put_terminate(buf_t *out)
{
    size_t m = frame_begin(out, 'X');

    if (m == (size_t)-1)
        return -ENOMEM;
    frame_end(out, m);
    return 0;
}
