/*
 * kit.h - the small helpers every lesson server shares.
 *
 * None of this is what a lesson is about. It is the plumbing that keeps each
 * lesson's server.c short enough to read in one sitting: options, the
 * listening socket and its ready line, the accept loop that starts one thread
 * per connection, the event log on stderr, and a monotonic clock.
 *
 * The server contract (see README.md) lives here, so every lesson keeps it:
 *   - `listening on 127.0.0.1:PORT` on stdout, once, flushed;
 *   - one line per connection event on stderr:
 *       close 127.0.0.1:51234 reason=timeout after=503ms
 *   - a bad option names itself and exits 2; SIGINT/SIGTERM exit 0.
 */
#ifndef KIT_H
#define KIT_H

#include <stddef.h>
#include <sys/types.h>

/* ---- options ------------------------------------------------------- */

/* Which deadline options a lesson accepts (they appear lesson by lesson). */
enum {
    OPT_IDLE_TIMEOUT  = 1 << 0, /* --idle-timeout MS  (from lesson 02) */
    OPT_LINE_TIMEOUT  = 1 << 1, /* --line-timeout MS  (from lesson 04) */
    OPT_MAX_LINE      = 1 << 2, /* --max-line BYTES   (from lesson 04) */
    OPT_WRITE_TIMEOUT = 1 << 3, /* --write-timeout MS (from lesson 05) */
    OPT_USER_TIMEOUT  = 1 << 4, /* --user-timeout MS  (from lesson 06) */
    OPT_KEEPALIVE     = 1 << 5, /* --keepalive MS     (from lesson 06) */
    OPT_MAX_CONNS     = 1 << 6, /* --max-conns N      (reactor)        */
};

struct options {
    const char *host;      /* --host ADDR, default 127.0.0.1 */
    int port;              /* --port N, default 12345; 0: the kernel picks */
    long idle_timeout_ms;  /* 0 = no deadline (the same for every *_ms) */
    long line_timeout_ms;
    long write_timeout_ms;
    long user_timeout_ms;
    long keepalive_ms;
    long max_line;         /* longest line accepted, in bytes */
    long max_conns;        /* 0 = no limit */
    /* Set by a lesson, not by an option: called with the listening socket
     * just before bind(), e.g. to set SO_REUSEADDR (lesson 08). NULL: none. */
    void (*before_bind)(int listen_fd);
};

/* Fill *o from argv. Accepts only the OPT_* flags in `allowed` (plus --host,
 * --port, --help). A bad option prints one line naming it and exits 2. */
void options_parse(int argc, char **argv, unsigned allowed, struct options *o);

/* ---- sockets ------------------------------------------------------- */

/* One accepted connection. The lesson's handler owns fd: closing it is the
 * handler's job (that is lesson 01). The struct itself is freed for you. */
struct conn {
    int fd;
    char peer[64];          /* "127.0.0.1:51234", for the log */
    long long accepted_ms;  /* now_ms() when accept() returned it */
};

/* Bind, listen, print `listening on HOST:PORT` (the real port) and flush.
 * Exits with a message if the address is bad or in use. */
int listen_and_announce(const struct options *o);

/* Accept connections forever, one detached thread each, running handle(c).
 * Returns (so main can exit 0) after SIGINT or SIGTERM. */
void serve_thread_per_connection(int listen_fd, void (*handle)(struct conn *c));

/* Write all len bytes, retrying short writes and EINTR. 0 on success,
 * -1 with errno set on failure. Never raises SIGPIPE. */
int write_all(int fd, const void *buf, size_t len);

/* The log reason for a failed read or write: "reset" for a peer's RST,
 * "dead-peer" for ETIMEDOUT (the kernel gave up on the peer: see
 * set_dead_peer_options), else "error". Our own deadlines (read_by(),
 * write_by()) report EAGAIN, never ETIMEDOUT: callers name those first. */
const char *reason_for_errno(int err);

/* Lesson 06's fix, for the lessons after it: ask the kernel to give up on
 * a peer that stops answering (Linux). --user-timeout sets
 * TCP_USER_TIMEOUT (unacknowledged data is given up that long after its
 * first retransmission); --keepalive
 * turns on SO_KEEPALIVE, probing after that much silence, again as often,
 * 3 times. 0, or -1 with errno set if the kernel refused an option. */
int set_dead_peer_options(int fd, const struct options *o);

/* Lesson 07's fix, for the lessons after it: close fd so that the client
 * gets every byte we sent, then EOF, never RST: shutdown(SHUT_WR), read and
 * discard what the client still sends until its FIN or for at most 1 s,
 * then close(). (lib/close_gracefully.c; lesson 07 writes its own.) */
void close_gracefully(int fd);

/* How long a closing server keeps reading (and throwing away) what the
 * client still sends, before it closes anyway: lesson 07's lingering close,
 * the same in every lesson from 07 on, threads and loops. */
enum { LINGER_MS = 1000 };

/* Lesson 08's fix, for the lessons after it, as options.before_bind:
 * SO_REUSEADDR, so a restarted server binds its port while its old
 * connections sit in TIME-WAIT. (lib/reuse_address.c; lesson 08 writes its
 * own.) */
void reuse_address(int listen_fd);

/* ---- log and clock ------------------------------------------------- */

/* Log one connection event on stderr, in one write() so lines from
 * different threads never interleave:  close PEER reason=R after=Nms */
void log_close(const struct conn *c, const char *reason);

/* Log a free-form event line about a connection: "EVENT PEER DETAIL". */
void log_event(const char *event, const struct conn *c, const char *detail);

/* Milliseconds from CLOCK_MONOTONIC: never jumps when the wall clock does. */
long long now_ms(void);

#endif
