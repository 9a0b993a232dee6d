/* heap.c - a binary min-heap of timers (see heap.h). */
#define _POSIX_C_SOURCE 200809L
#include "heap.h"

#include <stdlib.h>

void timer_init(struct timer *t)
{
    t->when = 0;
    t->index = TIMER_OFF;
}

/* Put t in slot i and tell it where it lives. */
static void place(struct timer_heap *h, size_t i, struct timer *t)
{
    h->items[i] = t;
    t->index = i;
}

/* Move the timer at i up while it fires before its parent. */
static void sift_up(struct timer_heap *h, size_t i)
{
    struct timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->when <= t->when)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

/* Move the timer at i down while a child fires before it. */
static void sift_down(struct timer_heap *h, size_t i)
{
    struct timer *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->items[child + 1]->when < h->items[child]->when)
            child++;
        if (t->when <= h->items[child]->when)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

int timer_arm(struct timer_heap *h, struct timer *t, long long when)
{
    if (t->index != TIMER_OFF) {          /* already armed: move it */
        long long old = t->when;
        t->when = when;
        if (when < old)
            sift_up(h, t->index);
        else if (when > old)
            sift_down(h, t->index);
        return 0;
    }
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct timer **items = realloc(h->items, cap * sizeof *items);
        if (!items)
            return -1;
        h->items = items;
        h->cap = cap;
    }
    t->when = when;
    place(h, h->len++, t);
    sift_up(h, t->index);
    return 0;
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
    size_t i = t->index;
    if (i == TIMER_OFF)
        return;
    t->index = TIMER_OFF;
    struct timer *last = h->items[--h->len];
    if (i == h->len)
        return;                           /* it was the last slot */
    place(h, i, last);                    /* fill the hole with the last timer */
    sift_up(h, i);
    sift_down(h, last->index);
}

struct timer *timer_first(const struct timer_heap *h)
{
    return h->len ? h->items[0] : NULL;
}

void timer_heap_free(struct timer_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
