/* write_by.c - sends with an absolute deadline (see write_by.h): lesson
 * 05's write_by(), for the lessons after it. In a file of its own: lesson
 * 05's solution defines write_by() itself, and the linker then takes that
 * one and never this (an archive member is linked only for a symbol still
 * undefined). */
#define _POSIX_C_SOURCE 200809L
#include "write_by.h"
#include "kit.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>

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
