/*
 * Lesson 09: one thread for every connection, an event loop on poll().
 *
 * Lessons 01-08 gave each connection a thread that blocks in read(). This
 * server has one thread for all of them. Every socket is non-blocking;
 * poll() waits until one of them is ready, the loop does the little work that
 * is ready (read what arrived, echo whole lines, write what the kernel
 * accepts) and goes back to poll(). A blocked thread kept its deadline in the
 * kernel (the timeout inside read_by()); here a deadline is just data: each
 * connection keeps the times by which something must happen,
 *
 *   idle_by    bytes must arrive by then       (--idle-timeout)
 *   line_by    the line begun must end by then (--line-timeout)
 *   write_by   the client must take our echo   (--write-timeout)
 *   linger_by  a closing client must say FIN   (after ERR line too long)
 *
 * and expire_deadlines() closes the connections whose time has come. But the
 * loop only runs when poll() returns.
 *
 * Solved: next_timeout() returns the ms to the nearest client deadline, rounded up, or -1 if none.
 */
#define _POSIX_C_SOURCE 200809L
#include "iobuf.h"
#include "kit.h"
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { LINGER_MS = 500 };  /* how long a closing client gets to send its FIN */

enum state {
    READING,    /* waiting for bytes (POLLIN) */
    WRITING,    /* the kernel refused part of our echo: wait for POLLOUT */
    LINGERING,  /* we sent FIN after an error reply: discard input until the client's FIN */
};

struct client {
    struct conn c;            /* fd, peer, accepted_ms: what the log needs */
    enum state state;
    struct iobuf *in, *out;   /* NULL while empty: idle clients hold no buffers */
    const char *close_after;  /* close with this reason once `out` is sent */
    long long idle_by, line_by, write_by, linger_by;  /* now_ms() times; 0 = none */
};

static struct options opts;
static struct pollfd *pfds;       /* [0] stop pipe, [1] listener, [2 + i] clients[i] */
static struct client **clients;
static size_t nclients, capacity;
enum { FIRST_CLIENT = 2 };

static void close_client(size_t i, const char *reason);
static void send_output(size_t i, long long now);

/* ---- deadlines: the point of this lesson --------------------------- */

/* include deadline */
/* The deadline that applies to c in its current state, or 0 for none. */
static long long client_deadline(const struct client *c)
{
    switch (c->state) {
    case READING: {
        long long d = c->idle_by;
        if (c->line_by && (!d || c->line_by < d))
            d = c->line_by;
        return d;
    }
    case WRITING: return c->write_by;
    case LINGERING: return c->linger_by;
    }
    return 0;
}
/* end deadline */

/* include next_timeout */
/* How long poll() may sleep: until the nearest deadline of any client.
 * Deadlines due at `now` were expired just before, so each one left is at
 * least 1 ms away: the timeout is -1 (no deadlines) or >= 1, never 0. */
static int next_timeout(long long now)
{
    long long nearest = 0;
    for (size_t i = 0; i < nclients; i++) {
        long long d = client_deadline(clients[i]);
        if (d && (!nearest || d < nearest))
            nearest = d;
    }
    if (!nearest)
        return -1;                 /* nothing can time out: wait for events only */
    /* now_ms() rounds the clock down, so this rounds the wait up: poll()
     * never returns before the deadline and finds nothing due (a spin). */
    long long left = nearest - now;
    if (left < 1)
        left = 1;
    return left > INT_MAX ? INT_MAX : (int)left;
}
/* end next_timeout */

/* Close every client whose deadline has passed, with the reason it passed. */
static void expire_deadlines(long long now)
{
    for (size_t i = nclients; i-- > 0;) {
        struct client *c = clients[i];
        long long d = client_deadline(c);
        if (!d || d > now)
            continue;
        if (c->state == WRITING)
            close_client(i, "write-timeout");
        else if (c->state == LINGERING)
            close_client(i, c->close_after);
        else if (d == c->line_by)
            close_client(i, "line-timeout");
        else
            close_client(i, "timeout");
    }
}

/* ---- one client's events -------------------------------------------- */

/* Wait for what the state needs: bytes (and FIN) or room to write. */
static void set_state(size_t i, enum state s)
{
    clients[i]->state = s;
    pfds[FIRST_CLIENT + i].events = s == WRITING ? POLLOUT : POLLIN;
}

/* Queue the reply to a line that is too long; close well once it is sent. */
static void reply_too_long(struct client *c)
{
    static const char err[] = "ERR line too long\n";
    iobuf_free(&c->in);
    if (iobuf_append(&c->out, err, sizeof err - 1) == 0)
        c->close_after = "too-long";
}

/* Move every whole line from input to output (the echo), then check what
 * is left: a line too long, or a line begun, which starts the line clock. */
static void frame_lines(size_t i, long long now)
{
    struct client *c = clients[i];
    size_t len;
    while ((len = iobuf_line_length(c->in)) > 0) {
        if (iobuf_append(&c->out, iobuf_data(c->in), len) < 0) {
            close_client(i, "error");
            return;
        }
        iobuf_consume(&c->in, len);
        c->line_by = 0;                          /* that line made it in time */
    }
    if (iobuf_len(c->in) > (size_t)opts.max_line)
        reply_too_long(c);
    else if (iobuf_len(c->in) > 0 && !c->line_by && opts.line_timeout_ms)
        c->line_by = now + opts.line_timeout_ms;  /* a new line has begun */
    if (iobuf_len(c->out) > 0)
        send_output(i, now);
}

/* The client sent FIN: echo an unfinished last line, then close. */
static void on_eof(size_t i, long long now)
{
    struct client *c = clients[i];
    if (iobuf_len(c->in) == 0) {
        close_client(i, "eof");
        return;
    }
    iobuf_append(&c->out, iobuf_data(c->in), iobuf_len(c->in));
    iobuf_free(&c->in);
    c->close_after = "eof";
    send_output(i, now);
}

/* After an error reply: send our FIN, keep reading (and discarding) until
 * the client's FIN, so unread input does not turn our close() into an RST
 * that could destroy the reply before the client reads it. */
static void start_lingering(size_t i, long long now)
{
    struct client *c = clients[i];
    shutdown(c->c.fd, SHUT_WR);
    c->linger_by = now + LINGER_MS;
    set_state(i, LINGERING);
}

static void drain_input(size_t i)
{
    char sink[4096];
    for (;;) {
        ssize_t n = recv(clients[i]->c.fd, sink, sizeof sink, 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close_client(i, clients[i]->close_after);  /* FIN (or RST): done */
        return;
    }
}

static void on_readable(size_t i, long long now)
{
    struct client *c = clients[i];
    if (c->state == LINGERING) {
        drain_input(i);
        return;
    }
    size_t room;
    char *space = iobuf_space(&c->in, (size_t)opts.max_line + 1, &room);
    if (!space) {
        close_client(i, "error");
        return;
    }
    ssize_t n = recv(c->c.fd, space, room, 0);
    if (n > 0) {
        iobuf_added(c->in, (size_t)n);
        if (opts.idle_timeout_ms)
            c->idle_by = now + opts.idle_timeout_ms;  /* bytes came: the idle clock restarts */
        frame_lines(i, now);
        return;
    }
    if (iobuf_len(c->in) == 0)
        iobuf_free(&c->in);                       /* nothing came: hold no memory */
    if (n == 0)
        on_eof(i, now);
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        close_client(i, reason_for_errno(errno));
}

/* Write what the kernel takes. Stop reading until all of it is sent, so
 * a client that does not read cannot make us buffer without bound. */
static void send_output(size_t i, long long now)
{
    struct client *c = clients[i];
    while (iobuf_len(c->out) > 0) {
        ssize_t n = send(c->c.fd, iobuf_data(c->out), iobuf_len(c->out), MSG_NOSIGNAL);
        if (n > 0) {
            /* A reply taken whole starts the next one's clock; progress
             * inside a reply does not restart it (lesson 05's promise). */
            if (opts.write_timeout_ms && memchr(iobuf_data(c->out), '\n', (size_t)n))
                c->write_by = now + opts.write_timeout_ms;
            iobuf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != WRITING) {
                c->write_by = opts.write_timeout_ms ? now + opts.write_timeout_ms : 0;
                set_state(i, WRITING);
            }
            return;
        }
        close_client(i, reason_for_errno(errno));
        return;
    }
    c->write_by = 0;
    set_state(i, READING);
    if (opts.idle_timeout_ms)
        c->idle_by = now + opts.idle_timeout_ms;  /* we wait for the client again: from now */
    if (c->close_after && !strcmp(c->close_after, "too-long"))
        start_lingering(i, now);
    else if (c->close_after)
        close_client(i, c->close_after);
}

/* ---- the loop -------------------------------------------------------- */

static void close_client(size_t i, const char *reason)
{
    struct client *c = clients[i];
    close(c->c.fd);
    log_close(&c->c, reason);
    iobuf_free(&c->in);
    iobuf_free(&c->out);
    free(c);
    nclients--;                                   /* the last client takes slot i */
    clients[i] = clients[nclients];
    pfds[FIRST_CLIENT + i] = pfds[FIRST_CLIENT + nclients];
    pfds[1].events = POLLIN;                      /* an fd is free: accept again */
}

static int add_client(const struct conn *conn)
{
    if (nclients == capacity) {
        size_t cap = capacity ? capacity * 2 : 64;
        struct pollfd *p = realloc(pfds, (FIRST_CLIENT + cap) * sizeof *p);
        if (p) pfds = p;
        struct client **cl = realloc(clients, cap * sizeof *cl);
        if (cl) clients = cl;
        if (!p || !cl)
            return -1;
        capacity = cap;
    }
    struct client *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->c = *conn;
    c->idle_by = opts.idle_timeout_ms ? conn->accepted_ms + opts.idle_timeout_ms : 0;
    clients[nclients] = c;
    pfds[FIRST_CLIENT + nclients] = (struct pollfd){.fd = conn->fd, .events = POLLIN};
    nclients++;
    return 0;
}

/* Accept every waiting connection. Out of descriptors, stop watching the
 * listener until a client closes; with no client to close (ENFILE is
 * system-wide), wait 50 ms and try again. Lesson 11 answers EMFILE better. */
static void accept_clients(void)
{
    for (;;) {
        struct conn conn;
        if (accept_nonblocking(pfds[1].fd, &conn) < 0) {
            if ((errno == EMFILE || errno == ENFILE) && nclients == 0) {
                poll(NULL, 0, 50);                    /* no client to close: back off, retry */
                return;
            }
            if (errno == EMFILE || errno == ENFILE)
                pfds[1].events = 0;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;                                   /* EAGAIN: no one else waiting */
        }
        if (set_dead_peer_options(conn.fd, &opts) < 0 || add_client(&conn) < 0) {  /* lesson 06 */
            close(conn.fd);
            log_close(&conn, "error");
        }
    }
}

/* include loop */
static void run_loop(void)
{
    for (;;) {
        long long now = now_ms();
        expire_deadlines(now);
        int ready = poll(pfds, FIRST_CLIENT + nclients, next_timeout(now));
        if (ready < 0 && errno != EINTR) {
            perror("poll");
            return;
        }
        if (ready <= 0)
            continue;                         /* a timeout: expire on the next turn */
        now = now_ms();
        if (pfds[0].revents)
            return;                           /* SIGINT or SIGTERM */
        if (pfds[1].revents & POLLIN)
            accept_clients();
        for (size_t i = nclients; i-- > 0;) { /* backwards: closing moves the last into i */
            short ev = pfds[FIRST_CLIENT + i].revents;
            if (ev & (POLLIN | POLLHUP | POLLERR))
                clients[i]->state == WRITING ? send_output(i, now) : on_readable(i, now);
            else if (ev & POLLOUT)
                send_output(i, now);
        }
    }
}
/* end loop */

int main(int argc, char **argv)
{
    options_parse(argc, argv,
                  OPT_IDLE_TIMEOUT | OPT_LINE_TIMEOUT | OPT_MAX_LINE | OPT_WRITE_TIMEOUT |
                  OPT_USER_TIMEOUT | OPT_KEEPALIVE, &opts);
    int stop_fd = stop_signal_pipe();
    opts.before_bind = reuse_address;   /* lesson 08: restart despite TIME-WAIT */
    int listen_fd = listen_and_announce(&opts);
    if (stop_fd < 0 || set_nonblocking(listen_fd) < 0) {
        perror("setup");
        return 1;
    }
    pfds = malloc(FIRST_CLIENT * sizeof *pfds);
    if (!pfds)
        return 1;
    pfds[0] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
    pfds[1] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    run_loop();
    while (nclients > 0)                      /* stopping: close everyone */
        close_client(nclients - 1, "shutdown");
    close(listen_fd);
    free(pfds);
    free(clients);
    return 0;
}
