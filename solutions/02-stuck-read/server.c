/*
 * Lesson 02, solved: no read waits longer than --idle-timeout.
 *
 * set_read_timeout() puts SO_RCVTIMEO on the socket once. From then on a
 * read() that waits idle_timeout_ms without a byte gives up: -1 with errno
 * EAGAIN (or EWOULDBLOCK; the same value on Linux, not everywhere). The
 * kernel starts that clock again at every read() call, so it is an *idle*
 * timeout: a client that sends a line every 50 ms is never cut by a 300 ms
 * timeout, and a client silent for 300 ms is, whether it is alive and quiet
 * or its host is gone for good.
 *
 * echo_until_done() tells the three endings apart, because each means
 * something different when you read the log:
 *   timeout  the client said nothing for idle_timeout_ms: we hung up
 *   eof      the client closed its side (FIN): a normal goodbye
 *   reset    the client aborted (RST); "error" for anything else
 */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct options opts;  /* opts.idle_timeout_ms: --idle-timeout, 0 = none */

/* include read_timeout */
/* Make every read() on fd give up after ms without data; 0 = never.
 * struct timeval is seconds + MICROseconds, and tv_usec must stay below
 * 1000000 (Linux refuses it with EDOM), so split ms into the two fields. */
static int set_read_timeout(int fd, long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}
/* end read_timeout */

/* include outcomes */
/* Echo until the client is done; return the reason for the log. */
static const char *echo_until_done(int fd)
{
    char buf[4096];

    if (set_read_timeout(fd, opts.idle_timeout_ms) < 0)
        return "error";                         /* never serve without it */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return "eof";                       /* the client sent FIN */
        if (n < 0) {
            if (errno == EINTR)
                continue;                       /* (the timeout starts over) */
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return "timeout";               /* SO_RCVTIMEO ran out */
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
