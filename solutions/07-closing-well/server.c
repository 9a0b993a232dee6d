/*
 * Lesson 07: closing a connection well.
 *
 * Every lesson so far ends a connection with one close(). But close() is a
 * message to the peer, and it can say the wrong thing. This server says it
 * wrong in two places, each marked BUG:
 *
 * Solved: (a) close_gracefully(): shutdown(SHUT_WR), drain, close(); (b) replies go on after EOF.
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "iobuf.h"
#include "kit.h"
#include "read_line.h"
#include "write_by.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct options opts;

/* include close_gracefully */
/* Close fd so that the client gets every byte we sent, then EOF, never RST. */
void close_gracefully(int fd)
{
    shutdown(fd, SHUT_WR);      /* our FIN, after all we wrote */
    long long deadline = deadline_in(LINGER_MS);
    char sink[16384];
    while (read_by(fd, sink, sizeof sink, deadline) > 0)
        ;                       /* discard: we will not answer it */
    close(fd);                  /* at EOF nothing is left unread: no RST */
}
/* end close_gracefully */

/* include echo_lines */
/* Echo line after line; return why the connection ended, for the log. */
static const char *echo_lines(int fd)
{
    struct iobuf *in = NULL;    /* bytes read and not echoed yet; NULL while none */
    const char *reason;

    while ((reason = read_line(fd, &in, &opts)) == NULL) {
        size_t len = iobuf_line_length(in);
        if (write_by(fd, iobuf_data(in), len, deadline_in(opts.write_timeout_ms)) < 0) {
            reason = errno == EAGAIN ? "write-timeout" : reason_for_errno(errno);
            break;
        }
        iobuf_consume(&in, len);
    }
    if (strcmp(reason, "too-long") == 0) {
        static const char reply[] = "ERR line too long\n";
        /* best effort: we close next */
        write_by(fd, reply, sizeof reply - 1, deadline_in(opts.write_timeout_ms));
    }
    iobuf_free(&in);
    return reason;
}
/* end echo_lines */

/* include handle_connection */
/* One exit path that always closes (lesson 01). */
static void handle_connection(struct conn *c)
{
    const char *reason = "error";
    if (set_dead_peer_options(c->fd, &opts) == 0)     /* lesson 06, now in lib/ */
        reason = echo_lines(c->fd);
    close_gracefully(c->fd);
    log_close(c, reason);
}
/* end handle_connection */

/* include main */
int main(int argc, char **argv)
{
    options_parse(argc, argv, OPT_IDLE_TIMEOUT | OPT_LINE_TIMEOUT | OPT_MAX_LINE |
                  OPT_WRITE_TIMEOUT | OPT_USER_TIMEOUT | OPT_KEEPALIVE, &opts);
    int listen_fd = listen_and_announce(&opts);
    serve_thread_per_connection(listen_fd, handle_connection);
    return 0;
}
/* end main */
