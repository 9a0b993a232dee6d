/*
 * Lesson 05: the client that never reads.
 *
 * Since lesson 04 every read is bounded: by the idle deadline and by the
 * line deadline, and every line by --max-line (your read_line() now lives
 * in lib/read_line.c). Writes are not. write_all()
 * blocks in send() until the kernel has taken every byte, and the kernel
 * takes bytes only while the client's receive window is open.
 *
 * THE BUG: a client that sends lines but never reads the echoes fills its
 * own receive buffer (Recv-Q on the client side in `ss`), then the server's
 * send buffer (Send-Q on the server side). From then on the server's
 * send() waits for room that never comes: the thread sleeps in the kernel,
 * holding its socket and buffers, and no read deadline can help, because
 * the thread is not reading. The server accepts --write-timeout, but
 * ignores it.
 *
 * TODO(student): write write_by(fd, buf, len, deadline), the twin of
 * read_by() (lib/write_by.h has its prototype; the lessons after this one
 * take it from lib/), and give each line's echo a write deadline,
 * --write-timeout ms from the moment the write starts
 * (opts.write_timeout_ms, 0 = none). Send without blocking (MSG_DONTWAIT),
 * and when the send buffer is full, wait for room with poll(POLLOUT) only
 * until the deadline. Keep going after a partial write: send the rest. When
 * the deadline passes, fail with errno EAGAIN, as read_by() does, and end
 * with reason "write-timeout" (the one exit path closes). The spot is
 * marked TODO(student) in echo_lines(). Then run `make check`.
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "iobuf.h"
#include "kit.h"
#include "read_line.h"

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
        /* BUG: write_all() waits for as long as the client does not read.
         * TODO(student): write by deadline_in(opts.write_timeout_ms) (here
         * and for the reply below), and say "write-timeout" when it passes. */
        if (write_all(fd, iobuf_data(in), len) < 0) {
            reason = reason_for_errno(errno);
            break;
        }
        iobuf_consume(&in, len);
    }
    if (strcmp(reason, "too-long") == 0) {
        static const char reply[] = "ERR line too long\n";
        write_all(fd, reply, sizeof reply - 1);  /* best effort: we close next */
    }
    iobuf_free(&in);
    return reason;
}
/* end echo_lines */

/* One exit path that always closes (lesson 01). */
static void handle_connection(struct conn *c)
{
    const char *reason = echo_lines(c->fd);
    close(c->fd);
    log_close(c, reason);
}

int main(int argc, char **argv)
{
    options_parse(argc, argv, OPT_IDLE_TIMEOUT | OPT_LINE_TIMEOUT | OPT_MAX_LINE |
                  OPT_WRITE_TIMEOUT, &opts);
    int listen_fd = listen_and_announce(&opts);
    serve_thread_per_connection(listen_fd, handle_connection);
    return 0;
}
