/*
 * iobuf.h - byte buffers that cost nothing while empty (lessons 09-11).
 *
 * An event loop keeps, per connection, the bytes read but not yet framed
 * into lines (input) and the bytes not yet accepted by the kernel (output).
 * Most connections are idle most of the time, so a buffer is a pointer that
 * stays NULL until bytes arrive, and goes back to NULL (memory freed) as soon
 * as it is empty again. An idle connection holds no buffer memory at all.
 *
 *     struct iobuf *in = NULL;
 *     size_t room;
 *     char *p = iobuf_space(&in, max_line + 1, &room);   // NULL: full
 *     n = read(fd, p, room); iobuf_added(in, n);
 *     while ((len = iobuf_line_length(in)) > 0) { ...; iobuf_consume(&in, len); }
 */
#ifndef IOBUF_H
#define IOBUF_H

#include <stddef.h>

struct iobuf {
    size_t start;  /* offset of the first byte held */
    size_t len;    /* bytes held, from data + start */
    size_t cap;    /* bytes allocated for data */
    char data[];
};

/* Bytes held (0 for a NULL buffer). */
size_t iobuf_len(const struct iobuf *b);

/* The first byte held ("" for a NULL buffer). */
const char *iobuf_data(const struct iobuf *b);

/* Where the next read() should put bytes, allocating or growing *bp, so that
 * it never holds more than `limit` bytes; *room says how many fit. NULL when
 * it already holds `limit` bytes, or memory ran out (errno ENOMEM). */
char *iobuf_space(struct iobuf **bp, size_t limit, size_t *room);

/* Count n bytes, just read into iobuf_space(), as held. */
void iobuf_added(struct iobuf *b, size_t n);

/* Copy n bytes to the end, allocating or growing *bp. 0, or -1 (ENOMEM). */
int iobuf_append(struct iobuf **bp, const void *p, size_t n);

/* Drop the first n bytes; when none are left, free the buffer (*bp = NULL). */
void iobuf_consume(struct iobuf **bp, size_t n);

/* Free the buffer, whatever it holds (*bp = NULL). */
void iobuf_free(struct iobuf **bp);

/* Length of the first whole line, '\n' included; 0 while none is complete.
 * Any other byte, NUL and '\r' included, is data. */
size_t iobuf_line_length(const struct iobuf *b);

#endif
