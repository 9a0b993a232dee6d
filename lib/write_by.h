/*
 * write_by.h - writes with an absolute deadline: the write side of deadline.h.
 *
 * You build this in lesson 05; from lesson 06 on it lives here.
 *
 * A blocking send() waits for as long as the peer keeps its receive window
 * shut. write_by() sends without blocking and, only when the send buffer is
 * full, waits in poll(POLLOUT) for the time left before the deadline. A
 * partial send is normal: the rest goes out in the next round.
 */
#ifndef WRITE_BY_H
#define WRITE_BY_H

#include <stddef.h>

/* Send all len bytes by `deadline` (a now_ms() time; 0 = none). 0 when all
 * are sent; -1 with errno set otherwise: EAGAIN when the deadline passed
 * first (as read_by() reports its own), ETIMEDOUT only when the kernel gave
 * up on the peer. Never raises SIGPIPE. */
int write_by(int fd, const void *buf, size_t len, long long deadline);

#endif
