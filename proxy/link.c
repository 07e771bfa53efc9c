/*
 * Socket plumbing under sessions: libuv reads and writes, TLS filtering,
 * and byte accounting. Owners see only plaintext and callbacks.
 */
#include "proxy/link.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

typedef struct write_req {
    uv_write_t req;
    uint8_t *data;
    size_t len;
} write_req_t;

#define LINK_READ_CHUNK 65536

static void alloc_into(link_t *l, uv_buf_t *b);

int link_init(link_t *l, uv_loop_t *loop, const link_ops_t *ops, void *owner,
              size_t high_water)
{
    memset(l, 0, sizeof(*l));
    l->ops = ops;
    l->owner = owner;
    l->high_water = high_water;
    l->tcp.data = l;
    if (uv_tcp_init(loop, &l->tcp) < 0)
        return -1;
    l->open = 1;
    uv_tcp_nodelay(&l->tcp, 1);
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    alloc_into(h->data, b);
}

static void alloc_into(link_t *l, uv_buf_t *b)
{
    buf_t *dst = &l->in;
    static uint8_t tls_scratch[LINK_READ_CHUNK];

    /* TLS ciphertext lands in a scratch area and is fed to OpenSSL at once;
     * plaintext lands directly at the tail of the input buffer. */
    if (l->tls) {
        b->base = (char *)tls_scratch;
        b->len = sizeof(tls_scratch);
        return;
    }
    if (buf_reserve(dst, LINK_READ_CHUNK) < 0) {
        b->base = NULL;
        b->len = 0;
        return;
    }
    b->base = (char *)dst->data + dst->len;
    b->len = dst->cap - dst->len;
}

static int pump_tls_out(link_t *l);

static int tls_input(link_t *l, const char *p, size_t n)
{
    int rc;

    if (tls_feed(l->tls, p, n) < 0)
        return -1;
    if (l->tls_handshaking) {
        rc = tls_handshake(l->tls);
        if (pump_tls_out(l) < 0 || rc < 0)
            return -1;
        if (rc == 0)
            return 0;
        l->tls_handshaking = 0;
    }
    rc = tls_read(l->tls, &l->in);
    if (pump_tls_out(l) < 0)
        return -1;
    if (rc < 0)
        return -1;
    return tls_closed(l->tls) ? 2 : 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    link_t *l = s->data;
    int rc = 1;

    if (l->closing)
        return;
    if (n < 0) {
        l->ops->on_eof(l, n == UV_EOF ? 0 : (int)n);
        return;
    }
    if (n == 0)
        return;
    l->bytes_in += (uint64_t)n;
    if (l->tls)
        rc = tls_input(l, b->base, (size_t)n);
    else
        l->in.len += (size_t)n;
    if (rc < 0) {
        l->ops->on_eof(l, -EPROTO);
        return;
    }
    l->ops->on_data(l);
    /* close_notify after data: the data first, then the end. */
    if (rc == 2 && !l->closing)
        l->ops->on_eof(l, 0);
}

int link_start(link_t *l)
{
    l->want_read = 1;
    if (l->reading || l->closing)
        return 0;
    if (uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read) < 0)
        return -1;
    l->reading = 1;
    return 0;
}

void link_pause(link_t *l, int paused)
{
    if (l->closing)
        return;
    if (paused && l->reading) {
        uv_read_stop((uv_stream_t *)&l->tcp);
        l->reading = 0;
    } else if (!paused && !l->reading && l->want_read) {
        if (uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read) == 0)
            l->reading = 1;
    }
}

int link_start_tls(link_t *l, tls_t *t)
{
    int rc;

    l->tls = t;
    l->tls_handshaking = 1;
    rc = tls_handshake(t);
    if (rc < 0)
        return -1;
    if (rc == 1)
        l->tls_handshaking = 0;
    return pump_tls_out(l);
}

int link_tls_ready(const link_t *l)
{
    return l->tls && !l->tls_handshaking;
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    link_t *l = req->handle->data;
    size_t before = l->queued;

    l->queued -= w->len;
    free(w->data);
    free(w);
    if (l->closing)
        return;
    if (status < 0) {
        /* The peer is gone (reset): reads may be paused, so say so here. */
        if (status != UV_ECANCELED)
            l->ops->on_eof(l, status);
        return;
    }
    if (before > l->high_water / 2 && l->queued <= l->high_water / 2 &&
        l->ops->on_drain)
        l->ops->on_drain(l);
}

/* Queues bytes libuv could not write at once; copies them. */
static int queue_write(link_t *l, const uint8_t *p, size_t len)
{
    write_req_t *w = malloc(sizeof(*w));
    uv_buf_t b;

    if (!w || !(w->data = malloc(len))) {
        free(w);
        return -ENOMEM;
    }
    memcpy(w->data, p, len);
    w->len = len;
    b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, on_write) < 0) {
        free(w->data);
        free(w);
        return -EPIPE;
    }
    l->queued += len;
    return 0;
}

/*
 * Sends what b holds and empties it, keeping its memory for next time.
 * A direct write first: when the socket takes everything, as it usually
 * does, there is no request to allocate and no poll state to change.
 */
static int send_buf(link_t *l, buf_t *b)
{
    uv_buf_t ub = uv_buf_init((char *)buf_head(b), (unsigned)buf_avail(b));
    int n, rc = 0;

    if (buf_avail(b) == 0)
        return 0;
    l->bytes_out += buf_avail(b);
    n = uv_try_write((uv_stream_t *)&l->tcp, &ub, 1);
    /* On any failure the bytes go the queued way: libuv then reports the
     * error through the write callback, which ends the session. */
    if (n < 0)
        n = 0;
    if ((size_t)n < buf_avail(b))
        rc = queue_write(l, buf_head(b) + n, buf_avail(b) - (size_t)n);
    buf_reset(b);
    return rc;
}

static int pump_tls_out(link_t *l)
{
    if (tls_take_output(l->tls, &l->cipher) < 0)
        return -1;
    return send_buf(l, &l->cipher);
}

int link_send(link_t *l, const void *p, size_t n)
{
    if (l->closing)
        return -EPIPE;
    return buf_append(&l->out, p, n);
}

int link_flush(link_t *l)
{
    int rc;

    if (l->closing || buf_avail(&l->out) == 0)
        return 0;
    if (l->tls) {
        rc = tls_write(l->tls, buf_head(&l->out), buf_avail(&l->out));
        buf_reset(&l->out);
        return rc < 0 ? -EPROTO : pump_tls_out(l);
    }
    return send_buf(l, &l->out);
}

size_t link_backlog(const link_t *l)
{
    return l->queued + buf_avail(&l->out);
}

static void on_close(uv_handle_t *h)
{
    link_t *l = h->data;

    tls_free(l->tls);
    l->tls = NULL;
    buf_free(&l->in);
    buf_free(&l->out);
    buf_free(&l->cipher);
    l->open = 0;
    if (l->ops->on_closed)
        l->ops->on_closed(l);
}

void link_close(link_t *l)
{
    if (l->handle_closing || !l->open)
        return;
    l->closing = 1;
    l->handle_closing = 1;
    l->reading = 0;
    uv_close((uv_handle_t *)&l->tcp, on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    link_close(req->data);
}

void link_close_gently(link_t *l)
{
    if (l->closing || !l->open)
        return;
    link_flush(l);
    if (l->reading)
        uv_read_stop((uv_stream_t *)&l->tcp);
    l->reading = 0;
    l->closing = 1; /* no more sends or reads while the writes drain */
    l->shutdown.data = l;
    if (uv_shutdown(&l->shutdown, (uv_stream_t *)&l->tcp, on_shutdown) < 0)
        link_close(l);
}



int link_peer_gone(const link_t *l)
{
    uv_os_fd_t fd;
    char c;
    ssize_t n;

    if (l->closing || !l->open || l->reading || uv_fileno((uv_handle_t *)&l->tcp, &fd) < 0)
        return 0;
    /* Reads are paused: peek, so a peer that left is noticed anyway. */
    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}
