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
 * THE BUG: the mistake the source article warns about, in C. When
 * --idle-timeout is set, echo_until_done() sets each read's deadline to
 * now, the C form of conn.SetReadDeadline(time.Now()). By the time
 * read_by() looks, that moment has passed, so it fails with EAGAIN at
 * once, even when a line is already waiting. Every healthy client is cut
 * within a few milliseconds and the log says reason=timeout.
 *
 * TODO(student): write deadline_in(ms), the deadline ms from now (0 stays 0,
 * "no deadline"), and give each read a fresh one from opts.idle_timeout_ms
 * (--idle-timeout), set just before the read, so a client that keeps talking
 * is never cut. Both spots are marked below. Then run `make check`.
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

/* TODO(student): write deadline_in(long ms) here: the deadline ms from now,
 * or 0 (= no deadline) when ms is 0. Mind the trap: 0 must mean "never", as
 * for SO_RCVTIMEO and Go's zero time.Time, not "already expired" as Go's
 * SetReadDeadline(time.Now()) does. */

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
        /* BUG: meant as "start the idle timeout now", this sets a deadline
         * of now, which is over by the time read_by() checks it.
         * TODO(student): now + opts.idle_timeout_ms, fresh for each read,
         * from a deadline_in(ms) you write above read_by(). */
        long long deadline = opts.idle_timeout_ms > 0 ? now_ms() : 0;
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
