/*
 * Lesson 01: the CLOSE_WAIT leak.
 *
 * A thread-per-connection echo server: every accepted connection gets its
 * own thread running handle_connection(), which reads bytes and writes them
 * back until the client is done. (In Go this is `go handle(conn)`.)
 *
 * When the client closes, its kernel sends FIN. Our kernel ACKs it at once
 * and moves the socket to CLOSE-WAIT: "the peer is done; waiting for this
 * program to close()". With keepalive off (C's default) and none of our data
 * waiting for an ACK, no TCP timer ends CLOSE-WAIT. Only close() sends our
 * FIN and lets the connection finish.
 *
 * Solved: handle_connection() closes the socket on its one path out, however the loop ended.
 */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <errno.h>
#include <unistd.h>

/* include echo_until_done */
/* Echo until the client is done; return the reason for the log. */
static const char *echo_until_done(int fd)
{
    char buf[4096];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return "eof";
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return reason_for_errno(errno);
        }
        if (write_all(fd, buf, (size_t)n) < 0)
            return reason_for_errno(errno);
    }
}
/* end echo_until_done */

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
    struct options opts;
    options_parse(argc, argv, 0, &opts);
    int listen_fd = listen_and_announce(&opts);
    serve_thread_per_connection(listen_fd, handle_connection);
    return 0;
}
