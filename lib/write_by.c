/* write_by.c - sends with an absolute deadline (see write_by.h). */
#define _POSIX_C_SOURCE 200809L
#include "write_by.h"
#include "kit.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>

/* Wait until fd has room to send, or `deadline` (0 = none) passes. 0 when
 * there is room; -1 with errno set otherwise, ETIMEDOUT at the deadline. */
static int wait_writable(int fd, long long deadline)
{
    for (;;) {
        int wait_ms = -1;
        if (deadline) {
            long long left = deadline - now_ms();   /* the time LEFT, each time */
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            wait_ms = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ready = poll(&pfd, 1, wait_ms);
        if (ready > 0)
            return 0;   /* room, or an error (POLLERR) that the next send() reports */
        if (ready < 0 && errno != EINTR)
            return -1;
    }
}

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
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        /* The send buffer is full: the peer is not taking our bytes. */
        if (wait_writable(fd, deadline) < 0)
            return -1;
    }
    return 0;
}
