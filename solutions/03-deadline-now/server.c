/*
 * Lesson 03: a deadline of "now".
 *
 * Lesson 02 gave each read a timeout with SO_RCVTIMEO: a *duration* that the
 * kernel starts again at every read(). Go gives you a *deadline* instead:
 * conn.SetReadDeadline(t) means "a read still waiting at time t fails". A
 * deadline is a point in time, so one deadline can cover many reads (lesson
 * 04 gives a whole line one), and an event loop can sleep until the nearest
 * of many (lesson 09). This lesson builds that API in C, on poll():
 * read_by() below, and deadline_in(), which you write. From lesson 04 on
 * the same two functions live in lib/deadline.c.
 *
 * Solved: deadline_in(ms) gives now + ms (0 stays 0), and each read gets a fresh deadline from it.
 */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

static struct options opts;  /* opts.idle_timeout_ms: --idle-timeout, 0 = none */

/* include deadline_api */
/*
 * A deadline is a moment on the monotonic clock, in ms (now_ms()), or 0 for
 * "no deadline". now_ms() reads CLOCK_MONOTONIC, which only moves forward.
 * A deadline taken from the wall clock (gettimeofday(), CLOCK_REALTIME)
 * moves whenever NTP or an admin sets the clock: set it back an hour and
 * every read waits an hour longer; forward, and every read times out at once.
 */

/* include deadline_in */
/* The deadline `ms` from now, or 0 (= no deadline) when ms is 0. Note the
 * trap this avoids: 0 means "never", as for SO_RCVTIMEO and Go's zero
 * time.Time, not "already expired" as for Go's SetReadDeadline(time.Now()). */
static long long deadline_in(long ms)
{
    return ms > 0 ? now_ms() + ms : 0;
}
/* end deadline_in */

/* include read_by */
/* read() that gives up at `deadline` (0 = wait forever): >0 bytes read,
 * 0 at EOF, -1 on error with errno set; errno is EAGAIN once the deadline
 * has passed (like Go, even if data is waiting), as for SO_RCVTIMEO in
 * lesson 02. Not ETIMEDOUT: that one means the kernel gave up (lesson 06). */
static ssize_t read_by(int fd, void *buf, size_t len, long long deadline)
{
    for (;;) {
        int wait_ms = -1;                       /* no deadline: wait forever */
        if (deadline) {
            /* The time LEFT, computed again on every pass: after EINTR or
             * an early wakeup we wait deadline - now, never the full
             * timeout again (a steady rain of signals would otherwise
             * postpone the timeout forever). */
            long long left = deadline - now_ms();
            if (left <= 0) {
                errno = EAGAIN;
                return -1;
            }
            /* poll() takes MILLIseconds in an int; cap at ~11 days. */
            wait_ms = left > 1000000000 ? 1000000000 : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, wait_ms);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready <= 0)
            continue;               /* EINTR or woke at the deadline: recompute what is left */
        ssize_t n = read(fd, buf, len);   /* readable (data, FIN or RST): will not block */
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}
/* end read_by */
/* end deadline_api */

/* include outcomes */
/* Echo until the client is done; return the reason for the log. */
static const char *echo_until_done(int fd)
{
    char buf[4096];

    for (;;) {
        /* now + d, fresh for each read: SetReadDeadline(time.Now().Add(d)) */
        long long deadline = deadline_in(opts.idle_timeout_ms);
        ssize_t n = read_by(fd, buf, sizeof buf, deadline);
        if (n == 0)
            return "eof";                       /* the client sent FIN */
        if (n < 0)
            return errno == EAGAIN ? "timeout" : reason_for_errno(errno);
        if (write_all(fd, buf, (size_t)n) < 0)
            return reason_for_errno(errno);
    }
}
/* end outcomes */

/* include handler */
static void handle_connection(struct conn *c)
{
    const char *reason = echo_until_done(c->fd);
    close(c->fd);                       /* the one exit path: always close */
    log_close(c, reason);
}
/* end handler */

int main(int argc, char **argv)
{
    options_parse(argc, argv, OPT_IDLE_TIMEOUT, &opts);
    int listen_fd = listen_and_announce(&opts);
    serve_thread_per_connection(listen_fd, handle_connection);
    return 0;
}
