/*
 * client - well- and mis-behaving TCP peers, for lessons, tests and demos.
 *
 *   client --port N [--host ADDR] [--mode MODE] [--count N] [--interval MS]
 *          [--lines N] [--size BYTES] [--hold MS] [--rcvbuf BYTES] [--chunk BYTES]
 *          [--delay MS]
 *
 * Opens --count connections at once (one thread each) and plays MODE on each:
 *
 *   echo        send a line every --interval ms, --lines times, check each echo,
 *               then close (FIN)
 *   close       send one line, read its echo, close (FIN)
 *   silent      connect and say nothing; wait for the server to close
 *   abort       send one line, read its echo, then close with SO_LINGER 0 (RST)
 *   half-close  send --lines lines, shutdown(SHUT_WR), read until EOF
 *   slowloris   send a --size byte line one byte every --interval ms
 *   no-read     send lines as fast as the server takes them (at most 64 MB/s)
 *               and never read a reply
 *   too-long    send --lines - 1 short lines, then one --size byte line (longer
 *               than the server takes), all before reading; then read the
 *               replies until EOF, even after a failed send. Adds
 *               reply=err|none|other (did what it read end with `ERR line too
 *               long`?) and read-end=eof|reset|held|error
 *   half-close-fin  half-close, but the FIN rides on the last data segment
 *               (TCP_CORK until shutdown): the server gets lines and EOF at once
 *   split       send a --size byte line in two writes: all of it but the '\n',
 *               then, --interval ms later, the '\n' (the server reads the line
 *               in two parts); check the echo, close (FIN)
 *   partial     send the first --size bytes of a line, never its '\n'; then
 *               wait for the server to close (read until EOF)
 *   slow-read   send one --size byte line, then read its echo slowly but
 *               steadily: at most --chunk bytes (default 65536) every
 *               --interval ms; check it, close (FIN)
 *
 * --rcvbuf BYTES sets SO_RCVBUF before connecting: a small receive window.
 * --delay MS (echo, close): wait MS after sending each line before reading its
 * echo, so the echo fills the buffers first (the server sees EAGAIN).
 *
 * Nothing lasts longer than --hold ms (default 10000): a connection still
 * open then is reported as `held` and closed.
 *
 * For every connection it prints one line on stdout, for tests to grep:
 *
 *   conn=3 mode=silent result=closed after=503ms sent=0 echoed=0
 *
 * result is one of:
 *   ok        the mode's script finished (and the client closed)
 *   closed    the server closed first (we read EOF)
 *   reset     the server reset the connection (ECONNRESET / EPIPE)
 *   held      still open when --hold ran out
 *   too-long  the server answered `ERR line too long`
 *   mismatch  the echo differed from what was sent
 *   refused   connect() failed
 *   error     anything else (the line says which errno)
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TOOL "client"
#include "cli.h"   /* now_ms, number, option_value, word_index */

enum mode { ECHO, CLOSE, SILENT, ABORT, HALF_CLOSE, SLOWLORIS, NO_READ, TOO_LONG,
            HALF_CLOSE_FIN, SPLIT, SLOW_READ, PARTIAL };
static const char *mode_names[] = {"echo", "close", "silent", "abort", "half-close",
                                   "slowloris", "no-read", "too-long", "half-close-fin",
                                   "split", "slow-read", "partial"};

static struct {
    const char *host, *port;
    enum mode mode;
    long count, interval_ms, lines, size, hold_ms;
    long rcvbuf;  /* --rcvbuf: SO_RCVBUF before connect(); 0 = the kernel's */
    long chunk;   /* --chunk: slow-read takes at most this many bytes per read */
    long delay_ms;  /* --delay: echo and close wait this long before reading an echo */
} cfg = {"127.0.0.1", NULL, ECHO, 1, 100, 3, 0, 10000, 0, 65536, 0};

struct peer {
    int id, fd;
    long long started_ms, deadline_ms;
    long sent, echoed;
    const char *result;
    int err;  /* errno behind result=error */
    const char *reply, *read_end;  /* too-long only: what it read, how reading ended */
};


/* Time left before --hold runs out, as a poll() timeout. */
static int time_left(const struct peer *p)
{
    long long left = p->deadline_ms - now_ms();
    return left > 0 ? (int)left : 0;
}

static const char *result_for_errno(int err)
{
    return (err == ECONNRESET || err == EPIPE) ? "reset" : "error";
}

/* Wait for `events` on the socket until --hold runs out. 1 ready, 0 held. */
static int wait_for(struct peer *p, short events)
{
    struct pollfd pfd = {.fd = p->fd, .events = events};
    for (;;) {
        int n = poll(&pfd, 1, time_left(p));
        if (n > 0) return 1;
        if (n == 0) return 0;
        if (errno != EINTR) return 0;
    }
}

/* Pause for ms, but never past --hold. 0 when --hold ran out. */
static int pause_ms(struct peer *p, long ms)
{
    long long until = now_ms() + ms;
    if (until > p->deadline_ms) until = p->deadline_ms;
    while (now_ms() < until)
        poll(NULL, 0, (int)(until - now_ms()));
    return now_ms() < p->deadline_ms;
}

static size_t make_line(char *buf, int conn, long n)
{
    int len = snprintf(buf, 64, "conn %d line %ld", conn, n);
    size_t want = cfg.size > len + 1 ? (size_t)cfg.size : (size_t)len + 1;
    memset(buf + len, 'x', want - 1 - (size_t)len);
    buf[want - 1] = '\n';
    return want;
}

static int send_all(struct peer *p, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            p->result = result_for_errno(errno);
            p->err = errno;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        p->sent += n;
    }
    return 0;
}

/* Read exactly len bytes and compare them with want. */
static int expect_echo(struct peer *p, const char *want, size_t len, char *got)
{
    size_t have = 0;
    while (have < len) {
        if (!wait_for(p, POLLIN)) {
            p->result = "held";
            return -1;
        }
        ssize_t n = recv(p->fd, got + have, len - have, 0);
        if (n == 0) {
            p->result = (have > 0 && !strncmp(got, "ERR line too long", 17)) ? "too-long" : "closed";
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            p->result = result_for_errno(errno);
            p->err = errno;
            return -1;
        }
        have += (size_t)n;
        if (have >= 17 && !strncmp(got, "ERR line too long", 17)) {
            p->result = "too-long";
            return -1;
        }
    }
    p->echoed += (long)len;
    if (memcmp(got, want, len) != 0) {
        p->result = "mismatch";
        return -1;
    }
    return 0;
}

/* Read and discard until EOF; sets the result. */
static void wait_for_close(struct peer *p, const char *expect, size_t expect_len)
{
    char buf[4096];
    for (;;) {
        if (!wait_for(p, POLLIN)) {
            p->result = "held";
            return;
        }
        ssize_t n = recv(p->fd, buf, sizeof buf, 0);
        if (n == 0) {
            p->result = "closed";
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            p->result = result_for_errno(errno);
            p->err = errno;
            return;
        }
        if (expect) {
            if ((size_t)(p->echoed + n) > expect_len ||
                memcmp(buf, expect + p->echoed, (size_t)n) != 0) {
                p->result = "mismatch";
                return;
            }
        }
        p->echoed += n;
    }
}

static void play_echo(struct peer *p, long lines, char *line, char *got)
{
    for (long i = 1; i <= lines; i++) {
        if (i > 1 && !pause_ms(p, cfg.interval_ms)) {
            p->result = "held";
            return;
        }
        size_t len = make_line(line, p->id, i);
        if (send_all(p, line, len) < 0)
            return;
        if (cfg.delay_ms > 0 && !pause_ms(p, cfg.delay_ms)) {
            p->result = "held";
            return;
        }
        if (expect_echo(p, line, len, got) < 0)
            return;
    }
    p->result = "ok";
}

static void play_half_close(struct peer *p, char *line)
{
    size_t one = make_line(line, p->id, cfg.lines);  /* the last line is the longest */
    char *all = malloc(one * (size_t)cfg.lines + 1);
    size_t total = 0;
    if (!all) {
        p->result = "error";
        return;
    }
    for (long i = 1; i <= cfg.lines; i++)
        total += make_line(all + total, p->id, i);
    if (send_all(p, all, total) == 0) {
        shutdown(p->fd, SHUT_WR);  /* "I am done sending; keep the replies coming" */
        wait_for_close(p, all, total);
        if (!strcmp(p->result, "closed"))
            p->result = (size_t)p->echoed == total ? "ok" : "mismatch";
    }
    free(all);
}

static void play_slowloris(struct peer *p, char *line)
{
    size_t len = make_line(line, p->id, 1);
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && !pause_ms(p, cfg.interval_ms)) {
            p->result = "held";
            return;
        }
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) > 0) {         /* the server closed or reset? */
            wait_for_close(p, NULL, 0);
            return;
        }
        if (send_all(p, line + i, 1) < 0)
            return;
    }
    wait_for_close(p, NULL, 0);              /* the whole line went out: wait */
}

/* Lines as fast as the server takes them, never reading a reply: one batch
 * of whole lines, up to 64 KB, made once and sent again and again (one
 * send() per line, or a snprintf() per line, made this client the largest
 * CPU cost of a test run). At most NO_READ_RATE bytes a second: that fills
 * the largest kernel buffers (tcp_rmem's 32 MB maximum) in half a second,
 * and faster only burns CPU on both sides while the server drains what comes
 * (lesson 07's lingering close reads and discards for a second: at memory
 * speed, gigabytes). */
enum { NO_READ_RATE = 64 << 20 };

static void play_no_read(struct peer *p)
{
    size_t most = cfg.size > 64 ? (size_t)cfg.size : 64;  /* make_line's longest */
    size_t cap = most > 65536 ? most : 65536, len = 0;
    char *batch = malloc(cap);
    if (!batch) {
        p->result = "error";
        p->err = errno;
        return;
    }
    for (long i = 1; len == 0 || cap - len >= most; i++)
        len += make_line(batch + len, p->id, i);
    for (;;) {
        for (size_t off = 0; off < len;) {
            if (!wait_for(p, POLLOUT)) {
                p->result = "held";
                free(batch);
                return;
            }
            ssize_t n = send(p->fd, batch + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
                p->result = result_for_errno(errno);
                p->err = errno;
                free(batch);
                return;
            }
            off += (size_t)n;
            p->sent += n;
        }
        long long due = p->started_ms + p->sent / (NO_READ_RATE / 1000);
        if (due > now_ms() && !pause_ms(p, (long)(due - now_ms()))) {
            p->result = "held";
            free(batch);
            return;
        }
    }
}

/* Send --lines - 1 short lines and the too-long line, reading nothing, like a
 * client uploading a request; then read the replies until EOF. A failed send
 * does not stop the reading: bytes that arrived before an RST may still be
 * there to read. */
static void play_too_long(struct peer *p, char *line)
{
    static const char err_line[] = "ERR line too long\n";
    enum { ERR_LEN = sizeof err_line - 1 };
    char tail[ERR_LEN];     /* the last bytes read */
    size_t tail_len = 0;
    int sent_all = 1;

    for (long i = 1; i < cfg.lines && sent_all; i++) {
        char shortline[64];
        int n = snprintf(shortline, sizeof shortline, "conn %d line %ld\n", p->id, i);
        sent_all = send_all(p, shortline, (size_t)n) == 0;
    }
    if (sent_all)
        sent_all = send_all(p, line, make_line(line, p->id, cfg.lines)) == 0;

    p->read_end = "held";
    while (wait_for(p, POLLIN)) {
        char buf[4096];
        ssize_t n = recv(p->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            p->read_end = n == 0 ? "eof" : result_for_errno(errno);
            if (n < 0) p->err = errno;
            break;
        }
        for (ssize_t i = 0; i < n; i++) {     /* keep the last ERR_LEN bytes */
            if (tail_len == ERR_LEN) memmove(tail, tail + 1, --tail_len);
            tail[tail_len++] = buf[i];
        }
        p->echoed += n;
    }
    int ends_in_err = tail_len == ERR_LEN && !memcmp(tail, err_line, ERR_LEN);
    p->reply = p->echoed == 0 ? "none" : ends_in_err ? "err" : "other";
    if (sent_all)   /* else send_all set result=reset (or error) */
        p->result = !strcmp(p->read_end, "eof") ? (ends_in_err ? "too-long" : "closed") : p->read_end;
}

/* The server reads the line in two parts: all but the '\n', then the '\n'. */
static void play_split(struct peer *p, char *line, char *got)
{
    size_t len = make_line(line, p->id, 1);
    if (send_all(p, line, len - 1) < 0)
        return;
    if (!pause_ms(p, cfg.interval_ms)) {
        p->result = "held";
        return;
    }
    if (send_all(p, line + len - 1, 1) < 0 || expect_echo(p, line, len, got) < 0)
        return;
    p->result = "ok";
}

/* Send one line, then take its echo at most --chunk bytes per --interval ms:
 * a reader that is slow but never stops. */
static void play_slow_read(struct peer *p, char *line, char *got)
{
    size_t len = make_line(line, p->id, 1), have = 0;
    if (send_all(p, line, len) < 0)
        return;
    while (have < len) {
        if (have > 0 && !pause_ms(p, cfg.interval_ms)) {
            p->result = "held";
            return;
        }
        if (!wait_for(p, POLLIN)) {
            p->result = "held";
            return;
        }
        size_t want = len - have < (size_t)cfg.chunk ? len - have : (size_t)cfg.chunk;
        ssize_t n = recv(p->fd, got + have, want, 0);
        if (n == 0) {
            p->result = "closed";
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            p->result = result_for_errno(errno);
            p->err = errno;
            return;
        }
        have += (size_t)n;
        p->echoed += n;
    }
    p->result = memcmp(got, line, len) ? "mismatch" : "ok";
}

static int connect_to_server(void)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    if (getaddrinfo(cfg.host, cfg.port, &hints, &ai) != 0) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && cfg.rcvbuf > 0) {
        int bytes = (int)cfg.rcvbuf;  /* before connect(): the window scale is agreed then */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    }
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int err = errno;
        close(fd);
        fd = -1;
        errno = err;
    }
    freeaddrinfo(ai);
    return fd;
}

static void *play(void *arg)
{
    struct peer *p = arg;
    size_t cap = (cfg.size > 64 ? (size_t)cfg.size : 64) + 1;
    char *line = malloc(cap), *got = malloc(cap);

    p->fd = connect_to_server();
    p->started_ms = now_ms();
    p->deadline_ms = p->started_ms + cfg.hold_ms;
    if (p->fd < 0 || !line || !got) {
        p->result = "refused";
        p->err = errno;
        free(line);
        free(got);
        return NULL;
    }
    switch (cfg.mode) {
    case ECHO: play_echo(p, cfg.lines, line, got); break;
    case CLOSE: play_echo(p, 1, line, got); break;
    case SILENT: wait_for_close(p, NULL, 0); break;
    case ABORT:
        play_echo(p, 1, line, got);
        if (!strcmp(p->result, "ok")) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};  /* close() sends RST */
            setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        break;
    case HALF_CLOSE: play_half_close(p, line); break;
    case SLOWLORIS: play_slowloris(p, line); break;
    case NO_READ: play_no_read(p); break;
    case TOO_LONG: play_too_long(p, line); break;
    case HALF_CLOSE_FIN: {
        int on = 1;  /* hold data back; shutdown() then sends it with the FIN */
        setsockopt(p->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
        play_half_close(p, line);
        break;
    }
    case SPLIT: play_split(p, line, got); break;
    case SLOW_READ: play_slow_read(p, line, got); break;
    case PARTIAL:   /* half a line, then silence: only a line deadline ends it */
        if (send_all(p, line, make_line(line, p->id, 1) - 1) == 0)
            wait_for_close(p, NULL, 0);
        break;
    }
    long long ended = now_ms();
    close(p->fd);

    static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&out);
    printf("conn=%d mode=%s result=%s after=%lldms sent=%ld echoed=%ld", p->id,
           mode_names[cfg.mode], p->result, ended - p->started_ms, p->sent, p->echoed);
    if (!strcmp(p->result, "error")) printf(" errno=%s", strerror(p->err));
    if (p->reply) printf(" reply=%s read-end=%s", p->reply, p->read_end);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&out);
    free(line);
    free(got);
    return NULL;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            printf("usage: client --port N [--host ADDR] [--mode MODE] [--count N]\n"
                   "              [--interval MS] [--lines N] [--size BYTES] [--hold MS]\n"
                   "              [--rcvbuf BYTES] [--chunk BYTES] [--delay MS]\n"
                   "modes: echo close silent abort half-close slowloris no-read\n"
                   "       too-long half-close-fin split slow-read partial\n");
            exit(0);
        }
        static const char *const known[] = {"--host", "--port", "--count", "--interval", "--lines",
                                            "--size", "--hold", "--rcvbuf", "--mode", "--chunk",
                                            "--delay"};
        const char *v = option_value(argc, argv, &i, known, sizeof known / sizeof *known);
        if (!strcmp(a, "--host")) cfg.host = v;
        else if (!strcmp(a, "--port")) { number(a, v, 1, 65535); cfg.port = v; }
        else if (!strcmp(a, "--count")) cfg.count = number(a, v, 1, 100000);
        else if (!strcmp(a, "--interval")) cfg.interval_ms = number(a, v, 0, 86400000);
        else if (!strcmp(a, "--lines")) cfg.lines = number(a, v, 1, 1000000);
        else if (!strcmp(a, "--size")) cfg.size = number(a, v, 0, 1L << 28);
        else if (!strcmp(a, "--hold")) cfg.hold_ms = number(a, v, 0, 86400000);
        else if (!strcmp(a, "--rcvbuf")) cfg.rcvbuf = number(a, v, 0, 1L << 28);
        else if (!strcmp(a, "--chunk")) cfg.chunk = number(a, v, 1, 1L << 28);
        else if (!strcmp(a, "--delay")) cfg.delay_ms = number(a, v, 0, 86400000);
        else if (!strcmp(a, "--mode"))
            cfg.mode = (enum mode)word_index(a, v, mode_names, sizeof mode_names / sizeof *mode_names);
    }
    if (!cfg.port) usage_error("%s", "--port is required");
}

/* pthread_create() fails with EAGAIN when the system lacks the resources for
 * another thread (pthread_create(3)), which can pass in a moment on a busy
 * machine; a test's 300 clients wait that out, up to 2 s, not start fewer. */
static int start_thread(pthread_t *thread, const pthread_attr_t *attr, struct peer *p)
{
    int err = 0;
    for (int tries = 0; tries < 100; tries++) {
        err = pthread_create(thread, attr, play, p);
        if (err != EAGAIN) break;
        poll(NULL, 0, 20);
    }
    errno = err;
    return err;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    struct peer *peers = calloc((size_t)cfg.count, sizeof *peers);
    pthread_t *threads = calloc((size_t)cfg.count, sizeof *threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    if (!peers || !threads) return 1;
    long started = 0;
    for (long i = 0; i < cfg.count; i++) {
        peers[i] = (struct peer){.id = (int)i + 1, .fd = -1, .result = "error"};
        if (start_thread(&threads[i], &attr, &peers[i]) != 0) {
            fprintf(stderr, "client: could not start thread %ld: %s\n", i + 1, strerror(errno));
            break;
        }
        started++;
    }
    for (long i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_attr_destroy(&attr);
    free(peers);
    free(threads);
    return started == cfg.count ? 0 : 1;
}
