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
 * Solved: SO_RCVTIMEO is set from --idle-timeout first; a read that times out returns "timeout".
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
