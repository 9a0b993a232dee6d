/*
 * heap.h - a binary min-heap of timers, for the reactor (lessons 10 and 11).
 *
 * Each connection embeds one struct timer holding its nearest deadline. The
 * heap keeps pointers to those timers, smallest `when` on top, and writes
 * each timer's position back into it, so re-arming or cancelling a timer is
 * O(log n) without a search. The loop asks "when is the next deadline?" in
 * O(1) (redis ae.c scans every timer instead; fine for a few, not for 10,000).
 */
#ifndef HEAP_H
#define HEAP_H

#include <stddef.h>

#define TIMER_OFF ((size_t)-1)

struct timer {
    long long when;  /* now_ms() time it fires */
    size_t index;    /* its slot in the heap, or TIMER_OFF when not armed */
};

struct timer_heap {
    struct timer **items;
    size_t len, cap;
};

/* A timer that is not armed. */
void timer_init(struct timer *t);

/* Arm t to fire at `when`, or move it there if already armed. O(log n).
 * 0 on success, -1 if memory ran out (t is then not armed). */
int timer_arm(struct timer_heap *h, struct timer *t, long long when);

/* Disarm t if armed. O(log n). */
void timer_cancel(struct timer_heap *h, struct timer *t);

/* The timer that fires first, or NULL when none is armed. O(1). */
struct timer *timer_first(const struct timer_heap *h);

/* Free the heap's array (the timers belong to their owners). */
void timer_heap_free(struct timer_heap *h);

#endif
