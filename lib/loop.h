/*
 * loop.h - plumbing for the single-threaded event loops (lessons 09-11).
 *
 * Nothing here is what those lessons are about: non-blocking sockets, a
 * non-blocking accept that fills in a struct conn, a pipe that wakes the loop
 * on SIGINT/SIGTERM, a compact peer address, and the rounding rule that turns
 * a deadline into a poll()/epoll_wait() timeout. All of it is plain POSIX.
 */
#ifndef LOOP_H
#define LOOP_H

#include "kit.h"

#include <stdint.h>
#include <sys/socket.h>

/* Put fd in non-blocking mode: read/write/accept return EAGAIN, never wait. */
int set_nonblocking(int fd);

/* accept() one connection as a non-blocking, close-on-exec socket and fill
 * c->fd, c->peer and c->accepted_ms. The fd, or -1 with errno (EAGAIN: none
 * waiting; EMFILE/ENFILE: out of descriptors). */
int accept_nonblocking(int listen_fd, struct conn *c);

/* The self-pipe trick: install SIGINT/SIGTERM handlers that write one byte to
 * a pipe and return its read end. Watch it like a socket; when it becomes
 * readable, a stop was asked for. Also ignores SIGPIPE. */
int stop_signal_pipe(void);

/* The poll()/epoll_wait() timeout, in ms, for a wait that must end at
 * `deadline` (now_ms() time; 0 = none): -1 for no deadline, else the time
 * left, at least 1 and at most INT_MAX. now_ms() rounds the clock down, so
 * deadline - now rounds the wait *up*: the loop never wakes before a deadline
 * and finds it not yet due. Callers expire due deadlines first, so this never
 * needs to return 0 (which, in a loop, is a busy spin). */
int timeout_until(long long deadline, long long now);

/* A peer address in 20 bytes (a struct conn keeps 64 for the text form). */
struct peer_addr {
    unsigned char addr[16];  /* IPv4 in the first 4 bytes, or IPv6 */
    uint16_t port;           /* host byte order */
    uint8_t family;          /* AF_INET or AF_INET6 (as a byte) */
};

/* Keep the address of an accepted peer. */
void peer_addr_save(struct peer_addr *p, const struct sockaddr *sa);

/* "127.0.0.1:51234" (or "::1:51234") into out, for the log. */
void peer_addr_format(const struct peer_addr *p, char *out, size_t size);

#endif
