/* deadline.c - blocking reads with an absolute deadline (see deadline.h). */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "kit.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

long long deadline_in(long ms)
{
    return ms > 0 ? now_ms() + ms : 0;
}

ssize_t read_by(int fd, void *buf, size_t len, long long deadline)
{
    for (;;) {
        int wait_ms = -1;                       /* no deadline: wait forever */
        if (deadline) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                errno = EAGAIN;        /* our deadline, not the kernel's ETIMEDOUT */
                return -1;
            }
            wait_ms = left > 1000000000 ? 1000000000 : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, wait_ms);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready <= 0)
            continue;               /* EINTR or woke at the deadline: recompute what is left */
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}
