/*
 * fuzz_loop.c - a libFuzzer target for the reactor's data structures:
 * line framing over lib/iobuf.c, and the timer heap in lib/heap.c.
 *
 *   make fuzz                   (clang -fsanitize=fuzzer,address,undefined)
 *
 * The first input byte picks the structure. Framing: bytes arrive in chunks
 * of fuzzer-chosen sizes, are read into an input buffer bounded to
 * max_line + 1 (as the servers do), whole lines move to an output buffer,
 * which drains in chunks of other sizes; the bytes drained must equal the
 * input's whole lines, in order, up to the first line longer than max_line.
 * Heap: arm, re-arm and cancel timers at fuzzer-chosen times; after every
 * step the first timer must be the earliest armed one, and every index
 * stored in a timer must point back at it.
 */
#define _POSIX_C_SOURCE 200809L
#include "heap.h"
#include "iobuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Next fuzzer byte, or 0 when the input is used up. */
static uint8_t take(const uint8_t **p, const uint8_t *end)
{
    return *p < end ? *(*p)++ : 0;
}

/* What framing must produce: the whole lines of `in`, stopping before the
 * first line longer than max_line (or before a final, unfinished one). */
static size_t expected_echo(const uint8_t *in, size_t len, size_t max_line, int *too_long)
{
    size_t done = 0, start = 0;
    *too_long = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n') {
            if (i - start > max_line) { *too_long = 1; return done; }
            done = i + 1;
            start = i + 1;
        }
    }
    if (len - start > max_line)
        *too_long = 1;
    return done;
}

static void fuzz_framing(const uint8_t *p, const uint8_t *end)
{
    size_t max_line = 1 + take(&p, end) % 64;
    const uint8_t *stream = p;               /* the chunk sizes are data too: keep it simple */
    size_t stream_len = (size_t)(end - p);
    struct iobuf *in = NULL, *out = NULL;
    uint8_t *echoed = malloc(stream_len + 1);
    size_t n_echoed = 0, fed = 0;
    int too_long = 0;
    if (!echoed) return;

    unsigned step = 7;
    while (fed < stream_len && !too_long) {
        size_t room;
        char *space = iobuf_space(&in, max_line + 1, &room);
        if (!space) {                         /* full: the line must be too long */
            if (iobuf_len(in) <= max_line) abort();
            too_long = 1;
            break;
        }
        size_t chunk = 1 + (stream[fed] + step++) % 97;
        if (chunk > room) chunk = room;
        if (chunk > stream_len - fed) chunk = stream_len - fed;
        memcpy(space, stream + fed, chunk);
        iobuf_added(in, chunk);
        fed += chunk;
        size_t len;
        while ((len = iobuf_line_length(in)) > 0) {
            if (len - 1 > max_line) abort();  /* the limit makes this impossible */
            if (iobuf_append(&out, iobuf_data(in), len) < 0) abort();
            iobuf_consume(&in, len);
        }
        if (iobuf_len(in) > max_line)
            too_long = 1;
        size_t drain = (chunk * 3 + step) % 50;  /* a slow reader takes some */
        if (drain > iobuf_len(out)) drain = iobuf_len(out);
        if (drain > 0) {
            memcpy(echoed + n_echoed, iobuf_data(out), drain);
            n_echoed += drain;
            iobuf_consume(&out, drain);
        }
    }
    if (iobuf_len(out)) {
        memcpy(echoed + n_echoed, iobuf_data(out), iobuf_len(out));
        n_echoed += iobuf_len(out);
    }
    int want_too_long;
    size_t want = expected_echo(stream, fed, max_line, &want_too_long);
    if (n_echoed != want || memcmp(echoed, stream, want) != 0 || too_long != want_too_long)
        abort();
    if (iobuf_len(in) == 0 && in) abort();    /* empty buffers must be freed */
    iobuf_free(&in);
    iobuf_free(&out);
    free(echoed);
}

enum { TIMERS = 32 };

static void check_heap(const struct timer_heap *h, struct timer *t)
{
    const struct timer *min = NULL;
    size_t armed = 0;
    for (int i = 0; i < TIMERS; i++) {
        if (t[i].index == TIMER_OFF) continue;
        armed++;
        if (t[i].index >= h->len || h->items[t[i].index] != &t[i]) abort();
        if (!min || t[i].when < min->when) min = &t[i];
    }
    if (armed != h->len) abort();
    struct timer *first = timer_first(h);
    if ((first == NULL) != (min == NULL)) abort();
    if (first && first->when != min->when) abort();
}

static void fuzz_heap(const uint8_t *p, const uint8_t *end)
{
    struct timer t[TIMERS];
    struct timer_heap h = {0};
    for (int i = 0; i < TIMERS; i++) timer_init(&t[i]);
    while (p < end) {
        uint8_t op = take(&p, end), which = op % TIMERS;
        long long when = (long long)take(&p, end) << 8 | take(&p, end);
        if (op & 0x80)
            timer_cancel(&h, &t[which]);
        else if (timer_arm(&h, &t[which], when) < 0)
            abort();
        check_heap(&h, t);
        if ((op & 0x60) == 0x60 && timer_first(&h))   /* sometimes: fire the first */
            timer_cancel(&h, timer_first(&h));
        check_heap(&h, t);
    }
    timer_heap_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1)
        fuzz_heap(data + 1, data + size);
    else
        fuzz_framing(data + 1, data + size);
    return 0;
}
