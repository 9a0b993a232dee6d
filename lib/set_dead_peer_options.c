/*
 * set_dead_peer_options.c - lesson 06's fix, for the lessons after it.
 *
 * In a file of its own: lesson 06's solution defines set_dead_peer_options()
 * itself, where the lesson explains each option, and the linker then takes
 * that one and never this (an archive member is linked only for a symbol
 * still undefined).
 */
#include "kit.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int set_dead_peer_options(int fd, const struct options *o)
{
    if (o->user_timeout_ms > 0) {
        unsigned int ms = (unsigned int)o->user_timeout_ms;
        if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) < 0)
            return -1;
    }
    if (o->keepalive_ms > 0) {
        /* The kernel counts keepalive time in whole seconds (at most 32767). */
        long secs = (o->keepalive_ms + 999) / 1000;
        int on = 1, idle = secs > 32767 ? 32767 : (int)secs, probes = 3;
        if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0)
            return -1;
    }
    return 0;
}
