/* log.c - one line per connection event on stderr, and the clock. */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Format into a buffer, then one write(): threads never split a line. */
static void write_line(const char *line, int len)
{
    if (len < 0) return;
    if (len > 511) len = 511;
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)len);
    (void)ignored;
}

void log_close(const struct conn *c, const char *reason)
{
    char line[512];
    int n = snprintf(line, sizeof line - 1, "close %s reason=%s after=%lldms\n",
                     c->peer, reason, now_ms() - c->accepted_ms);
    write_line(line, n);
}

void log_event(const char *event, const struct conn *c, const char *detail)
{
    char line[512];
    int n = snprintf(line, sizeof line - 1, "%s %s %s\n", event, c->peer, detail);
    write_line(line, n);
}
