/*
 * Lesson 01, solved: every way out of a connection goes through close().
 *
 * echo_until_done() says *why* the connection ended and touches nothing
 * else; handle_connection() then closes the socket on the one path out.
 * That is the C shape of Go's `defer conn.Close()`: the cleanup does not
 * depend on remembering it at every return.
 *
 * close() sends our FIN: CLOSE-WAIT -> LAST-ACK -> (client ACKs) -> gone,
 * and the file descriptor is free again.
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
