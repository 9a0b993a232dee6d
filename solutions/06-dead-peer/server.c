/*
 * Lesson 06: the peer that vanished.
 *
 * Since lesson 05 every read and every write has a deadline (the write_by()
 * you wrote there now lives in lib/write_by.c). But a read deadline must be
 * longer than any healthy client's silence, and many services keep
 * connections open for minutes or hours with nothing to say: run this one
 * with --idle-timeout 0 (no read deadline at all). When such a client's
 * host loses power, its cable is pulled or a NAT box forgets the
 * connection, nothing arrives: no FIN, no RST. That is not a killed process
 * (its kernel sends FIN, lesson 01). The peer is simply gone, and silence
 * is all the server gets.
 *
 * Solved: set_dead_peer_options() gives each connection TCP_USER_TIMEOUT and keepalive.
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "iobuf.h"
#include "kit.h"
#include "read_line.h"
#include "write_by.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct options opts;

/* include set_dead_peer_options */
/* Ask the kernel to give up on a peer that stops answering (Linux). 0, or
 * -1 with errno set if a socket option was refused. lib/kit.h declares it:
 * the lessons after this one take it from lib/. */
int set_dead_peer_options(int fd, const struct options *o)
{
    if (o->user_timeout_ms > 0) {
        /* Data unacknowledged this long after its first retransmission is
         * given up: about the first RTO plus MS in all. */
        unsigned int ms = (unsigned int)o->user_timeout_ms;
        if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) < 0)
            return -1;
    }
    if (o->keepalive_ms > 0) {
        /* The kernel counts keepalive time in whole seconds (at most 32767). */
        long secs = (o->keepalive_ms + 999) / 1000;
        int on = 1, idle = secs > 32767 ? 32767 : (int)secs, probes = 3;
        if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0)
            return -1;
    }
    return 0;
}
/* end set_dead_peer_options */

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
    if (set_dead_peer_options(c->fd, &opts) == 0)
        reason = echo_lines(c->fd);
    close(c->fd);
    log_close(c, reason);
}
/* end handle_connection */

int main(int argc, char **argv)
{
    options_parse(argc, argv, OPT_IDLE_TIMEOUT | OPT_LINE_TIMEOUT | OPT_MAX_LINE |
                  OPT_WRITE_TIMEOUT | OPT_USER_TIMEOUT | OPT_KEEPALIVE, &opts);
    int listen_fd = listen_and_announce(&opts);
    serve_thread_per_connection(listen_fd, handle_connection);
    return 0;
}
