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
 * THE BUG: the server cannot tell a dead peer from a quiet one, and does
 * not ask the kernel to:
 *   - nothing in flight: nothing ever notices. The thread and the socket
 *     stay ESTABLISHED for ever (`ss -o` shows no timer at all);
 *   - a reply in flight: the kernel retransmits it, backing off from 200 ms
 *     to 2 minutes. tcp_retries2 = 15 is a time budget, not a count: the
 *     924.6 s that 15 such retransmissions and one last wait would take.
 *     The kernel gives up at the first timeout past it, about 15 minutes
 *     (`ss -o` shows timer:(on,...) and the retransmit count).
 * The server accepts --user-timeout and --keepalive, but ignores both.
 *
 * TODO(student): write set_dead_peer_options(fd, &opts) (lib/kit.h has its
 * prototype; the lessons after this one take it from lib/) and call it in
 * handle_connection() before the echo loop. It asks the kernel to watch
 * the connection (TCP_USER_TIMEOUT is Linux only):
 *   1. --user-timeout MS: TCP_USER_TIMEOUT (an unsigned int, in ms): data
 *      we sent that stays unacknowledged is given up MS after its first
 *      retransmission;
 *   2. --keepalive MS: SO_KEEPALIVE, with TCP_KEEPIDLE and TCP_KEEPINTVL
 *      both MS rounded up to whole seconds and TCP_KEEPCNT 3: after MS of
 *      silence, a probe every MS; 3 unanswered probes and it gives up.
 * When the kernel gives up, the blocked read() or send() fails with
 * ETIMEDOUT, and reason_for_errno() logs "dead-peer" (our own deadlines
 * report EAGAIN, so the two never mix). The spot is marked TODO(student)
 * in handle_connection(). Then run `make check` (it needs root: see
 * README.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "iobuf.h"
#include "kit.h"
#include "read_line.h"
#include "write_by.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static struct options opts;

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
    /* BUG: nobody watches for a peer that vanished without a word.
     * TODO(student): before echoing, set_dead_peer_options(): TCP_USER_TIMEOUT
     * from opts.user_timeout_ms, keepalive from opts.keepalive_ms. */
    const char *reason = echo_lines(c->fd);
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
