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
 * THE BUG: handle_connection() returns on EOF, and on a read or write error,
 * without calling close(). Every finished client leaves one socket in
 * CLOSE-WAIT and one file descriptor open, until the process runs out.
 *
 * TODO(student): give handle_connection() a single exit path that always
 * closes the socket (C's answer to Go's `defer conn.Close()`). Then run
 * `make check` in this folder.
 */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <errno.h>
#include <unistd.h>

/* include handler */
static void handle_connection(struct conn *c)
{
    char buf[4096];

    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n == 0) {                   /* the client sent FIN */
            log_close(c, "eof");
            return;                     /* BUG: no close(c->fd) */
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_close(c, reason_for_errno(errno));
            return;                     /* BUG: no close(c->fd) */
        }
        if (write_all(c->fd, buf, (size_t)n) < 0) {
            log_close(c, reason_for_errno(errno));
            return;                     /* BUG: no close(c->fd) */
        }
    }
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
