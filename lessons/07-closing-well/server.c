/*
 * Lesson 07: closing a connection well.
 *
 * Every lesson so far ends a connection with one close(). But close() is a
 * message to the peer, and it can say the wrong thing. This server says it
 * wrong in two places, each marked BUG:
 *
 * THE BUGS:
 * (a) close() with input still unread makes the kernel send RST, not FIN
 *     (RFC 1122, 4.2.2.13: it tells the peer that data was lost). A client
 *     still sending, say the rest of a line we refused with "ERR line too
 *     long", gets ECONNRESET from its next send() before it has read our
 *     reply, and reply bytes our kernel had not yet sent are thrown away.
 * (b) client_gone() takes the client's EOF for "the client has left" and
 *     drops the replies still owed. A client that half-closes (sends its
 *     lines, then shutdown(SHUT_WR)) has only finished sending: it is
 *     still reading.
 *
 * TODO(student):
 * (a) write close_gracefully(fd) and call it in handle_connection():
 *     shutdown(fd, SHUT_WR) sends our FIN after everything we wrote; then
 *     read and throw away what the client still sends, until EOF or until
 *     LINGER_MS has passed; then close(). Nothing is left unread, so the
 *     kernel sends no RST. Its prototype is in lib/kit.h: the lessons after
 *     this one take it from lib/.
 * (b) drop the client_gone() check: EOF means "no more requests", not
 *     "stop answering".
 * The spots are marked TODO(student). Then run `make check`.
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

/* Has the client gone away? A peek that finds end-of-file says it closed. */
static int client_gone(int fd)
{
    char byte;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* include echo_lines */
/* Echo line after line; return why the connection ended, for the log. */
static const char *echo_lines(int fd)
{
    struct iobuf *in = NULL;    /* bytes read and not echoed yet; NULL while none */
    const char *reason;

    while ((reason = read_line(fd, &in, &opts)) == NULL) {
        /* BUG (b): a client that half-closed is still reading.
         * TODO(student): answer every line we have; EOF only ends reading. */
        if (client_gone(fd)) {
            reason = "eof";     /* why echo to someone who left? */
            break;
        }
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
    /* BUG (a): unread input turns this close() into an RST.
     * TODO(student): shutdown(SHUT_WR), drain until EOF or LINGER_MS, close. */
    close(c->fd);
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
