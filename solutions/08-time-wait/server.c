/*
 * Lesson 08: TIME-WAIT, and a server that cannot restart.
 *
 * A TCP connection ends with a FIN each way. The side that sends the first
 * FIN (closes first) keeps the connection in TIME-WAIT for 60 s after the
 * last ACK (TCP_TIMEWAIT_LEN in Linux): a late segment of the old
 * connection can still be recognised, and our last ACK resent if it was
 * lost. This server closes first whenever it gives up on a client
 * (timeouts, too-long lines, write deadlines), so it collects TIME-WAIT
 * connections on its own port.
 *
 * Solved: reuse_address() sets SO_REUSEADDR on the listener before bind().
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

/* include reuse_address */
/* Called on the listening socket before bind(): let a restarted server bind
 * its port while the old server's connections sit in TIME-WAIT. */
void reuse_address(int listen_fd)
{
    int on = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
}
/* end reuse_address */

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
    close_gracefully(c->fd);                         /* lesson 07, now in lib/ */
    log_close(c, reason);
}
/* end handle_connection */

/* include main */
int main(int argc, char **argv)
{
    options_parse(argc, argv, OPT_IDLE_TIMEOUT | OPT_LINE_TIMEOUT | OPT_MAX_LINE |
                  OPT_WRITE_TIMEOUT | OPT_USER_TIMEOUT | OPT_KEEPALIVE, &opts);
    opts.before_bind = reuse_address;
    int listen_fd = listen_and_announce(&opts);
    serve_thread_per_connection(listen_fd, handle_connection);
    return 0;
}
/* end main */
