/*
 * timeline - record every TCP connection on one port as its states over
 * time, and draw the recording as an SVG: one lane per connection, coloured
 * by state. What a teacher draws on the board, from a real kernel.
 *
 *   timeline record --port N [--pid PID] [--log FILE] [--interval MS]
 *                   [--duration MS] [--title TEXT] [--out FILE.tl] [--new-only]
 *   timeline svg [--title TEXT] [--label TEXT] REC.tl [[--label TEXT] REC2.tl ...]
 *   timeline lanes REC.tl        one line per connection (tests read this)
 *   timeline cost [--ms MS]      the recorder's own CPU (also: --selftest)
 *
 * How it sees the sockets: the kernel's sock_diag netlink socket
 * (NETLINK_SOCK_DIAG with an inet_diag_req_v2 dump, what `ss` uses), every
 * --interval ms, with a filter (sport = N or dport = N) that runs in the
 * kernel so only this port's sockets are copied out. A sampler misses any
 * state shorter than one interval, so it also joins the SOCK_DIAG destroy
 * multicast groups (what `ss -E` reads; no privileges needed): the kernel
 * says when a socket is freed, which dates the end of a connection, or its
 * step into TIME-WAIT, to the millisecond even between two samples.
 *
 * The recording (.tl) is text, one fact a line; times are ms since start.
 * Header lines come first, written once the recorder is ready:
 *
 *   timeline 1                  format version
 *   port 41234                  the port recorded
 *   interval 20                 ms between samples
 *   destroy on                  kernel destroy events joined (or: off REASON)
 *   pid 1234                    (with --pid) the server whose fds are counted
 *   log /tmp/server.log         (with --log) the server log being followed
 *   title lesson 01 starter     (with --title)
 *   ignored 20                  (with --new-only) connections there before the
 *                               start, left out
 *   clock 1718000000000         wall-clock ms at time 0
 *
 * then events, in time order:
 *
 *   T new ID SIDE LOCAL PEER STATE   a connection first seen (ID from 1); SIDE
 *                                    is server (local port = N) or client;
 *                                    STATE is - if only a destroy event saw it
 *   T state ID STATE                 a sample sees the connection in a new state
 *   T destroy ID                     the kernel freed its socket: the end, or its
 *                                    move into a mini-socket (TIME-WAIT, or an
 *                                    orphan's FIN-WAIT-2); dated when read
 *   T gone ID LAST                   the first sample without it; LAST: the
 *                                    last sample that saw it (- if none did)
 *   T log KIND ADDR REASON           a server log line (`close ADDR reason=R
 *                                    ...`); ADDR is the client's address:port
 *   T proc FDS THREADS               the server's fds and threads, on change
 *                                    (- - once the process is gone)
 *   T lost destroy                   destroy events were dropped (socket overrun)
 *   T end                            the recording stopped
 *
 * States are named as ss names them: SYN-SENT SYN-RECV ESTAB FIN-WAIT-1
 * FIN-WAIT-2 TIME-WAIT CLOSE CLOSE-WAIT LAST-ACK CLOSING.
 *
 * The drawing half (parsing a recording, `lanes`, `svg`) is timeline-render.c,
 * included at the end of this file: the kit builds each tool from one .c file
 * (lib/build.mk). Linux only (netlink, /proc, inotify).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char help_text[] =
"usage: timeline record --port N [--pid PID] [--log FILE] [--interval MS]\n"
"                       [--duration MS] [--title TEXT] [--out FILE.tl] [--new-only]\n"
"       timeline svg [--title TEXT] [--label TEXT] REC.tl [[--label TEXT] REC2.tl ...] > out.svg\n"
"       timeline lanes REC.tl\n"
"       timeline cost [--ms MS]  (or --selftest)\n"
"\n"
"record   samples every TCP socket whose local or remote port is N (the server\n"
"         side and the client side, IPv4 and IPv6) every --interval ms (20), and\n"
"         writes each connection's state changes, the server's fd and thread\n"
"         counts (--pid) and its `close ADDR reason=R` log lines (--log, read as\n"
"         they are written) to --out (default stdout), until SIGINT/SIGTERM or\n"
"         --duration ms. No root needed: the kernel's sock_diag netlink socket,\n"
"         as `ss` uses it. The format is described at the top of timeline.c.\n"
"         --new-only leaves out the connections already there when it starts:\n"
"         a port the kernel picked (--port 0) can still have TIME-WAIT sockets\n"
"         of an earlier server that had the same number.\n"
"svg      draws one or more recordings, stacked on one time axis (bug above\n"
"         fix): a lane per connection coloured by state, server side and client\n"
"         side, the server's log events on their lanes, the count of each state\n"
"         and the fd count below. --label names the next recording (default:\n"
"         its --title, or its file name). Self-contained: no scripts or fonts.\n"
"lanes    one line per connection: ID SIDE LOCAL PEER, then STATE@ms for each\n"
"         state seen, destroy@ms, log:REASON@ms, last@ms (the last sample that\n"
"         saw it), gone@ms (the first sample without it) or open@ms (still there\n"
"         at the end); a gone lane ends with end@ms: when it ended, the destroy\n"
"         event's time if the kernel dated it, else gone's.\n"
"cost     opens 10, 200 and 2,000 loopback connections in-process, records\n"
"         them for 2 s each (--ms) and prints the recorder's CPU per second; it\n"
"         fails if a lane is missing.\n"
"\n"
"What a sampler misses: a state shorter than one interval is not seen. A\n"
"connection that opens and closes between two samples, or the few\n"
"microseconds of CLOSE-WAIT and LAST-ACK when a server closes at once, leave\n"
"no sample. The recorder also takes the kernel's destroy events (the socket\n"
"diag multicast groups `ss -E` reads; they need no privileges): they give\n"
"the time a connection ended or entered TIME-WAIT between two samples, and\n"
"the lanes of connections no sample saw. A lane last seen in one state and\n"
"then gone is drawn hatched from its last sample to its end: its close was\n"
"not seen. Destroy events and server log lines (inotify) are dated when the\n"
"recorder reads them: within a millisecond on an idle machine, tens of ms\n"
"late on a loaded one (a destroy is never drawn later than the sample that\n"
"found its lane gone or in TIME-WAIT).\n"
"\n"
"Cost, measured with `timeline cost`: 5 runs on a 2-core VM (kernel 6.18, load\n"
"average 9 to 11 from other test runs, 5,400 to 11,000 other TCP sockets on the\n"
"machine), --interval 20, --pid counting 2N fds. CPU per second of recording:\n"
"  connections   sockets   CPU per second    share of one core\n"
"           10        20   129 to 179 ms     13% to 18%\n"
"          200       400   118 to 197 ms     12% to 20%\n"
"        2,000     4,000   280 to 375 ms     28% to 37%\n"
"Over 90% of it is the kernel's: each sample walks its whole table of TCP\n"
"connections (262,144 buckets there) and every socket in it, whatever the\n"
"port, as `ss` does. --interval 100 costs a fifth.\n";

/* ---- small helpers ---------------------------------------------------- */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void out_of_memory(void)
{
    fputs("timeline: out of memory\n", stderr);
    exit(1);
}

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p) out_of_memory();
    return p;
}

/* A bad option: one line naming it, exit 2 (the kit's tools all do this). */
static void usage_error(const char *fmt, const char *a)
{
    fputs("timeline: ", stderr);
    fprintf(stderr, fmt, a);
    fputs(" (timeline --help)\n", stderr);
    exit(2);
}

/* Copy a string, cut to fit: the recording's fields have sane lengths. */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static long parse_number(const char *opt, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "timeline: %s needs a number from %ld to %ld, got '%s'\n", opt, min, max, text);
        exit(2);
    }
    return v;
}

/* Kernel TCP state numbers (include/net/tcp_states.h) as ss names them. */
enum { N_STATES = 13 };
static const char *const state_names[N_STATES] = {
    "?", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
    "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "SYN-RECV",
};
enum { TCP_LISTEN_STATE = 10, TCP_NEW_SYN_RECV_STATE = 12 };

static int state_by_name(const char *name)
{
    for (int s = 1; s < N_STATES; s++)
        if (strcmp(state_names[s], name) == 0) return s;
    return 0;
}

/* ---- the recorder's view of a connection --------------------------------- */

enum side { SERVER, CLIENT };
static const char *const side_names[] = {"server", "client"};

/* A connection's identity: its 4-tuple, and which end of it this socket is.
 * No padding (1+1+2+2+16+16 bytes), so memcmp compares keys. */
struct key {
    uint8_t side, family;
    uint16_t lport, rport;
    uint8_t laddr[16], raddr[16];
};

struct rlane {
    struct key key;
    int id;               /* 0: hidden (--new-only: it was there before the start) */
    int state;            /* as last sampled; 0: no sample has seen it */
    unsigned seen_gen;    /* the sample that last saw it */
    long long last_seen;  /* its time, -1: never sampled */
    long long gone_at;    /* -1 while live */
};

struct recorder {
    /* options */
    int port, pid, interval_ms;
    int new_only;         /* leave out the connections the first sample finds */
    int hidden;           /* how many it left out */
    int next_id;
    long long duration_ms;
    const char *log_path, *title;
    FILE *out;
    /* kernel */
    int diag_fd, destroy_fd;
    int per_family;       /* the kernel refused one dump for both: one per family */
    int no_inet6;         /* ... and it has no IPv6: dump IPv4 only */
    unsigned seq;
    const char *destroy_off;   /* why destroy events are off, or NULL */
    /* lanes: all of them; a hash from key to the newest lane with it; the live ones */
    struct rlane *lanes;
    int nlanes, cap_lanes;
    int *hash;            /* lane index + 1, 0 = empty */
    size_t hash_size;
    int *live, nlive, cap_live;
    unsigned gen;
    /* the server process and its log */
    int fds, threads;
    int log_fd, inotify_fd;
    off_t log_off;
    char log_buf[4096];
    size_t log_len;
    long long t0;
    long samples;
};

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) { (void)sig; stop_requested = 1; }

static long long rec_now(const struct recorder *r) { return mono_ms() - r->t0; }

/* FNV-1a over the key's bytes. */
static size_t key_hash(const struct key *k)
{
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return (size_t)h;
}

static int *hash_slot(struct recorder *r, const struct key *k)
{
    size_t i = key_hash(k) & (r->hash_size - 1);
    while (r->hash[i] && memcmp(&r->lanes[r->hash[i] - 1].key, k, sizeof *k) != 0)
        i = (i + 1) & (r->hash_size - 1);
    return &r->hash[i];
}

static void hash_grow(struct recorder *r)
{
    int *old = r->hash;
    size_t old_size = r->hash_size;
    r->hash_size = old_size ? old_size * 2 : 1024;
    r->hash = calloc(r->hash_size, sizeof *r->hash);
    if (!r->hash) out_of_memory();
    /* Re-insert the newest lane of each key: old slots hold exactly those. */
    for (size_t i = 0; i < old_size; i++)
        if (old[i]) *hash_slot(r, &r->lanes[old[i] - 1].key) = old[i];
    free(old);
}

/* "127.0.0.1:51234" or "[::1]:51234". IPv4-mapped IPv6 addresses (a
 * dual-stack server's view of an IPv4 client) print as IPv4, like the client. */
static void format_addr(int family, const uint8_t *addr, unsigned port, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, addr, host, sizeof host);
    if (family == AF_INET6) snprintf(out, size, "[%s]:%u", host, port);
    else snprintf(out, size, "%s:%u", host, port);
}

static struct rlane *new_lane(struct recorder *r, const struct key *k, int state, long long t)
{
    if (r->nlanes == r->cap_lanes) {
        r->cap_lanes = r->cap_lanes ? r->cap_lanes * 2 : 256;
        r->lanes = xrealloc(r->lanes, (size_t)r->cap_lanes * sizeof *r->lanes);
    }
    if ((size_t)(r->nlanes + 1) * 2 > r->hash_size) hash_grow(r);
    struct rlane *l = &r->lanes[r->nlanes++];
    *l = (struct rlane){.key = *k, .id = ++r->next_id, .state = state, .last_seen = -1, .gone_at = -1};
    *hash_slot(r, k) = r->nlanes;
    if (r->nlive == r->cap_live) {
        r->cap_live = r->cap_live ? r->cap_live * 2 : 256;
        r->live = xrealloc(r->live, (size_t)r->cap_live * sizeof *r->live);
    }
    r->live[r->nlive++] = r->nlanes - 1;

    char local[64], peer[64];
    format_addr(k->family, k->laddr, k->lport, local, sizeof local);
    format_addr(k->family, k->raddr, k->rport, peer, sizeof peer);
    fprintf(r->out, "%lld new %d %s %s %s %s\n", t, l->id, side_names[k->side], local, peer,
            state ? state_names[state] : "-");
    return l;
}

/* The newest lane with this key, or NULL. */
static struct rlane *find_lane(struct recorder *r, const struct key *k)
{
    if (!r->hash_size) return NULL;
    int i = *hash_slot(r, k);
    return i ? &r->lanes[i - 1] : NULL;
}

/* Build the key of a socket the kernel described; 0 if it is not ours. */
static int make_key(const struct recorder *r, const struct inet_diag_msg *m, struct key *k)
{
    memset(k, 0, sizeof *k);
    unsigned sport = ntohs(m->id.idiag_sport), dport = ntohs(m->id.idiag_dport);
    if (dport == 0) return 0;                       /* a listener, or unconnected */
    if (sport == (unsigned)r->port) k->side = SERVER;
    else if (dport == (unsigned)r->port) k->side = CLIENT;
    else return 0;
    k->lport = (uint16_t)sport;
    k->rport = (uint16_t)dport;
    const uint8_t *src = (const uint8_t *)m->id.idiag_src, *dst = (const uint8_t *)m->id.idiag_dst;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (m->idiag_family == AF_INET6 && memcmp(src, mapped, 12) == 0) {
        k->family = AF_INET;                        /* ::ffff:a.b.c.d is IPv4 */
        memcpy(k->laddr, src + 12, 4);
        memcpy(k->raddr, dst + 12, 4);
    } else {
        k->family = m->idiag_family;
        memcpy(k->laddr, src, m->idiag_family == AF_INET ? 4 : 16);
        memcpy(k->raddr, dst, m->idiag_family == AF_INET ? 4 : 16);
    }
    return 1;
}

/* ---- sock_diag: the dump every interval ---------------------------------- */

/* Ask for the TCP sockets on our port. The filter is inet_diag bytecode,
 * run by the kernel on each socket: "sport == N, or dport == N". Each op
 * jumps `yes` or `no` bytes on; landing exactly on the end accepts, jumping
 * past it rejects. The JMP between the two tests is how ss joins an OR: the
 * kernel's checker walks the `yes` chain to validate a `no` target.
 *
 * family 0 asks for both families in one dump, with the older request
 * (TCPDIAG_GETSOCK, struct inet_diag_req: the kernel dumps it as AF_UNSPEC).
 * A dump walks every bucket of the kernel's established-connection table
 * (262,144 on a 24 GB machine) and every TCP socket in it, whatever the
 * filter: that walk is most of the recorder's cost, and one walk instead of
 * two (inet_diag_req_v2 per family) halves it. */
static int send_dump_request(struct recorder *r, int family)
{
    const uint16_t port = (uint16_t)r->port;
    struct inet_diag_bc_op bc[5] = {
        {INET_DIAG_BC_S_EQ, 8, 12}, {0, 0, port},    /* sport == N: on to the JMP, else to D_EQ */
        {INET_DIAG_BC_JMP, 4, 12},                   /* accepted: jump to the end */
        {INET_DIAG_BC_D_EQ, 8, 12}, {0, 0, port},    /* dport == N: end (accept), else past it */
    };
    /* every state but LISTEN (and CLOSE: nothing of a connection is left) */
    const uint32_t states = ((1u << 13) - 1) & ~(1u << TCP_LISTEN_STATE) & ~(1u << 7) & ~1u;
    struct inet_diag_req_v2 req2 = {.sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = states};
    struct inet_diag_req req1 = {.idiag_family = AF_INET, .idiag_states = states};
    const void *req = family ? (const void *)&req2 : (const void *)&req1;
    size_t req_len = family ? sizeof req2 : sizeof req1;
    unsigned char buf[NLMSG_SPACE(sizeof req1 > sizeof req2 ? sizeof req1 : sizeof req2) + NLA_HDRLEN + sizeof bc];
    size_t len = NLMSG_SPACE(req_len) + NLA_HDRLEN + sizeof bc;
    memset(buf, 0, sizeof buf);
    struct nlmsghdr nlh = {
        .nlmsg_len = (uint32_t)len,
        .nlmsg_type = family ? SOCK_DIAG_BY_FAMILY : TCPDIAG_GETSOCK,
        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
        .nlmsg_seq = ++r->seq,
    };
    struct nlattr nla = {.nla_len = NLA_HDRLEN + sizeof bc, .nla_type = INET_DIAG_REQ_BYTECODE};
    memcpy(buf, &nlh, sizeof nlh);
    memcpy(buf + NLMSG_HDRLEN, req, req_len);
    memcpy(buf + NLMSG_SPACE(req_len), &nla, sizeof nla);
    memcpy(buf + NLMSG_SPACE(req_len) + NLA_HDRLEN, bc, sizeof bc);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    return sendto(r->diag_fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0 ? -1 : 0;
}

/* One socket from the dump: a new lane, a state change, or the same. */
static void saw_socket(struct recorder *r, const struct inet_diag_msg *m, long long t)
{
    struct key k;
    if (!make_key(r, m, &k)) return;
    int state = m->idiag_state == TCP_NEW_SYN_RECV_STATE ? 3 : m->idiag_state;
    if (state <= 0 || state >= N_STATES) return;
    struct rlane *l = find_lane(r, &k);
    if (!l || l->gone_at >= 0) l = new_lane(r, &k, state, t);
    else if (l->state != state && l->id) fprintf(r->out, "%lld state %d %s\n", t, l->id, state_names[state]);
    l->state = state;
    l->seen_gen = r->gen;
    l->last_seen = t;
}

static unsigned char msg_buf[1 << 16];

/* The next netlink message in msg_buf[0..len), or NULL: NLMSG_OK and
 * NLMSG_NEXT, without their signed/unsigned comparisons. */
static struct nlmsghdr *next_msg(size_t len, size_t *off)
{
    if (*off + sizeof(struct nlmsghdr) > len) return NULL;
    struct nlmsghdr *h = (struct nlmsghdr *)(void *)(msg_buf + *off);
    if (h->nlmsg_len < sizeof *h || h->nlmsg_len > len - *off) return NULL;
    *off += NLMSG_ALIGN(h->nlmsg_len);
    return h;
}

/* Dump one family's sockets (0: both) into the lanes. -1 on failure (errno set). */
static int dump_family(struct recorder *r, int family, long long t)
{
    if (send_dump_request(r, family) < 0) return -1;
    for (;;) {
        ssize_t n = recv(r->diag_fd, msg_buf, sizeof msg_buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        size_t off = 0;
        for (struct nlmsghdr *h; (h = next_msg((size_t)n, &off));) {
            if (h->nlmsg_seq != r->seq) continue;   /* a reply to an older request */
            if (h->nlmsg_type == NLMSG_DONE) return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                errno = -e->error;
                return e->error ? -1 : 0;
            }
            if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY || h->nlmsg_type == TCPDIAG_GETSOCK)
                saw_socket(r, NLMSG_DATA(h), t);
        }
    }
}

/* One sample: both families; then every live lane not seen is gone. A failed
 * dump marks nothing gone (a lane must not end because a read failed). */
static void sample(struct recorder *r)
{
    long long t = rec_now(r);
    r->gen++;
    r->samples++;
    int ok = 0;
    if (!r->per_family) {   /* one dump for both families, if the kernel still takes it */
        ok = dump_family(r, 0, t) == 0;
        if (!ok && (errno == EINVAL || errno == ENOENT || errno == EOPNOTSUPP)) r->per_family = 1;
    }
    if (r->per_family) {
        ok = dump_family(r, AF_INET, t) == 0;
        if (ok && !r->no_inet6 && dump_family(r, AF_INET6, t) < 0) {
            if (errno == ENOENT || errno == EAFNOSUPPORT || errno == EOPNOTSUPP) r->no_inet6 = 1;
            else ok = 0;
        }
    }
    if (!ok) {
        fprintf(stderr, "timeline: a sock_diag dump failed: %s\n", strerror(errno));
        return;
    }
    int kept = 0;
    for (int i = 0; i < r->nlive; i++) {
        struct rlane *l = &r->lanes[r->live[i]];
        if (l->seen_gen == r->gen) {
            r->live[kept++] = r->live[i];
            continue;
        }
        l->gone_at = t;
        if (!l->id) continue;
        if (l->last_seen >= 0) fprintf(r->out, "%lld gone %d %lld\n", t, l->id, l->last_seen);
        else fprintf(r->out, "%lld gone %d -\n", t, l->id);
    }
    r->nlive = kept;
}

/* ---- sock_diag: destroy events, between the samples ----------------------- */

static void open_destroy_events(struct recorder *r)
{
    r->destroy_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
    struct sockaddr_nl groups = {
        .nl_family = AF_NETLINK,
        .nl_groups = (1u << (SKNLGRP_INET_TCP_DESTROY - 1)) | (1u << (SKNLGRP_INET6_TCP_DESTROY - 1)),
    };
    if (r->destroy_fd < 0 || bind(r->destroy_fd, (struct sockaddr *)&groups, sizeof groups) < 0) {
        r->destroy_off = errno == EPERM ? "the kernel wants CAP_NET_ADMIN for them" : strerror(errno);
        if (r->destroy_fd >= 0) close(r->destroy_fd);
        r->destroy_fd = -1;
        return;
    }
    int size = 1 << 20;   /* a burst of closes should not overrun it (capped at rmem_max) */
    setsockopt(r->destroy_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

/* A socket on our port was freed: the end of its connection, or (a full
 * socket replaced by its TIME-WAIT mini-socket) the start of TIME-WAIT. */
static void saw_destroy(struct recorder *r, const struct inet_diag_msg *m, long long t)
{
    struct key k;
    if (!make_key(r, m, &k)) return;
    struct rlane *l = find_lane(r, &k);
    /* A destroy read after the sample that found the lane gone is still that
     * lane's: the kernel unhashes the socket first and announces its end from
     * a workqueue, which a loaded machine can run tens of ms later. */
    if (l && l->gone_at >= 0 && t - l->gone_at > 1000) l = NULL;
    if (!l) l = new_lane(r, &k, 0, t);   /* no sample saw it: it lived < 1 interval */
    if (l->id) fprintf(r->out, "%lld destroy %d\n", t, l->id);
}

static void read_destroy_events(struct recorder *r)
{
    if (r->destroy_fd < 0) return;
    for (;;) {
        ssize_t n = recv(r->destroy_fd, msg_buf, sizeof msg_buf, 0);
        if (n < 0) {
            if (errno == ENOBUFS) {   /* the kernel dropped some: say so, go on */
                fprintf(r->out, "%lld lost destroy\n", rec_now(r));
                continue;
            }
            return;                   /* EAGAIN: all read */
        }
        long long t = rec_now(r);
        size_t off = 0;
        for (struct nlmsghdr *h; (h = next_msg((size_t)n, &off));)
            if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) saw_destroy(r, NLMSG_DATA(h), t);
    }
}

/* ---- the server: fds, threads, log ----------------------------------------- */

/* Since Linux 6.2 the size of /proc/PID/fd is its count of open fds: one
 * stat() instead of reading thousands of entries. 0 means an older kernel
 * (or no fds at all): count them. */
static int count_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (st.st_size > 0) return (int)st.st_size;
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* num_threads: field 20 of /proc/PID/stat, the 18th after the ")" that ends
 * the command name (which may itself hold spaces and parentheses). */
static int count_threads(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 20; field++) p = strchr(p + 1, ' ');
    return p ? atoi(p + 1) : -1;
}

static void read_proc(struct recorder *r)
{
    if (!r->pid || r->fds == -2) return;
    int fds = count_fds(r->pid), threads = count_threads(r->pid);
    if (fds < 0 && errno == EACCES) {   /* another user's process: say so, once */
        fprintf(stderr, "timeline: cannot read /proc/%d/fd (another user's process?): its fds are not recorded\n", r->pid);
        r->fds = -2;
        return;
    }
    if (fds < 0 || threads < 0) {
        fprintf(r->out, "%lld proc - -\n", rec_now(r));
        r->fds = -2;   /* gone: stop looking */
        return;
    }
    if (fds != r->fds || threads != r->threads)
        fprintf(r->out, "%lld proc %d %d\n", rec_now(r), fds, threads);
    r->fds = fds;
    r->threads = threads;
}

/* A log line "KIND ADDR:PORT rest": record KIND, ADDR and the reason (the
 * value of reason=, else the next word: `refuse ADDR too-many`). */
static void log_line(struct recorder *r, char *line, long long t)
{
    char kind[32], addr[80], rest[256] = "";
    if (sscanf(line, "%31s %79s %255[^\n]", kind, addr, rest) < 2) return;
    if (!strchr(addr, ':')) return;   /* not about a connection */
    char reason[64] = "-";
    const char *p = strstr(rest, "reason=");
    if (p) sscanf(p + 7, "%63s", reason);
    else if (rest[0]) sscanf(rest, "%63s", reason);
    fprintf(r->out, "%lld log %s %s %s\n", t, kind, addr, reason);
}

static void open_log(struct recorder *r, int at_start)
{
    r->log_fd = open(r->log_path, O_RDONLY | O_CLOEXEC);
    if (r->log_fd < 0) return;
    /* Lines written before the recording began cannot be placed in time:
     * start at the end. A log that appears later is read from its start. */
    struct stat st;
    r->log_off = at_start && fstat(r->log_fd, &st) == 0 ? st.st_size : 0;
    if (r->inotify_fd >= 0) inotify_add_watch(r->inotify_fd, r->log_path, IN_MODIFY);
}

static void read_log(struct recorder *r)
{
    if (!r->log_path) return;
    if (r->log_fd < 0) open_log(r, 0);
    if (r->log_fd < 0) return;
    struct stat st;
    if (fstat(r->log_fd, &st) == 0 && st.st_size < r->log_off) r->log_off = 0;   /* truncated */
    for (;;) {
        ssize_t n = pread(r->log_fd, r->log_buf + r->log_len, sizeof r->log_buf - 1 - r->log_len, r->log_off);
        if (n <= 0) return;
        long long t = rec_now(r);
        r->log_off += n;
        r->log_len += (size_t)n;
        r->log_buf[r->log_len] = '\0';
        char *line = r->log_buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            log_line(r, line, t);
            line = nl + 1;
        }
        r->log_len = strlen(line);
        if (r->log_len == sizeof r->log_buf - 1) r->log_len = 0;   /* an absurd line: drop it */
        memmove(r->log_buf, line, r->log_len);
    }
}

static void drain_inotify(struct recorder *r)
{
    char buf[4096];
    while (read(r->inotify_fd, buf, sizeof buf) > 0) {}
}

/* ---- the recording loop --------------------------------------------------- */

/* A header line: one line, whatever the text holds. */
static void put_header(FILE *out, const char *key, const char *text)
{
    fprintf(out, "%s ", key);
    for (; *text; text++) fputc((unsigned char)*text < 0x20 ? ' ' : *text, out);
    fputc('\n', out);
}

static int rec_start(struct recorder *r)
{
    r->diag_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (r->diag_fd < 0) {
        fprintf(stderr, "timeline: cannot open a sock_diag netlink socket: %s\n", strerror(errno));
        return -1;
    }
    open_destroy_events(r);
    r->log_fd = r->inotify_fd = -1;
    if (r->log_path) {
        r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        open_log(r, 1);
    }
    r->fds = r->threads = -1;
    r->t0 = mono_ms();
    long long clock = wall_ms();
    /* The first sample before the header: a test that waits for the header
     * knows the recorder is ready, and sees no lanes born of the wait. */
    FILE *out = r->out;
    char *early = NULL;
    size_t early_len = 0;
    r->out = open_memstream(&early, &early_len);
    if (!r->out) return -1;
    sample(r);
    fclose(r->out);
    r->out = out;
    if (r->new_only) {   /* what was there before: hidden, and later events on it too */
        for (int i = 0; i < r->nlanes; i++) r->lanes[i].id = 0;
        r->hidden = r->nlanes;
        r->next_id = 0;
        early_len = 0;
    }
    fprintf(out, "timeline 1\nport %d\ninterval %d\n", r->port, r->interval_ms);
    if (r->destroy_off) fprintf(out, "destroy off %s\n", r->destroy_off);
    else fputs("destroy on\n", out);
    if (r->pid) fprintf(out, "pid %d\n", r->pid);
    if (r->log_path) put_header(out, "log", r->log_path);
    if (r->title) put_header(out, "title", r->title);
    if (r->new_only) fprintf(out, "ignored %d\n", r->hidden);
    fprintf(out, "clock %lld\n", clock);
    fwrite(early, 1, early_len, out);
    free(early);
    read_proc(r);
    fflush(out);
    return 0;
}

static void rec_loop(struct recorder *r)
{
    long long next = r->interval_ms;   /* the first sample was taken at 0 */
    while (!stop_requested) {
        long long now = rec_now(r);
        if (r->duration_ms && now >= r->duration_ms) break;
        if (now >= next) {
            read_destroy_events(r);    /* first, so a close between samples has its time */
            sample(r);
            read_proc(r);
            read_log(r);
            fflush(r->out);
            next += r->interval_ms;
            if (next <= now) next = now + r->interval_ms;   /* fell behind: skip, don't burst */
            continue;
        }
        long long until = next;
        if (r->duration_ms && r->duration_ms < until) until = r->duration_ms;
        struct pollfd p[2] = {{r->destroy_fd, POLLIN, 0}, {r->inotify_fd, POLLIN, 0}};
        if (poll(p, 2, (int)(until - now)) <= 0) continue;
        if (p[0].revents) read_destroy_events(r);
        if (p[1].revents) {
            drain_inotify(r);
            read_log(r);
        }
    }
}

static void rec_finish(struct recorder *r)
{
    read_destroy_events(r);
    sample(r);      /* the end: what is still there is open */
    read_proc(r);
    read_log(r);
    fprintf(r->out, "%lld end\n", rec_now(r));
    fflush(r->out);
    close(r->diag_fd);
    if (r->destroy_fd >= 0) close(r->destroy_fd);
    if (r->log_fd >= 0) close(r->log_fd);
    if (r->inotify_fd >= 0) close(r->inotify_fd);
    free(r->lanes);
    free(r->hash);
    free(r->live);
}

static int cmd_record(int argc, char **argv)
{
    struct recorder r = {.interval_ms = 20, .out = stdout};
    const char *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--new-only")) {   /* the one flag without a value */
            r.new_only = 1;
            continue;
        }
        if (i + 1 >= argc) usage_error("%s needs a value", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--port")) r.port = (int)parse_number(o, v, 1, 65535);
        else if (!strcmp(o, "--pid")) r.pid = (int)parse_number(o, v, 1, 1 << 30);
        else if (!strcmp(o, "--interval")) r.interval_ms = (int)parse_number(o, v, 1, 60000);
        else if (!strcmp(o, "--duration")) r.duration_ms = parse_number(o, v, 0, 1L << 30);
        else if (!strcmp(o, "--log")) r.log_path = v;
        else if (!strcmp(o, "--title")) r.title = v;
        else if (!strcmp(o, "--out")) out_path = v;
        else usage_error("unknown option %s", o);
    }
    if (!r.port) usage_error("record needs --port N%s", "");
    if (out_path && !(r.out = fopen(out_path, "w"))) {
        fprintf(stderr, "timeline: cannot write %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_stop};   /* no SA_RESTART: poll() returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (rec_start(&r) < 0) return 1;
    if (r.destroy_off) fprintf(stderr, "timeline: no destroy events (%s): closes between samples are not dated\n", r.destroy_off);
    rec_loop(&r);
    rec_finish(&r);
    return fclose(r.out) == 0 ? 0 : 1;
}

/* ---- cost: the recorder measured on itself -------------------------------- */

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Open n loopback connections (both ends in this process); return the
 * listener's port, or -1. fds[] gets the 2n + 1 descriptors to close. */
static int open_connections(int n, int *fds)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 128) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    fds[0] = lfd;
    for (int i = 0; i < n; i++) {   /* connect one, accept it: the backlog never fills */
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) return -1;
        int s = accept(lfd, NULL, NULL);
        if (s < 0) return -1;
        fds[1 + 2 * i] = c;
        fds[2 + 2 * i] = s;
    }
    return ntohs(a.sin_port);
}

/* TCP sockets on the machine, all ports: every dump walks each of them. */
static void machine_sockets(long *inuse, long *tw)
{
    *inuse = *tw = -1;
    FILE *f = fopen("/proc/net/sockstat", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "TCP: inuse ");
        const char *q = strstr(line, " tw ");
        if (p && q) {
            *inuse = atol(p + 11);
            *tw = atol(q + 4);
        }
    }
    if (f) fclose(f);
}

static int cmd_cost(int argc, char **argv)
{
    long seconds_ms = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ms") && i + 1 < argc) seconds_ms = parse_number("--ms", argv[++i], 100, 60000);
        else usage_error("cost: unknown option %s", argv[i]);
    }
    static const int sizes[] = {10, 200, 2000};
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 4200 && rl.rlim_max >= 4200) {   /* 2 fds a connection */
        rl.rlim_cur = 4200;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    printf("recorder cost: each run opens N loopback connections in this process and\n"
           "records them for %ld ms (--interval 20, --pid this process: 2N fds)\n\n", seconds_ms);
    printf("The kernel walks every TCP socket on the machine for each sample, whatever\n"
           "its port: the last columns are the machine's TCP sockets (in use, TIME-WAIT).\n\n");
    printf("%11s %8s %8s %14s %12s %10s %9s %9s\n", "connections", "sockets", "samples", "CPU ms per s", "% of a core",
           "per sample", "tcp inuse", "tcp tw");
    int failed = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s];
        int *fds = calloc((size_t)(2 * n + 1), sizeof *fds);
        int port = open_connections(n, fds);
        if (port < 0) {
            printf("%11d  cannot open them: %s (ulimit -n?)\n", n, strerror(errno));
            failed = 1;
            free(fds);
            continue;
        }
        struct recorder r = {.port = port, .pid = (int)getpid(), .interval_ms = 20, .duration_ms = seconds_ms};
        r.out = fopen("/dev/null", "w");
        double before = cpu_ms();
        long long wall = mono_ms();
        if (!r.out || rec_start(&r) < 0) return 1;
        rec_loop(&r);
        double used = cpu_ms() - before;
        wall = mono_ms() - wall;
        /* It must have seen what it measures: n lanes a side, all ESTAB. */
        int seen[2] = {0, 0};
        for (int i = 0; i < r.nlanes; i++)
            if (r.lanes[i].state == 1 && r.lanes[i].gone_at < 0) seen[r.lanes[i].key.side]++;
        long samples = r.samples;
        rec_finish(&r);
        fclose(r.out);
        long inuse, tw;
        machine_sockets(&inuse, &tw);
        printf("%11d %8d %8ld %14.1f %11.2f%% %8.0fus %9ld %9ld%s\n", n, 2 * n, samples, used * 1000.0 / (double)wall,
               used * 100.0 / (double)wall, used * 1000.0 / (double)samples, inuse, tw,
               seen[SERVER] == n && seen[CLIENT] == n ? "" : "  WRONG: lanes missing");
        if (seen[SERVER] != n || seen[CLIENT] != n) failed = 1;
        for (int i = 0; i < 2 * n + 1; i++) close(fds[i]);
        free(fds);
    }
    return failed;
}

/* ---- main ----------------------------------------------------------------- */

static int cmd_lanes(int argc, char **argv);
static int cmd_svg(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(help_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "record")) return cmd_record(argc - 1, argv + 1);
    if (!strcmp(cmd, "svg")) return cmd_svg(argc - 1, argv + 1);
    if (!strcmp(cmd, "lanes")) return cmd_lanes(argc - 1, argv + 1);
    if (!strcmp(cmd, "cost") || !strcmp(cmd, "--selftest")) return cmd_cost(argc - 1, argv + 1);
    usage_error("unknown command '%s'", cmd);
    return 2;
}

#include "timeline-render.c"
