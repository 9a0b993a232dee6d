/*
 * Lesson 05: the client that never reads.
 *
 * Since lesson 04 every read is bounded: by the idle deadline and by the
 * line deadline, and every line by --max-line (your read_line() now lives
 * in lib/read_line.c). Writes are not. write_all()
 * blocks in send() until the kernel has taken every byte, and the kernel
 * takes bytes only while the client's receive window is open.
 *
 * Solved: each echo is sent by write_by(), which waits in poll() for room only until its deadline.
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "iobuf.h"
#include "kit.h"
#include "read_line.h"
#include "write_by.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct options opts;

/* include write_by */
/* include send_what_fits */
/* Send all len bytes by `deadline` (0 = none). 0 when all are sent; -1 with
 * errno set otherwise, EAGAIN when the deadline passed first (as read_by()
 * reports its own). Its prototype is in lib/write_by.h: the lessons after
 * this one take it from lib/. */
int write_by(int fd, const void *buf, size_t len, long long deadline)
{
    const char *p = buf;
    while (len > 0) {
        /* MSG_DONTWAIT: take what fits now and never block, though the
         * socket is blocking (Linux and the BSDs; plain POSIX would set
         * O_NONBLOCK with fcntl()). MSG_NOSIGNAL: EPIPE, not SIGPIPE. */
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            p += n;             /* a partial send: the rest goes next round */
            len -= (size_t)n;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        /* end send_what_fits */
        /* include wait_for_room */
        /* The send buffer is full: the client is not taking our bytes.
         * Wait for room, for the time LEFT (computed again each round:
         * poll() may end early, with EINTR). After EINTR from send(),
         * poll() finds the room at once if there is some. */
        for (int ready = 0; ready <= 0;) {
            int wait_ms = -1;
            if (deadline) {
                long long left = deadline - now_ms();
                if (left <= 0) {
                    errno = EAGAIN;    /* our deadline, not the kernel's ETIMEDOUT */
                    return -1;
                }
                wait_ms = left > INT_MAX ? INT_MAX : (int)left;
            }
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            ready = poll(&pfd, 1, wait_ms);  /* room, or an error the next send() reports */
            if (ready < 0 && errno != EINTR)
                return -1;
        }
    }
    return 0;
}
/* end wait_for_room */
/* end write_by */

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
