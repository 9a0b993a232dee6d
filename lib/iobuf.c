/* iobuf.c - byte buffers that cost nothing while empty (see iobuf.h). */
#define _POSIX_C_SOURCE 200809L
#include "iobuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { IOBUF_FIRST = 4096 };  /* the first allocation, unless less is needed */

size_t iobuf_len(const struct iobuf *b)
{
    return b ? b->len : 0;
}

const char *iobuf_data(const struct iobuf *b)
{
    return b ? b->data + b->start : "";
}

/* Make room for `more` bytes after the held ones: slide them to the front,
 * or grow to at least double, but never past max_cap (which must be at least
 * len + more). 0, or -1 with errno ENOMEM. */
static int reserve(struct iobuf **bp, size_t more, size_t max_cap)
{
    struct iobuf *b = *bp;
    size_t len = iobuf_len(b);
    if (b && b->start + len + more <= b->cap)
        return 0;
    if (b && b->start > 0) {              /* slide the held bytes to the front */
        memmove(b->data, b->data + b->start, len);
        b->start = 0;
        if (len + more <= b->cap)
            return 0;
    }
    size_t cap = b ? b->cap * 2 : IOBUF_FIRST;
    if (cap < len + more)
        cap = len + more;
    if (cap > max_cap)
        cap = max_cap;
    struct iobuf *grown = realloc(b, sizeof *grown + cap);
    if (!grown) {
        errno = ENOMEM;
        return -1;
    }
    if (!b)
        grown->start = grown->len = 0;
    grown->cap = cap;
    *bp = grown;
    return 0;
}

char *iobuf_space(struct iobuf **bp, size_t limit, size_t *room)
{
    size_t len = iobuf_len(*bp);
    *room = 0;
    if (len >= limit)
        return NULL;
    size_t want = *bp ? (*bp)->cap - len : IOBUF_FIRST;  /* what is allocated */
    if (want == 0)
        want = (*bp)->cap;                /* full: grow (double) */
    if (want > limit - len)
        want = limit - len;
    if (reserve(bp, want, limit) < 0)
        return NULL;
    struct iobuf *b = *bp;
    *room = want;
    return b->data + b->start + b->len;
}

void iobuf_added(struct iobuf *b, size_t n)
{
    b->len += n;
}

int iobuf_append(struct iobuf **bp, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (reserve(bp, n, (size_t)-1) < 0)
        return -1;
    struct iobuf *b = *bp;
    memcpy(b->data + b->start + b->len, p, n);
    b->len += n;
    return 0;
}

void iobuf_consume(struct iobuf **bp, size_t n)
{
    struct iobuf *b = *bp;
    if (!b)
        return;
    if (n >= b->len) {
        iobuf_free(bp);                   /* empty: give the memory back */
        return;
    }
    b->start += n;
    b->len -= n;
}

void iobuf_free(struct iobuf **bp)
{
    free(*bp);
    *bp = NULL;
}

size_t iobuf_line_length(const struct iobuf *b)
{
    if (!b || b->len == 0)
        return 0;
    const char *first = b->data + b->start;
    const char *nl = memchr(first, '\n', b->len);
    return nl ? (size_t)(nl - first) + 1 : 0;
}
