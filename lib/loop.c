/* loop.c - plumbing for the event-loop lessons (see loop.h). POSIX only. */
#define _POSIX_C_SOURCE 200809L
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int accept_nonblocking(int listen_fd, struct conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept(listen_fd, (struct sockaddr *)&ss, &len);
    if (fd < 0)
        return -1;
    if (set_nonblocking(fd) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    struct peer_addr p;
    peer_addr_save(&p, (struct sockaddr *)&ss);
    peer_addr_format(&p, c->peer, sizeof c->peer);
    c->fd = fd;
    c->accepted_ms = now_ms();
    return fd;
}

static int stop_pipe[2] = {-1, -1};

/* Async-signal-safe: one write() to a non-blocking pipe, errno kept. */
static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t ignored = write(stop_pipe[1], "x", 1);
    (void)ignored;
    errno = saved;
}

int stop_signal_pipe(void)
{
    if (pipe(stop_pipe) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        set_nonblocking(stop_pipe[i]);
        fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART restarts read() and friends, but never poll() or epoll_wait():
     * those fail with EINTR whatever the flags (signal(7)), and the loops
     * treat that as "look again". The pipe is what tells them to stop. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);  /* belt and braces: sends use MSG_NOSIGNAL */
    return stop_pipe[0];
}

int timeout_until(long long deadline, long long now)
{
    if (deadline == 0)
        return -1;                       /* nothing to wait for but events */
    long long left = deadline - now;
    if (left < 1)
        return 1;                        /* overdue: expire on the next turn, never spin */
    return left > INT_MAX ? INT_MAX : (int)left;
}

void peer_addr_save(struct peer_addr *p, const struct sockaddr *sa)
{
    memset(p, 0, sizeof *p);
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(p->addr, &s6->sin6_addr, 16);
        p->port = ntohs(s6->sin6_port);
        p->family = AF_INET6;
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memcpy(p->addr, &s4->sin_addr, 4);
        p->port = ntohs(s4->sin_port);
        p->family = AF_INET;
    }
}

void peer_addr_format(const struct peer_addr *p, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    inet_ntop(p->family == AF_INET6 ? AF_INET6 : AF_INET, p->addr, host, sizeof host);
    snprintf(out, size, "%s:%u", host, (unsigned)p->port);
}
