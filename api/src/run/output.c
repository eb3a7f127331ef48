#include "output.h"

#include <stdlib.h>
#include <string.h>

#include "processkit.h"

void pk__capture_init(pk_capture *c, uint64_t limit, int policy)
{
    memset(c, 0, sizeof *c);
    c->limit = limit;
    c->policy = policy;
}

static int grow_to(pk_capture *c, size_t want)
{
    if (want <= c->alloc)
        return 0;
    size_t alloc = c->alloc ? c->alloc : 64 * 1024;
    while (alloc < want)
        alloc *= 2;
    if (c->limit && alloc > c->limit)
        alloc = (size_t)c->limit;
    uint8_t *grown = realloc(c->buf, alloc);
    if (!grown)
        return -1;
    c->buf = grown;
    c->alloc = alloc;
    return 0;
}

uint8_t *pk__capture_reserve(pk_capture *c, size_t min, size_t *avail)
{
    if (c->policy == PK_OVERFLOW_KEEP_TAIL && c->limit)
        return NULL; /* the ring takes bytes through append */
    size_t room = min;
    if (c->limit) {
        if (c->len >= c->limit)
            return NULL;
        if (c->limit - c->len < room)
            room = (size_t)(c->limit - c->len);
    }
    if (grow_to(c, c->len + room) != 0)
        return NULL;
    *avail = c->alloc - c->len;
    if (c->limit && *avail > c->limit - c->len)
        *avail = (size_t)(c->limit - c->len);
    return c->buf + c->len;
}

void pk__capture_commit(pk_capture *c, size_t n)
{
    c->len += n;
    c->total += n;
}

int pk__capture_append(pk_capture *c, const uint8_t *data, size_t n)
{
    c->total += n;
    if (!c->limit || c->len + n <= c->limit) {
        if (c->policy != PK_OVERFLOW_KEEP_TAIL || !c->limit || c->head == 0) {
            if (grow_to(c, c->len + n) != 0)
                return -1;
            memcpy(c->buf + c->len, data, n);
            c->len += n;
            return 0;
        }
    }
    c->truncated = 1;
    if (c->policy != PK_OVERFLOW_KEEP_TAIL) {
        size_t keep = c->len < c->limit ? (size_t)(c->limit - c->len) : 0;
        if (keep > n)
            keep = n;
        if (keep) {
            if (grow_to(c, c->len + keep) != 0)
                return -1;
            memcpy(c->buf + c->len, data, keep);
            c->len += keep;
        }
        return 0;
    }
    /* KEEP_TAIL: a ring of exactly limit bytes, the oldest at head. */
    size_t limit = (size_t)c->limit;
    if (grow_to(c, limit) != 0)
        return -1;
    if (n >= limit) {
        memcpy(c->buf, data + (n - limit), limit);
        c->len = limit;
        c->head = 0;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (c->len < limit) {
            c->buf[(c->head + c->len) % limit] = data[i];
            c->len++;
        } else {
            c->buf[c->head] = data[i];
            c->head = (c->head + 1) % limit;
        }
    }
    return 0;
}

uint8_t *pk__capture_take(pk_capture *c, size_t *len)
{
    if (c->head) {
        /* Rotate the ring so the oldest byte comes first. */
        uint8_t *ordered = malloc(c->len ? c->len : 1);
        if (ordered) {
            size_t first = c->len - c->head;
            memcpy(ordered, c->buf + c->head, first);
            memcpy(ordered + first, c->buf, c->head);
            free(c->buf);
            c->buf = ordered;
            c->head = 0;
        }
    }
    uint8_t *out = c->buf;
    *len = c->len;
    c->buf = NULL;
    c->len = c->alloc = 0;
    return out;
}

void pk__capture_free(pk_capture *c)
{
    free(c->buf);
    c->buf = NULL;
    c->len = c->alloc = 0;
}

static int lines_append(pk_lines *l, const uint8_t *data, size_t n)
{
    if (l->len + n > l->alloc) {
        size_t alloc = l->alloc ? l->alloc : 256;
        while (alloc < l->len + n)
            alloc *= 2;
        char *grown = realloc(l->partial, alloc);
        if (!grown)
            return -1;
        l->partial = grown;
        l->alloc = alloc;
    }
    memcpy(l->partial + l->len, data, n);
    l->len += n;
    return 0;
}

void pk__lines_feed(pk_lines *l, const uint8_t *data, size_t n, int stream, pk_emit_fn emit, void *ctx)
{
    while (n > 0) {
        const uint8_t *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (l->len + take > PK_MAX_LINE) {
            /* An endless line is delivered in pieces, keeping memory bounded. */
            size_t room = PK_MAX_LINE - l->len;
            if (lines_append(l, data, room) == 0)
                emit(ctx, stream, l->partial, l->len);
            l->len = 0;
            data += room;
            n -= room;
            continue;
        }
        if (!nl) {
            (void)lines_append(l, data, n);
            return;
        }
        if (l->len == 0) {
            emit(ctx, stream, (const char *)data, take); /* whole line in one chunk: no copy */
        } else {
            if (lines_append(l, data, take) == 0)
                emit(ctx, stream, l->partial, l->len);
            l->len = 0;
        }
        data += take + 1;
        n -= take + 1;
    }
}

void pk__lines_flush(pk_lines *l, int stream, pk_emit_fn emit, void *ctx)
{
    if (l->len)
        emit(ctx, stream, l->partial, l->len);
    l->len = 0;
}

void pk__lines_free(pk_lines *l)
{
    free(l->partial);
    l->partial = NULL;
    l->len = l->alloc = 0;
}
