/*
 * deadline.h - Go-style absolute deadlines for blocking sockets.
 *
 * You build this API in lesson 03; from lesson 04 on it lives here.
 *
 * A deadline is a point in time on the monotonic clock (now_ms()), not a
 * duration: "give up at 12:00:03.500", like Go's conn.SetReadDeadline(t).
 * Each wait computes the time *left* (deadline - now), so a wait that is
 * interrupted (EINTR) or woken early never restarts the full timeout.
 */
#ifndef DEADLINE_H
#define DEADLINE_H

#include <stddef.h>
#include <sys/types.h>

/* The deadline `ms` from now, or 0 (= no deadline) when ms is 0. */
long long deadline_in(long ms);

/* read() that gives up at `deadline` (0 = wait forever): >0 bytes read,
 * 0 at EOF, -1 on error with errno set. errno is EAGAIN once the deadline
 * has passed (like Go, even if data is waiting): what a read() reports when
 * SO_RCVTIMEO runs out (lesson 02), and never ETIMEDOUT, which is the
 * kernel giving up on the peer (lesson 06). */
ssize_t read_by(int fd, void *buf, size_t len, long long deadline);

#endif
