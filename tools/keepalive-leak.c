/*
 * keepalive-leak - lesson 01's leak with keepalive on. Keepalive probes run in
 * CLOSE-WAIT too, so a leaked socket can leave `ss` while its descriptor stays
 * open: what a Go server (keepalive on by default) shows. Lesson 01, "In Go".
 *
 *   keepalive-leak [--port N] [--keepalive S]
 *       the server: echoes one client at a time until EOF, then forgets it
 *       without close() (the leak). --keepalive S (default 15, Go's): on each
 *       accepted socket SO_KEEPALIVE, TCP_KEEPIDLE = TCP_KEEPINTVL = S seconds,
 *       TCP_KEEPCNT 9; 0 leaves keepalive off, as C does by default.
 *   keepalive-leak --connect PORT [--linger2 S]
 *       one client that connects and closes at once. --linger2 S sets
 *       TCP_LINGER2: its orphaned FIN-WAIT-2 lasts S seconds, not
 *       net.ipv4.tcp_fin_timeout (60 s).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void bye(int sig) { (void)sig; _exit(0); }

static int set_int(int fd, int level, int name, long val)
{
    int v = (int)val;
    return setsockopt(fd, level, name, &v, sizeof v);
}

int main(int argc, char **argv)
{
    const char *names[] = {"--port", "--keepalive", "--connect", "--linger2"};
    long vals[] = {12345, 15, 0, 0};
    for (int i = 1; i < argc; i += 2) {
        int k = 0;
        while (k < 4 && strcmp(argv[i], names[k])) k++;
        char *end = NULL;
        if (k < 4 && i + 1 < argc) vals[k] = strtol(argv[i + 1], &end, 10);
        if (k == 4 || !end || end == argv[i + 1] || *end || vals[k] < 0 || vals[k] > 65535) {
            fprintf(stderr, "keepalive-leak: bad option or value: %s\n", argv[i]);
            return 2;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (vals[2]) {                              /* the client */
        a.sin_port = htons((unsigned short)vals[2]);
        if ((vals[3] && set_int(fd, IPPROTO_TCP, TCP_LINGER2, vals[3]) < 0) ||
            connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            perror("keepalive-leak: connect");
            return 1;
        }
        return close(fd) < 0;                   /* FIN: this side goes to FIN-WAIT-2 */
    }
    signal(SIGTERM, bye);
    signal(SIGINT, bye);
    signal(SIGPIPE, SIG_IGN);
    a.sin_port = htons((unsigned short)vals[0]);
    if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(fd, 128) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("keepalive-leak: listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0 && errno == EINTR) continue;
        if (c < 0) { perror("keepalive-leak: accept"); return 1; }
        long s = vals[1];
        if (s && (set_int(c, SOL_SOCKET, SO_KEEPALIVE, 1) < 0 || set_int(c, IPPROTO_TCP, TCP_KEEPIDLE, s) < 0 ||
                  set_int(c, IPPROTO_TCP, TCP_KEEPINTVL, s) < 0 || set_int(c, IPPROTO_TCP, TCP_KEEPCNT, 9) < 0))
            perror("keepalive-leak: keepalive");
        char buf[4096];
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0 && write(c, buf, (size_t)n) == n)
            ;
        /* THE LEAK, as in lesson 01's starter: no close(c). */
    }
}
