/* net.c - the listening socket, the thread-per-connection accept loop,
 * and write_all(). */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int listen_and_announce(const struct options *o)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "--host: '%s' is not a numeric address: %s\n", o->host, gai_strerror(rc));
        exit(2);
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && o->before_bind)
        o->before_bind(fd);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        fprintf(stderr, "cannot listen on %s:%d: %s\n", o->host, o->port, strerror(errno));
        exit(1);
    }
    freeaddrinfo(ai);

    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN], serv[16];
    getsockname(fd, (struct sockaddr *)&ss, &len);
    getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
                NI_NUMERICHOST | NI_NUMERICSERV);
    printf("listening on %s:%s\n", host, serv);
    fflush(stdout);
    return fd;
}

static void format_peer(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?", serv[16] = "?";
    getnameinfo((const struct sockaddr *)ss, len, host, sizeof host, serv, sizeof serv,
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(out, size, "%s:%s", host, serv);
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;            /* a short write is normal: send the rest */
        len -= (size_t)n;
    }
    return 0;
}

const char *reason_for_errno(int err)
{
    if (err == ECONNRESET || err == EPIPE)
        return "reset";
    return err == ETIMEDOUT ? "dead-peer" : "error";
}

/* ---- the accept loop ---------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct thread_start {
    void (*handle)(struct conn *c);
    struct conn *c;
};

static void *connection_thread(void *arg)
{
    struct thread_start *t = arg;
    t->handle(t->c);
    free(t->c);
    free(t);
    return NULL;
}

static void start_thread(void (*handle)(struct conn *c), struct conn *c)
{
    pthread_attr_t attr;
    pthread_t tid;
    struct thread_start *t = malloc(sizeof *t);
    if (!t) {
        close(c->fd);
        free(c);
        return;
    }
    *t = (struct thread_start){handle, c};
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* handlers use little stack */
    if (pthread_create(&tid, &attr, connection_thread, t) != 0) {
        log_close(c, "error");
        close(c->fd);
        free(c);
        free(t);
    }
    pthread_attr_destroy(&attr);
}

void serve_thread_per_connection(int listen_fd, void (*handle)(struct conn *c))
{
    /* SIGINT/SIGTERM interrupt accept() (no SA_RESTART) and end the loop.
     * Connection threads block them, so only this thread ever sees them. */
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sigset_t stop_signals, old;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);

    while (!stop_requested) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept(listen_fd, (struct sockaddr *)&peer, &len);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                poll(NULL, 0, 50); /* out of fds: back off instead of spinning (lesson 11 does better) */
            continue;              /* EINTR, ECONNABORTED, ...: try again */
        }
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->accepted_ms = now_ms();
        format_peer(&peer, len, c->peer, sizeof c->peer);

        pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
        start_thread(handle, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    close(listen_fd);
}
