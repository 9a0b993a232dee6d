/*
 * Lesson 11: out of descriptors, and the clients who wait.
 *
 * Lesson 09's poll() loop hands the kernel every descriptor on every wait
 * and scans every client for the nearest deadline: O(n) per turn. This one
 * is built to hold 10,000 connections:
 *
 *   - epoll (Linux) keeps the interest list in the kernel; epoll_wait()
 *     returns only the ready descriptors. Level-triggered: a descriptor is
 *     reported again as long as it is ready, like poll().
 *   - every connection has one timer, at its nearest deadline, in a
 *     min-heap (lib/heap.c): the next deadline is the top, O(1); moving a
 *     timer when its deadline moves is O(log n).
 *   - a connection is one slot in a table indexed by its fd (as in redis
 *     ae.c), and its buffers exist only while they hold bytes.
 *
 * Each handler does the little work that is ready, then settle() tells
 * epoll what the connection waits for next and puts its timer at its
 * nearest deadline. It keeps every promise of lessons 01-09: buffered
 * output with backpressure and a write deadline, a lingering close after
 * an error reply, a graceful stop on SIGINT/SIGTERM.
 *
 * Out of descriptors (accept() fails with EMFILE), it stops watching the
 * listener until a client closes, as lesson 09 did: watched, the listener
 * stays readable and level-triggered epoll reports it at once, again and
 * again, a loop at 100% CPU.
 *
 * Solved: a spare descriptor sheds the clients who wait, and --max-conns refuses them early.
 */
#define _POSIX_C_SOURCE 200809L
#define _GNU_SOURCE  /* accept4(), in POSIX.1-2024: glibc declares it only with this */
#include "heap.h"
#include "iobuf.h"
#include "kit.h"
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>   /* Linux */
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    HIGH_WATER = 64 * 1024,  /* output bytes pending: stop reading this client */
    LOW_WATER = 16 * 1024,   /* ... and read again once it is down to this */
    SHUTDOWN_MS = 2000,      /* after SIGTERM, everyone is closed within this */
    MAX_EVENTS = 256,        /* events taken from epoll per wait */
};

enum deadline { IDLE, LINE, WRITE, LINGER, DEADLINES };
static const char *const timeout_reason[DEADLINES] = {"timeout", "line-timeout", "write-timeout",
                                                     NULL /* the reason closing began */};

enum reason { R_NONE, R_TOO_LONG, R_SHUTDOWN, R_WRITE_TIMEOUT };
static const char *const reason_name[] = {NULL, "too-long", "shutdown", "write-timeout"};

enum { WATCH_IN = 1, WATCH_OUT = 2 };

/* One connection, in the slot of the table indexed by its fd (as in redis
 * ae.c). 104 bytes; no buffer is allocated until bytes arrive. */
struct client {
    struct timer timer;           /* the nearest deadline, in the heap */
    struct iobuf *in, *out;       /* NULL while empty */
    long long accepted_ms;
    long long by[DEADLINES];      /* now_ms() time each deadline falls; 0 = not running */
    struct peer_addr peer;
    int fd;
    unsigned used : 1;            /* this slot holds a connection */
    unsigned paused : 1;          /* too much output pending: not reading */
    unsigned peer_eof : 1;        /* the client sent FIN */
    unsigned lingering : 1;       /* we sent FIN; discarding input until the client's */
    unsigned char watching;       /* WATCH_* registered with epoll */
    unsigned char close_after;    /* enum reason: close once the output is sent */
};

static struct {
    struct options opts;
    int epfd, listen_fd, stop_fd, spare_fd;
    struct client *clients;       /* indexed by fd */
    size_t table_size, nclients;
    struct timer_heap timers;
    int accept_paused;            /* out of descriptors: listener not watched */
    int stopping;
    long long stop_by;
} r = {.spare_fd = -1};

static void close_client(struct client *c, const char *reason);
static void watch_listener(unsigned events);
static void start_lingering(struct client *c, long long now);
static void give_up_writing(struct client *c, long long now);
static void settle(struct client *c);

/* ---- deadlines: one timer per connection, at its nearest deadline ---- */

/* The deadline that can end c now, and which one it is (-1: none). While
 * output is pending the client owes us reading (WRITE); while not, bytes
 * (IDLE); a line begun must end (LINE) unless we stopped reading. */
static long long nearest_deadline(const struct client *c, int *which)
{
    int candidates[3], n = 0;
    if (c->lingering) {
        candidates[n++] = LINGER;
    } else {
        candidates[n++] = iobuf_len(c->out) ? WRITE : IDLE;
        if (!c->paused && !c->peer_eof)
            candidates[n++] = LINE;
    }
    long long best = 0;
    *which = -1;
    for (int i = 0; i < n; i++) {
        long long d = c->by[candidates[i]];
        if (d && (!best || d < best)) {
            best = d;
            *which = candidates[i];
        }
    }
    return best;
}

/* Move c's timer to its nearest deadline, or disarm it. O(log n). */
static void rearm_timer(struct client *c)
{
    int which;
    long long d = nearest_deadline(c, &which);
    if (!d)
        timer_cancel(&r.timers, &c->timer);
    else if (timer_arm(&r.timers, &c->timer, d) < 0)
        close_client(c, "error");                /* out of memory: cannot time it */
}

static struct client *client_of(struct timer *t)
{
    return (struct client *)((char *)t - offsetof(struct client, timer));
}

/* include expire */
/* Close (or begin closing) every client whose nearest deadline has passed.
 * Each step removes or moves the first timer, so the loop ends. */
static void expire_timers(long long now)
{
    struct timer *t;
    while ((t = timer_first(&r.timers)) && t->when <= now) {
        struct client *c = client_of(t);
        int which;
        nearest_deadline(c, &which);
        if (which < 0)
            timer_cancel(&r.timers, t);          /* cannot happen: settle() re-arms */
        else if (which == LINGER)
            close_client(c, reason_name[c->close_after]);
        else if (which == WRITE)
            give_up_writing(c, now);             /* closes well, like the thread lessons */
        else
            close_client(c, timeout_reason[which]);
    }
}
/* end expire */

/* ---- after every event: tell epoll what c waits for, re-arm its timer ---- */

/* include settle */
static void settle(struct client *c)
{
    if (!c->used)
        return;                                  /* closed while handling the event */
    unsigned char want = 0;
    if (c->lingering || (!c->paused && !c->peer_eof && !c->close_after))
        want |= WATCH_IN;
    if (iobuf_len(c->out))
        want |= WATCH_OUT;
    if (want != c->watching) {
        struct epoll_event ev = {.events = (want & WATCH_IN ? EPOLLIN : 0u) |
                                           (want & WATCH_OUT ? EPOLLOUT : 0u),
                                 .data.fd = c->fd};
        epoll_ctl(r.epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->watching = want;
    }
    rearm_timer(c);
}
/* end settle */

/* ---- output: buffered, with backpressure ------------------------------ */

/* include flush */
/* Send what the kernel takes; keep the rest for EPOLLOUT. */
static void flush_output(struct client *c, long long now)
{
    while (iobuf_len(c->out) > 0) {
        ssize_t n = send(c->fd, iobuf_data(c->out), iobuf_len(c->out), MSG_NOSIGNAL);
        if (n > 0) {
            /* A reply taken whole starts the next one's clock; progress
             * inside a reply does not restart it (lesson 05's promise). */
            if (r.opts.write_timeout_ms && memchr(iobuf_data(c->out), '\n', (size_t)n))
                c->by[WRITE] = now + r.opts.write_timeout_ms;
            iobuf_consume(&c->out, (size_t)n);   /* frees the buffer once empty */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;                               /* the client's window is full: wait */
        close_client(c, reason_for_errno(errno));
        return;
    }
}
/* end flush */

/* Queue bytes for the client; the write deadline starts with the first. */
static int queue_output(struct client *c, const char *p, size_t len, long long now)
{
    if (iobuf_len(c->out) == 0)
        c->by[WRITE] = r.opts.write_timeout_ms ? now + r.opts.write_timeout_ms : 0;
    return iobuf_append(&c->out, p, len);
}

/* ---- input: lines ------------------------------------------------------ */

/* include frame */
/* Echo every whole line held. With HIGH_WATER bytes of output pending,
 * stop: pause reading until the client takes its replies (backpressure).
 * Then look at what is left: a line too long, a line begun (its clock
 * starts), or after the client's FIN an unfinished last line (echoed). */
static void frame_lines(struct client *c, long long now)
{
    size_t len;
    while ((len = iobuf_line_length(c->in)) > 0) {
        if (iobuf_len(c->out) >= HIGH_WATER) {
            c->paused = 1;                       /* lines wait in `in`; no reading */
            return;
        }
        if (queue_output(c, iobuf_data(c->in), len, now) < 0) {
            close_client(c, "error");
            return;
        }
        iobuf_consume(&c->in, len);
        c->by[LINE] = 0;                         /* that line made it in time */
    }
    if (iobuf_len(c->in) > (size_t)r.opts.max_line) {
        static const char err[] = "ERR line too long\n";
        iobuf_free(&c->in);
        c->close_after = R_TOO_LONG;
        if (queue_output(c, err, sizeof err - 1, now) < 0)
            close_client(c, "error");
    } else if (c->peer_eof && iobuf_len(c->in) > 0) {
        if (queue_output(c, iobuf_data(c->in), iobuf_len(c->in), now) < 0)
            close_client(c, "error");
        iobuf_free(&c->in);
    } else if (iobuf_len(c->in) > 0 && !c->by[LINE] && r.opts.line_timeout_ms) {
        c->by[LINE] = now + r.opts.line_timeout_ms;  /* a new line has begun */
    }
}
/* end frame */

/* All output sent: close after a half-close, begin closing well, or wait
 * for the client's next line (its idle clock starts now). */
static void output_drained(struct client *c, long long now)
{
    if (c->close_after && c->peer_eof)
        close_client(c, reason_name[c->close_after]);  /* its FIN is in: nothing to drain */
    else if (c->close_after)
        start_lingering(c, now);
    else if (c->peer_eof && !iobuf_len(c->in))
        close_client(c, "eof");                  /* half-close: every reply is out */
    else if (r.opts.idle_timeout_ms)
        c->by[IDLE] = now + r.opts.idle_timeout_ms;  /* we wait for the client again */
}

/* include pump */
/* Echo and send all that can go now. When the output drains to LOW_WATER,
 * lift the backpressure and frame the lines that waited. */
static void pump(struct client *c, long long now)
{
    for (;;) {
        frame_lines(c, now);
        if (c->used)
            flush_output(c, now);
        if (!c->used)
            return;
        if (!c->paused || iobuf_len(c->out) > LOW_WATER)
            break;
        c->paused = 0;
    }
    if (!iobuf_len(c->out))
        output_drained(c, now);
}
/* end pump */

/* include read */
static void on_readable(struct client *c, long long now)
{
    size_t room;
    char *space = iobuf_space(&c->in, (size_t)r.opts.max_line + 1, &room);
    if (!space) {
        close_client(c, "error");                /* ENOMEM (a full line was framed already) */
        return;
    }
    ssize_t n = recv(c->fd, space, room, 0);
    if (n < 0 || n == 0) {
        if (iobuf_len(c->in) == 0)
            iobuf_free(&c->in);                  /* nothing came: hold no memory */
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            close_client(c, reason_for_errno(errno));
        if (n < 0)
            return;
        c->peer_eof = 1;                         /* FIN: no more lines will come */
    } else {
        iobuf_added(c->in, (size_t)n);
        if (r.opts.idle_timeout_ms)
            c->by[IDLE] = now + r.opts.idle_timeout_ms;
    }
    pump(c, now);
}
/* end read */

/* ---- closing well ------------------------------------------------------- */

/* Send our FIN, then read and discard until the client's FIN (or LINGER_MS):
 * closing with unread input would send RST, which can destroy our last
 * reply in the client's kernel before the client reads it. */
static void start_lingering(struct client *c, long long now)
{
    shutdown(c->fd, SHUT_WR);
    c->lingering = 1;
    c->by[LINGER] = now + LINGER_MS;
    iobuf_free(&c->in);
}

/* The client did not take its replies within --write-timeout: drop them,
 * and close well, as the thread lessons do: our FIN, then LINGER_MS of
 * reading what it still sends, so that our close() does not reset it. */
static void give_up_writing(struct client *c, long long now)
{
    iobuf_free(&c->out);
    c->close_after = R_WRITE_TIMEOUT;
    start_lingering(c, now);
    settle(c);
}

static void discard_input(struct client *c)
{
    char sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close_client(c, reason_name[c->close_after]);  /* the client's FIN (or RST) */
        return;
    }
}

static void close_client(struct client *c, const char *reason)
{
    struct conn log = {.fd = c->fd, .accepted_ms = c->accepted_ms};
    peer_addr_format(&c->peer, log.peer, sizeof log.peer);
    timer_cancel(&r.timers, &c->timer);
    close(c->fd);                                /* also removes it from epoll */
    log_close(&log, reason);
    iobuf_free(&c->in);
    iobuf_free(&c->out);
    memset(c, 0, sizeof *c);
    r.nclients--;
    if (r.accept_paused && !r.stopping) {        /* a descriptor is free again */
        r.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        watch_listener(EPOLLIN);
    }
}

/* ---- accepting ---------------------------------------------------------- */

/* Close a connection we will not serve, with a log line saying why. */
static void refuse(int fd, const struct sockaddr *sa, const char *reason)
{
    struct peer_addr p;
    struct conn log = {.fd = fd, .accepted_ms = now_ms()};
    peer_addr_save(&p, sa);
    peer_addr_format(&p, log.peer, sizeof log.peer);
    close(fd);
    log_event("refuse", &log, reason);
}

/* Watch the listener, or stop watching it (0) while we cannot accept. */
static void watch_listener(unsigned events)
{
    struct epoll_event ev = {.events = events, .data.fd = r.listen_fd};
    epoll_ctl(r.epfd, EPOLL_CTL_MOD, r.listen_fd, &ev);
    r.accept_paused = !events;
}

/* include pause_accepting */
/* Out of descriptors (EMFILE, or ENFILE: the whole system is out): the
 * connection stays queued and the listener stays readable, so epoll would
 * report it again at once, a spin. Stop watching the listener until a client
 * closes and frees a descriptor (lesson 09 did the same). With no client to
 * close, wait 50 ms and try again instead. */
static void pause_accepting(void)
{
    if (r.nclients == 0)
        poll(NULL, 0, 50);
    else
        watch_listener(0);
}
/* end pause_accepting */

/* include spare_fd */
/* Out of descriptors (EMFILE): the connection stays queued and the listener
 * stays readable. Spend the spare descriptor to take it off the queue and
 * close it (the client reads EOF instead of hanging), then take the spare
 * back. 1 if a connection was shed, 0 if none was waiting. (Linux reports
 * EMFILE before it looks at the queue, so an empty queue also ends here.)
 * No spare? Pause accepting, as lesson 10 did. */
static int shed_connection(void)
{
    int shed = 0;
    if (r.spare_fd >= 0) {
        close(r.spare_fd);
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept(r.listen_fd, (struct sockaddr *)&ss, &len);
        if (fd >= 0) {
            refuse(fd, (struct sockaddr *)&ss, "reason=no-fds");
            shed = 1;
        }
        r.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (r.spare_fd < 0)
        pause_accepting();
    return shed;
}
/* end spare_fd */

static void add_client(int fd, const struct sockaddr *sa, long long now)
{
    if (set_dead_peer_options(fd, &r.opts) < 0) {   /* lesson 06 */
        refuse(fd, sa, "reason=error");
        return;
    }
    struct client *c = &r.clients[fd];
    *c = (struct client){.fd = fd, .used = 1, .accepted_ms = now, .watching = WATCH_IN};
    timer_init(&c->timer);
    peer_addr_save(&c->peer, sa);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(r.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        refuse(fd, sa, "reason=error");
        c->used = 0;
        return;
    }
    r.nclients++;
    if (r.opts.idle_timeout_ms)
        c->by[IDLE] = now + r.opts.idle_timeout_ms;
    rearm_timer(c);
}

/* include accept */
static void accept_clients(void)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(r.listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && shed_connection())
                continue;
            return;                              /* EAGAIN: the queue is empty */
        }
        if ((size_t)fd >= r.table_size)
            refuse(fd, (struct sockaddr *)&ss, "reason=no-fds");
        else if (r.opts.max_conns && r.nclients >= (size_t)r.opts.max_conns)
            refuse(fd, (struct sockaddr *)&ss, "reason=max-conns");
        else
            add_client(fd, (struct sockaddr *)&ss, now_ms());  /* a long queue takes a while */
    }
}
/* end accept */

/* ---- stopping ----------------------------------------------------------- */

/* SIGINT/SIGTERM: accept no more; let every client have its replies, then
 * close each one well. What is still open at stop_by is closed anyway. */
static void begin_shutdown(long long now)
{
    r.stopping = 1;
    r.stop_by = now + SHUTDOWN_MS;
    close(r.listen_fd);                          /* new connections are refused */
    for (size_t fd = 0; fd < r.table_size; fd++) {
        struct client *c = &r.clients[fd];
        if (!c->used || c->lingering)
            continue;
        if (iobuf_len(c->out) > 0)
            c->close_after = R_SHUTDOWN;         /* finish writing first */
        else if (c->peer_eof)
            close_client(c, "eof");
        else {
            c->close_after = R_SHUTDOWN;
            start_lingering(c, now);
        }
        settle(c);
    }
}

/* ---- the loop ------------------------------------------------------------ */

static void dispatch(const struct epoll_event *ev, long long now)
{
    int fd = ev->data.fd;
    if (fd == r.stop_fd) {
        if (!r.stopping)
            begin_shutdown(now);
        char drain[64];
        while (read(r.stop_fd, drain, sizeof drain) > 0) {}
        return;
    }
    if (fd == r.listen_fd) {
        if (!r.stopping)
            accept_clients();
        return;
    }
    struct client *c = &r.clients[fd];
    if (!c->used)
        return;
    if ((ev->events & EPOLLOUT) || ((ev->events & (EPOLLERR | EPOLLHUP)) && !(c->watching & WATCH_IN)))
        pump(c, now);
    if (c->used && (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (c->watching & WATCH_IN)) {
        if (c->lingering)
            discard_input(c);
        else
            on_readable(c, now);
    }
    settle(c);
}

/* include loop */
static void run_loop(void)
{
    static struct epoll_event events[MAX_EVENTS];
    for (;;) {
        long long now = now_ms();
        expire_timers(now);
        if (r.stopping && (r.nclients == 0 || now >= r.stop_by))
            return;
        struct timer *first = timer_first(&r.timers);
        long long wake = first ? first->when : 0;
        if (r.stopping && (!wake || r.stop_by < wake))
            wake = r.stop_by;
        /* now_ms() again: closing many expired clients takes time */
        int n = epoll_wait(r.epfd, events, MAX_EVENTS, timeout_until(wake, now_ms()));
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return;
        }
        now = now_ms();
        for (int i = 0; i < n; i++)
            dispatch(&events[i], now);
    }
}
/* end loop */

/* One table slot per possible descriptor (RLIMIT_NOFILE, at most 1M):
 * calloc'd pages are untouched until a connection uses its slot. */
static size_t table_size(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20))
        return 1u << 20;
    return (size_t)rl.rlim_cur;
}

static void watch(int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(r.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("epoll_ctl");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    options_parse(argc, argv, OPT_IDLE_TIMEOUT | OPT_LINE_TIMEOUT | OPT_MAX_LINE |
                              OPT_WRITE_TIMEOUT | OPT_USER_TIMEOUT | OPT_KEEPALIVE |
                              OPT_MAX_CONNS, &r.opts);
    r.stop_fd = stop_signal_pipe();
    r.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    r.table_size = table_size();
    r.clients = calloc(r.table_size, sizeof *r.clients);
    r.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r.stop_fd < 0 || r.spare_fd < 0 || !r.clients || r.epfd < 0) {
        perror("setup");
        return 1;
    }
    r.opts.before_bind = reuse_address;   /* lesson 08: restart despite TIME-WAIT */
    r.listen_fd = listen_and_announce(&r.opts);
    set_nonblocking(r.listen_fd);
    watch(r.stop_fd);
    watch(r.listen_fd);
    run_loop();
    for (size_t fd = 0; fd < r.table_size; fd++)   /* the shutdown deadline passed */
        if (r.clients[fd].used)
            close_client(&r.clients[fd], "shutdown");
    if (!r.stopping)
        close(r.listen_fd);
    close(r.epfd);
    close(r.spare_fd);
    free(r.clients);
    timer_heap_free(&r.timers);
    return 0;
}
