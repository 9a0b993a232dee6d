/*
 * Lesson 02: the stuck read.
 *
 * Lesson 01's server closes every connection it is done with. But it is only
 * "done" when read() returns, and a blocking read() with no deadline waits
 * for as long as the client says nothing. A client that connects and goes
 * quiet keeps its thread asleep in read() and its socket ESTABLISHED until
 * it chooses to leave. A client whose host lost power or network never
 * leaves: no FIN and no RST will ever arrive, so read() never returns.
 * `ss` shows a healthy-looking ESTAB line, and each such client costs the
 * server a thread and a file descriptor, until it can start no more.
 *
 * THE BUG: main() parses --idle-timeout MS into opts.idle_timeout_ms, but
 * nothing uses it. The read() in echo_until_done() has no deadline at all.
 *
 * TODO(student): before the loop in echo_until_done(), give the socket a
 * read timeout of opts.idle_timeout_ms with setsockopt(SO_RCVTIMEO), which
 * takes a struct timeval (seconds and MICROseconds; see README.md). A read()
 * that waited that long returns -1 with errno EAGAIN or EWOULDBLOCK: that is
 * the timeout, so return "timeout" for it. The log then tells the three
 * endings apart: timeout, eof, reset (or error). Then run `make check`.
 */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <errno.h>
#include <unistd.h>

static struct options opts;  /* opts.idle_timeout_ms: --idle-timeout, 0 = none */

/* include outcomes */
/* Echo until the client is done; return the reason for the log. */
static const char *echo_until_done(int fd)
{
    char buf[4096];

    /* TODO(student): set SO_RCVTIMEO from opts.idle_timeout_ms here. */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);  /* BUG: may wait forever */
        if (n == 0)
            return "eof";                       /* the client sent FIN */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* TODO(student): EAGAIN / EWOULDBLOCK here means "timed out". */
            return reason_for_errno(errno);     /* "reset" (RST) or "error" */
        }
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
