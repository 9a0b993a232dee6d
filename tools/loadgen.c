/*
 * loadgen - many connections from one process, on epoll (Linux), for the
 * event-loop tests and `make bench`.
 *
 *   loadgen --port N [--host ADDR] [--conns N] [--mode MODE] [--duration MS]
 *           [--size BYTES] [--total BYTES] [--read-chunk BYTES] [--read-delay MS]
 *           [--rcvbuf BYTES] [--read-start MS]
 *
 *   idle      connect --conns sockets and send nothing; record when the
 *             server closes each one (reap times). Ends when all are closed,
 *             or at --duration.
 *   echo      each connection sends a --size byte line, waits for its echo,
 *             and again, for --duration ms (round trips, for CPU per echo).
 *   pipeline  each connection sends --total bytes (rounded down to whole
 *             lines) of numbered --size byte lines as fast as the server takes them, while reading slowly
 *             (--read-chunk bytes every --read-delay ms), then shuts down its
 *             sending side and reads to EOF. Every byte must come back in
 *             order: result=ok, else mismatch. --rcvbuf shrinks each socket's
 *             receive buffer (SO_RCVBUF), so a slow reader pushes back on the
 *             server at once instead of after megabytes of kernel buffering;
 *             --read-start delays the first read, so buffers surely fill.
 *
 * Prints `connected N` once every connection is up (scripts wait for it),
 * then one summary line at the end:
 *
 *   mode=idle conns=2000 connected=2000 closed=2000 reset=0 open=0 failed=0
 *     min=1000ms p50=1002ms p99=1010ms max=1012ms round_trips=0 mismatch=0 ok=0
 *
 * (one line; closed/reset count connections the server ended; the times are
 * from connect to the server's close). SIGTERM ends the run early, with the
 * summary.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>   /* Linux */
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TOOL "loadgen"
#include "cli.h"   /* now_ms, number, option_value, word_index */

enum mode { IDLE, ECHO, PIPELINE };
static const char *const mode_names[] = {"idle", "echo", "pipeline"};
enum { CONNECTING_MAX = 256 };  /* connects in flight at once: the backlog stays short */

static struct {
    const char *host, *port;
    long conns, duration_ms, size, total, read_chunk, read_delay_ms, rcvbuf, read_start_ms;
    enum mode mode;
} cfg = {"127.0.0.1", NULL, 1, 10000, 64, 4 << 20, 4096, 1, 0, 0, IDLE};

enum state { CONNECTING, OPEN, DONE };

/* How a connection ended, as the summary line counts it. */
enum result {
    STILL_OPEN,   /* open=: not ended when the run stopped */
    CLOSED,       /* closed=: the server closed it (we read EOF) */
    RESET,        /* reset=: the server reset it */
    FAILED,       /* failed=: connect() or another call failed */
    ECHOED,       /* ok=: a pipeline got every byte back, in order */
    MISMATCH,     /* mismatch=: a byte lost, changed or out of order */
    RESULTS       /* how many there are */
};

struct conn {
    int fd;
    enum state state;
    long long connected_ms, ended_ms;
    long long sent, received;     /* bytes */
    long long next_read_ms;       /* pipeline: not before */
    long rtt_have;                /* echo: bytes of the current echo read */
    enum result result;
    int shut;                     /* pipeline: SHUT_WR done */
};

static volatile sig_atomic_t stop;
static int epfd;
static struct conn *conns;
static long connected, in_flight, next_to_open, round_trips, active;
static char *line;

static void on_stop(int sig) { (void)sig; stop = 1; }


/* Bytes k .. k+len-1 of the stream a pipeline connection sends: lines of
 * --size bytes, each "NNNNNNNNNNNN " (its number) then letters, then '\n'. */
static void stream_fill(char *dst, long long k, size_t len)
{
    static char *cur;
    static long long cur_n = -1;
    if (!cur && !(cur = malloc((size_t)cfg.size)))
        exit(1);
    while (len > 0) {
        long long n = k / cfg.size, i = k % cfg.size;
        if (n != cur_n) {
            int head = snprintf(cur, (size_t)cfg.size, "%012lld ", n);
            for (long j = head; j < cfg.size - 1; j++)
                cur[j] = (char)('a' + (n + j) % 26);
            cur[cfg.size - 1] = '\n';
            cur_n = n;
        }
        size_t take = (size_t)(cfg.size - i) < len ? (size_t)(cfg.size - i) : len;
        memcpy(dst, cur + i, take);
        dst += take;
        k += (long long)take;
        len -= take;
    }
}

static void watch(struct conn *c, unsigned events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(epfd, op, c->fd, &ev);
}

static void end(struct conn *c, enum result result)
{
    if (c->state == CONNECTING)
        in_flight--;
    active--;
    c->state = DONE;
    c->result = result;
    c->ended_ms = now_ms();
    close(c->fd);
}

static struct addrinfo *target;

static void open_more(void)
{
    while (in_flight < CONNECTING_MAX && next_to_open < cfg.conns) {
        struct conn *c = &conns[next_to_open++];
        c->fd = socket(target->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c->fd < 0) {
            c->state = DONE;
            c->result = FAILED;
            continue;
        }
        if (cfg.rcvbuf) {   /* before connect(), so the window is small from the start */
            int size = (int)cfg.rcvbuf;
            setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        }
        in_flight++;
        active++;
        c->state = CONNECTING;
        if (connect(c->fd, target->ai_addr, target->ai_addrlen) < 0 && errno != EINPROGRESS) {
            end(c, FAILED);
            continue;
        }
        watch(c, EPOLLOUT, EPOLL_CTL_ADD);
    }
}

static void send_echo_line(struct conn *c)
{
    ssize_t n = send(c->fd, line, (size_t)cfg.size, MSG_NOSIGNAL);
    if (n != cfg.size) /* a fresh line always fits an empty socket buffer */
        end(c, n < 0 && (errno == ECONNRESET || errno == EPIPE) ? RESET : FAILED);
    c->rtt_have = 0;
}

static void became_open(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    in_flight--;
    if (err) {
        active--;
        c->state = DONE;
        c->result = FAILED;
        close(c->fd);
        return;
    }
    c->state = OPEN;
    c->connected_ms = now_ms();
    c->next_read_ms = c->connected_ms + cfg.read_start_ms;
    connected++;
    if (cfg.mode == ECHO)
        send_echo_line(c);
    /* pipeline reads on its own clock (--read-delay), not on EPOLLIN */
    watch(c, cfg.mode == PIPELINE ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
}

static void pipeline_send(struct conn *c)
{
    char buf[16384];
    while (c->sent < cfg.total) {
        long long want = cfg.total - c->sent;
        if (want > (long long)sizeof buf) want = sizeof buf;
        stream_fill(buf, c->sent, (size_t)want);
        ssize_t n = send(c->fd, buf, (size_t)want, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            end(c, errno == ECONNRESET || errno == EPIPE ? RESET : FAILED);
            return;
        }
        c->sent += n;
    }
    if (!c->shut) {
        shutdown(c->fd, SHUT_WR);   /* all sent: half-close, keep reading */
        c->shut = 1;
        watch(c, 0, EPOLL_CTL_MOD);
    }
}

static void on_readable(struct conn *c)
{
    char buf[65536];
    size_t want = sizeof buf;
    if (cfg.mode == PIPELINE) {
        if (now_ms() < c->next_read_ms) return;
        want = (size_t)cfg.read_chunk < want ? (size_t)cfg.read_chunk : want;
        c->next_read_ms = now_ms() + cfg.read_delay_ms;
    }
    ssize_t n = recv(c->fd, buf, want, 0);
    if (n == 0) {
        if (cfg.mode == PIPELINE)
            end(c, c->received == cfg.total ? ECHOED : MISMATCH);
        else
            end(c, CLOSED);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            end(c, errno == ECONNRESET ? RESET : FAILED);
        return;
    }
    if (cfg.mode == PIPELINE) {
        static char want_buf[65536];
        stream_fill(want_buf, c->received, (size_t)n);
        if (memcmp(buf, want_buf, (size_t)n) != 0) {
            end(c, MISMATCH);                     /* a byte lost, changed or out of order */
            return;
        }
    } else if (cfg.mode == ECHO) {
        c->rtt_have += n;
        if (c->rtt_have >= cfg.size) {
            round_trips++;
            send_echo_line(c);
        }
    }
    c->received += n;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void summary(void)
{
    long counts[RESULTS] = {0};
    long long *after = malloc((size_t)cfg.conns * sizeof *after);
    long nafter = 0;
    for (long i = 0; i < cfg.conns; i++) {
        counts[conns[i].result]++;
        if (after && (conns[i].result == CLOSED || conns[i].result == RESET))
            after[nafter++] = conns[i].ended_ms - conns[i].connected_ms;
    }
    if (after) qsort(after, (size_t)nafter, sizeof *after, cmp_ll);
    printf("mode=%s conns=%ld connected=%ld closed=%ld reset=%ld open=%ld failed=%ld",
           mode_names[cfg.mode], cfg.conns, connected, counts[CLOSED], counts[RESET],
           counts[STILL_OPEN], counts[FAILED]);
    if (nafter && after)
        printf(" min=%lldms p50=%lldms p99=%lldms max=%lldms", after[0], after[(nafter - 1) / 2],
               after[(nafter * 99 + 99) / 100 - 1], after[nafter - 1]);
    printf(" round_trips=%ld ok=%ld mismatch=%ld\n", round_trips, counts[ECHOED], counts[MISMATCH]);
    fflush(stdout);
    free(after);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            printf("usage: loadgen --port N [--host ADDR] [--conns N] [--mode idle|echo|pipeline]\n"
                   "               [--duration MS] [--size BYTES] [--total BYTES] [--read-chunk BYTES]\n"
                   "               [--read-delay MS] [--read-start MS] [--rcvbuf BYTES]\n");
            exit(0);
        }
        static const char *const known[] = {"--host", "--port", "--conns", "--duration", "--size",
                                            "--total", "--read-chunk", "--read-delay", "--rcvbuf",
                                            "--read-start", "--mode"};
        const char *v = option_value(argc, argv, &i, known, sizeof known / sizeof *known);
        if (!strcmp(a, "--host")) cfg.host = v;
        else if (!strcmp(a, "--port")) { number(a, v, 1, 65535); cfg.port = v; }
        else if (!strcmp(a, "--conns")) cfg.conns = number(a, v, 1, 1000000);
        else if (!strcmp(a, "--duration")) cfg.duration_ms = number(a, v, 1, 86400000);
        else if (!strcmp(a, "--size")) cfg.size = number(a, v, 16, 64 << 20);
        else if (!strcmp(a, "--total")) cfg.total = number(a, v, 1, 1L << 40);
        else if (!strcmp(a, "--read-chunk")) cfg.read_chunk = number(a, v, 1, 65536);
        else if (!strcmp(a, "--read-delay")) cfg.read_delay_ms = number(a, v, 0, 60000);
        else if (!strcmp(a, "--rcvbuf")) cfg.rcvbuf = number(a, v, 0, 1 << 26);
        else if (!strcmp(a, "--read-start")) cfg.read_start_ms = number(a, v, 0, 600000);
        else if (!strcmp(a, "--mode"))
            cfg.mode = (enum mode)word_index(a, v, mode_names, sizeof mode_names / sizeof *mode_names);
    }
    if (!cfg.port) usage_error("%s", "--port is required");
    /* Whole lines only: a server promises to echo lines that end in \n. */
    cfg.total -= cfg.total % cfg.size;
    if (cfg.mode == PIPELINE && cfg.total == 0) {
        fprintf(stderr, "loadgen: --total must hold at least one --size byte line\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;   /* many sockets: take the hard limit */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (getaddrinfo(cfg.host, cfg.port, &hints, &target) != 0) {
        fprintf(stderr, "loadgen: bad address %s\n", cfg.host);
        return 2;
    }
    conns = calloc((size_t)cfg.conns, sizeof *conns);
    line = malloc((size_t)cfg.size);
    epfd = epoll_create1(0);
    if (!conns || !line || epfd < 0) return 1;
    memset(line, 'x', (size_t)cfg.size);
    line[cfg.size - 1] = '\n';

    long long end_at = now_ms() + cfg.duration_ms;
    int announced = 0;
    static struct epoll_event events[512];
    while (!stop && now_ms() < end_at) {
        open_more();
        if (next_to_open == cfg.conns && in_flight == 0 && !announced) {
            printf("connected %ld\n", connected);
            fflush(stdout);
            announced = 1;
        }
        if (announced && active == 0)
            break;
        long long left = end_at - now_ms();
        int timeout = cfg.mode == PIPELINE ? (cfg.read_delay_ms ? (int)cfg.read_delay_ms : 1) : 100;
        if (left < timeout) timeout = left > 0 ? (int)left : 0;
        int n = epoll_wait(epfd, events, 512, timeout);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == CONNECTING) {
                became_open(c);
                continue;
            }
            if (c->state != OPEN) continue;
            if (cfg.mode != PIPELINE && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
            if (c->state == OPEN && cfg.mode == PIPELINE && (events[i].events & EPOLLOUT)) pipeline_send(c);
        }
        if (cfg.mode == PIPELINE) /* slow reader: one read per connection per --read-delay */
            for (long i = 0; i < next_to_open; i++)
                if (conns[i].state == OPEN && now_ms() >= conns[i].next_read_ms) on_readable(&conns[i]);
    }
    summary();
    return 0;
}
