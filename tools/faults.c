/*
 * faults.c - an LD_PRELOAD library that makes the network misbehave the way
 * POSIX allows, to prove the servers' error paths from outside (in the
 * spirit of the preloaded wrapper of CMU's proxy lab driver).
 *
 *   make             (the top Makefile builds tools/faults.so with the rest)
 *   FAULTS_SEED=7 FAULTS_RATE=20 FAULTS_REPORT=/tmp/hits \
 *     LD_PRELOAD=$PWD/tools/faults.so solutions/11-out-of-fds/server --port 0
 *
 * It wraps the calls the kit's servers make on sockets and, at a rate,
 * answers one with a fault that the call could legally have returned at
 * that moment. A correct server cannot tell these from the real thing, so
 * it must still echo every byte in order, never spin, never lose a
 * descriptor. What each call may get, and why that is legal:
 *
 *   read, recv  (and glibc's __read_chk, __recv_chk; sockets only)
 *     short   fewer bytes than asked for, down to 1: a stream read returns
 *             what has arrived, and segments arrive when they like. The
 *             rest stays queued. (Not with MSG_WAITALL or MSG_PEEK.)
 *     EINTR   only on a blocking socket that poll() says is not readable:
 *             the read would block, and a signal may end a blocked read
 *             before any data (read(2), signal(7)). Never on a non-blocking
 *             read: it never blocks, so nothing interrupts it (Linux
 *             answers an empty non-blocking socket with EAGAIN, even with a
 *             signal pending). Drawn when the call starts; a read that then
 *             blocks is left alone (lesson 02's SO_RCVTIMEO starts over
 *             after EINTR, as its solution says: a steady rain of signals
 *             would put its timeout off for ever, which is lesson 03's
 *             point, not a fault of 02's).
 *     EAGAIN  only on a non-blocking read (O_NONBLOCK or MSG_DONTWAIT):
 *             readiness is a hint, not a promise (select(2), BUGS). Never on
 *             a blocking socket, where EAGAIN means SO_RCVTIMEO ran out.
 *   write, send  (sockets only)
 *     short   a partial send: on a non-blocking socket at any time (the
 *             buffer, or TCP memory under pressure, took only part); on a
 *             blocking socket only when the send may block: poll() says it
 *             is not writable, or it sends more than the send buffer has
 *             room for (SO_SNDBUF less SIOCOUTQ). A signal during the wait
 *             ends it with the bytes sent so far (write(2)).
 *     EINTR   a blocking send to a socket that is not writable (a signal
 *             before the first byte). Never a non-blocking one (as above).
 *     EAGAIN  a non-blocking send, at any time: the buffer may be full, or
 *             TCP memory under pressure, whatever poll() said.
 *   accept, accept4  (listening sockets)
 *     EINTR         a blocking accept() with no connection waiting (it would
 *                   block, and a signal may end the wait).
 *     ECONNABORTED  at any time, before the real call, so no connection is
 *                   used up: a queued connection may be aborted (accept(2)).
 *     EAGAIN        a non-blocking accept(), before the real call: another
 *                   thread or process may have taken the connection
 *                   (accept(2), NOTES); level-triggered readiness tells the
 *                   program again.
 *     EMFILE, ENFILE  Linux looks for a free descriptor before it looks at
 *                   the queue, so these come whether a connection waits or
 *                   not. On a blocking listener: before the real call, so
 *                   nothing is used up. On a non-blocking one: only when the
 *                   real call found the queue empty (EAGAIN); and the same
 *                   thread's next accept() on that listener says EAGAIN
 *                   again (as above). Why: the reactor answers EMFILE by
 *                   shedding a waiting client, which is right when
 *                   descriptors have really run out. A fake EMFILE with a
 *                   client waiting would shed a client that could have been
 *                   served, and no test can tell that from a bug. This way
 *                   the shedding code runs (close the spare, accept, reopen
 *                   the spare) and finds nobody to shed.
 *   poll  (when the set holds a socket)
 *     EINTR     the wait is cut short by a "signal" at a random point before
 *               its timeout (within 500 ms when it has none): the real
 *               poll() runs that long and, if nothing became ready, the call
 *               fails with EINTR (poll(2); Linux checks for signals even
 *               with timeout 0). Catches a loop that starts its whole
 *               timeout again after EINTR. Besides the faults drawn call by
 *               call, a waiting thread gets such a signal about rate/5 times
 *               a second of waiting (5 at 25%), so that long waits meet
 *               EINTR too.
 *     spurious  a non-blocking socket reported ready (POLLIN or POLLOUT, as
 *               asked) though it is not; its read or write then says EAGAIN.
 *               Only O_NONBLOCK sockets: after a false POLLIN a blocking
 *               read() would block, which poll() promises it will not.
 *   epoll_wait  (when its interest list holds a socket)
 *     EINTR     as for poll(), but never with timeout 0 (Linux does not
 *               look for signals then).
 *     spurious  as for poll(), for a non-blocking socket registered for
 *               EPOLLIN or EPOLLOUT (not EPOLLONESHOT); the event carries
 *               the data the program registered (epoll_ctl() is wrapped to
 *               learn it, close() to forget it).
 *
 * Never injected: anything on a descriptor that is not a socket (stdout,
 * the log on stderr, the self-pipe, /dev/null, files), and errors that end a
 * healthy connection (ECONNRESET and the like: legal, but a server that
 * closes on them is right, and no test could tell a lost client from a bug).
 * Not wrapped, because no server uses them: readv/writev, recvmsg/sendmsg,
 * recvfrom/sendto, select, ppoll, epoll_pwait.
 *
 * Environment:
 *   FAULTS_RATE    percent of the wrapped calls that get a fault, when one is
 *                  legal there (decimal; default 10; 0: count calls only)
 *   FAULTS_SEED    the seed (default 1). Each thread draws from its own
 *                  stream, seeded from FAULTS_SEED and the order in which the
 *                  threads first made a wrapped call: the same seed gives the
 *                  same faults for the same sequence of calls. Network timing
 *                  changes that sequence, so a seed reproduces the mix of
 *                  faults, not every run exactly.
 *   FAULTS_ONLY    the kinds to inject, comma-separated: eintr, short,
 *                  eagain, spurious, econnaborted, emfile, enfile (default:
 *                  all). An unknown kind: a message, exit 2.
 *   FAULTS_REPORT  a file the counts are appended to at exit: a `faults`
 *                  header line (pid, executable, seed, rate, elapsed ms), a
 *                  `calls` line (calls per wrapped function), and one line
 *                  `hit CALL KIND 0xOFFSET COUNT` per call site and kind. The
 *                  site is the return address in the executable:
 *                  `addr2line -e SERVER 0xOFFSET-1` names the file and line of
 *                  the call (tests/faults.bats finds its function there).
 *                  Frames in shared libraries, and a sanitizer's
 *                  interceptors, are skipped.
 *   FAULTS_TRACE   a file to append one line per injected fault (debugging)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>  /* SIOCOUTQ */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Thread-local state in the initial-exec model: a preloaded library's TLS is
 * allocated at startup, so reading it is safe even in a signal handler (the
 * servers' stop handler calls write()). */
#define TLS __thread __attribute__((tls_model("initial-exec")))

/* ---- what is wrapped, and the kinds of fault -------------------------- */

enum call { C_READ, C_RECV, C_WRITE, C_SEND, C_ACCEPT, C_ACCEPT4, C_POLL, C_EPOLL_WAIT, NCALLS };
static const char *const call_name[NCALLS] = {"read", "recv", "write", "send",
                                              "accept", "accept4", "poll", "epoll_wait"};

enum kind { K_EINTR, K_SHORT, K_EAGAIN, K_SPURIOUS, K_ECONNABORTED, K_EMFILE, K_ENFILE, NKINDS };
static const char *const kind_name[NKINDS] = {"eintr", "short", "eagain", "spurious",
                                              "econnaborted", "emfile", "enfile"};

/* ---- the real functions ------------------------------------------------ */

static struct {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*send)(int, const void *, size_t, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    int (*epoll_ctl)(int, int, int, struct epoll_event *);
    int (*close)(int);
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
    int (*poll_chk)(struct pollfd *, nfds_t, int, size_t);
} real;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("faults.so: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(2);
}

/* The next definition of `name` after this library: libc's, or a
 * sanitizer's interceptor when one was preloaded first. */
static void *next(const char *name, int required)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p && required)
        die("dlsym(RTLD_NEXT, \"%s\") found nothing", name);
    return p;
}

#define LOOKUP(field, name, required) \
    (*(void **)&real.field = next(name, required))

static void resolve(void)
{
    LOOKUP(read, "read", 1);
    LOOKUP(recv, "recv", 1);
    LOOKUP(write, "write", 1);
    LOOKUP(send, "send", 1);
    LOOKUP(accept, "accept", 1);
    LOOKUP(accept4, "accept4", 1);
    LOOKUP(poll, "poll", 1);
    LOOKUP(epoll_wait, "epoll_wait", 1);
    LOOKUP(epoll_ctl, "epoll_ctl", 1);
    LOOKUP(close, "close", 1);
    LOOKUP(read_chk, "__read_chk", 0);
    LOOKUP(recv_chk, "__recv_chk", 0);
    LOOKUP(poll_chk, "__poll_chk", 0);
}

/* ---- configuration ------------------------------------------------------ */

static struct {
    double rate;             /* probability that a wrapped call is a candidate */
    double percent;          /* the same, as given */
    unsigned long long seed;
    unsigned kinds;          /* 1 << K_*: the kinds FAULTS_ONLY allows */
    const char *only;
    const char *report;      /* FAULTS_REPORT, or NULL */
    int trace_fd;            /* FAULTS_TRACE, or -1 */
    long long start_ms;
    uintptr_t exe_base, exe_lo, exe_hi;  /* the executable's code, for call sites */
} cfg = {.rate = 0.10, .percent = 10, .seed = 1, .kinds = (1u << NKINDS) - 1,
         .only = "all", .trace_fd = -1};

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void parse_only(const char *s)
{
    cfg.kinds = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        int found = 0;
        for (int k = 0; k < NKINDS; k++)
            if (len == strlen(kind_name[k]) && strncmp(s, kind_name[k], len) == 0) {
                cfg.kinds |= 1u << k;
                found = 1;
            }
        if (!found && len > 0)
            die("FAULTS_ONLY: unknown kind '%.*s' (eintr, short, eagain, spurious, "
                "econnaborted, emfile, enfile)", (int)len, s);
        s += len;
        if (*s == ',')
            s++;
    }
}

/* The main program's code: the first object dl_iterate_phdr() reports. */
static int find_executable(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (start < lo)
            lo = start;
        if (start + ph->p_memsz > hi)
            hi = start + ph->p_memsz;
    }
    cfg.exe_base = info->dlpi_addr;
    cfg.exe_lo = lo;
    cfg.exe_hi = hi;
    return 1;   /* stop: only the first one */
}

static void configure(void)
{
    resolve();
    const char *v;
    char *end;
    if ((v = getenv("FAULTS_RATE")) && *v) {
        double pct = strtod(v, &end);
        if (*end || pct < 0 || pct > 100)
            die("FAULTS_RATE: '%s' is not a percentage from 0 to 100", v);
        cfg.percent = pct;
        cfg.rate = pct / 100;
    }
    if ((v = getenv("FAULTS_SEED")) && *v) {
        errno = 0;
        cfg.seed = strtoull(v, &end, 0);
        if (*end || errno)
            die("FAULTS_SEED: '%s' is not a number", v);
    }
    if ((v = getenv("FAULTS_ONLY")) && *v) {
        parse_only(v);
        cfg.only = v;
    }
    if ((v = getenv("FAULTS_REPORT")) && *v)
        cfg.report = v;
    if ((v = getenv("FAULTS_TRACE")) && *v)
        cfg.trace_fd = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cfg.start_ms = monotonic_ms();
    dl_iterate_phdr(find_executable, NULL);
    void *warm[2];
    backtrace(warm, 2);     /* glibc loads libgcc_s on the first call: do it now */
}

static pthread_once_t configured = PTHREAD_ONCE_INIT;

__attribute__((constructor)) static void faults_init(void)
{
    pthread_once(&configured, configure);
}

/* Every wrapper starts here: a wrapped call can come before our constructor
 * (another library's constructor). */
#define READY() ((void)(real.close || (pthread_once(&configured, configure), 1)))

/* ---- randomness: one splitmix64 stream per thread ---------------------- */

static atomic_uint threads_seen;
static TLS uint64_t rng_state;
static TLS int rng_ready;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
    if (!rng_ready) {
        uint64_t nth = atomic_fetch_add(&threads_seen, 1);
        rng_state = cfg.seed ^ (nth * 0xD1B54A32D192ED03ull);
        rng_ready = 1;
    }
    return splitmix64(&rng_state);
}

/* n > 0: a number in [0, n). */
static uint64_t below(uint64_t n)
{
    return rnd() % n;
}

/* Does this call get a fault (if one is legal)? */
static int roll(void)
{
    return cfg.rate > 0 && (double)(rnd() >> 11) * 0x1p-53 < cfg.rate;
}

/* A length for a short read or write of len > 1 bytes: one byte a quarter
 * of the time (the hardest case), else anything from 1 to len - 1. */
static size_t short_length(size_t len)
{
    return below(4) == 0 ? 1 : 1 + (size_t)below(len - 1);
}

/* Pick one of the n legal kinds that FAULTS_ONLY allows; -1 if none. */
static int pick(const int *legal, int n)
{
    int allowed[NKINDS], m = 0;
    for (int i = 0; i < n; i++)
        if (cfg.kinds & (1u << legal[i]))
            allowed[m++] = legal[i];
    return m ? allowed[below((uint64_t)m)] : -1;
}

/* ---- what a descriptor is ---------------------------------------------- */

static int is_socket(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int is_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK);
}

/* Would a read (POLLIN) or write (POLLOUT) on fd return at once? Errors and
 * hangups count: they return at once too. */
static int ready_now(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    return real.poll(&p, 1, 0) > 0 && p.revents;
}

/* At most how many bytes a send on fd can take without waiting: the send
 * buffer's size less what it holds (SO_SNDBUF counts the kernel's overhead
 * too, so the true room is smaller still). */
static size_t send_room(int fd)
{
    int size = 0, queued = 0;
    socklen_t len = sizeof size;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0 || ioctl(fd, SIOCOUTQ, &queued) < 0)
        return SIZE_MAX;
    return size > queued ? (size_t)(size - queued) : 0;
}

/* ---- counting hits, per call site -------------------------------------- */

static atomic_ulong calls[NCALLS];

enum { SITES = 1024 };
static struct site {
    uintptr_t offset;          /* the caller's return address - exe base; 0: unknown */
    unsigned char call, kind, used;
    unsigned long count;
} sites[SITES];
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;

/* The first return address in the executable's own code, past this
 * library and any sanitizer runtime (a shared library, or exported
 * interceptors linked into the executable). */
static uintptr_t call_site(void)
{
    void *frames[16];
    int n = backtrace(frames, 16);
    for (int i = 1; i < n; i++) {
        uintptr_t a = (uintptr_t)frames[i];
        if (a < cfg.exe_lo || a >= cfg.exe_hi)
            continue;
        Dl_info info;
        if (dladdr(frames[i], &info) && info.dli_sname)
            continue;          /* an exported symbol of the executable: an interceptor */
        return a - cfg.exe_base;
    }
    return 0;
}

static void trace(enum call c, enum kind k, int fd, size_t len)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%d %ld %s %s fd=%d len=%zu ms=%lld\n", (int)getpid(),
                     (long)gettid(), call_name[c], kind_name[k], fd, len,
                     monotonic_ms() - cfg.start_ms);
    if (n > 0)
        (void)!real.write(cfg.trace_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Record one injected fault. */
static void hit(enum call c, enum kind k, int fd, size_t len)
{
    int saved = errno;
    uintptr_t offset = call_site();
    size_t h = (offset * 31 + (size_t)c * 7 + (size_t)k) % SITES;
    pthread_mutex_lock(&sites_lock);
    for (size_t i = 0; i < SITES; i++) {
        struct site *s = &sites[(h + i) % SITES];
        if (!s->used)
            *s = (struct site){.offset = offset, .call = (unsigned char)c,
                               .kind = (unsigned char)k, .used = 1};
        if (s->offset == offset && s->call == c && s->kind == k) {
            s->count++;
            break;
        }
    }
    pthread_mutex_unlock(&sites_lock);
    if (cfg.trace_fd >= 0)
        trace(c, k, fd, len);
    errno = saved;
}

static ssize_t fail(int err)
{
    errno = err;
    return -1;
}

/* ---- reads ---------------------------------------------------------------- */

static ssize_t real_read(enum call c, int fd, void *buf, size_t len, int flags)
{
    return c == C_READ ? real.read(fd, buf, len) : real.recv(fd, buf, len, flags);
}

static ssize_t wrap_read(enum call c, int fd, void *buf, size_t len, int flags)
{
    READY();
    atomic_fetch_add_explicit(&calls[c], 1, memory_order_relaxed);
    if (!roll() || !is_socket(fd))
        return real_read(c, fd, buf, len, flags);
    int legal[2], n = 0;
    if (len > 1 && !(flags & (MSG_WAITALL | MSG_PEEK)))
        legal[n++] = K_SHORT;
    if ((flags & MSG_DONTWAIT) || is_nonblocking(fd))
        legal[n++] = K_EAGAIN;
    else if (!ready_now(fd, POLLIN))
        legal[n++] = K_EINTR;
    switch (pick(legal, n)) {
    case K_SHORT: {
        size_t want = short_length(len);
        ssize_t got = real_read(c, fd, buf, want, flags);
        if (got == (ssize_t)want)
            hit(c, K_SHORT, fd, want);     /* the program got less than it asked for */
        return got;
    }
    case K_EAGAIN:
        hit(c, K_EAGAIN, fd, len);
        return fail(EAGAIN);
    case K_EINTR:
        hit(c, K_EINTR, fd, len);
        return fail(EINTR);
    default:
        return real_read(c, fd, buf, len, flags);
    }
}

ssize_t read(int fd, void *buf, size_t len)
{
    return wrap_read(C_READ, fd, buf, len, 0);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return wrap_read(C_RECV, fd, buf, len, flags);
}

/* _FORTIFY_SOURCE builds call these instead: check, then the same. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    READY();
    if (len > buflen && real.read_chk)
        return real.read_chk(fd, buf, len, buflen);   /* reports the overflow */
    return wrap_read(C_READ, fd, buf, len, 0);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    READY();
    if (len > buflen && real.recv_chk)
        return real.recv_chk(fd, buf, len, buflen, flags);
    return wrap_read(C_RECV, fd, buf, len, flags);
}

/* ---- writes --------------------------------------------------------------- */

static ssize_t real_write(enum call c, int fd, const void *buf, size_t len, int flags)
{
    return c == C_WRITE ? real.write(fd, buf, len) : real.send(fd, buf, len, flags);
}

static ssize_t wrap_write(enum call c, int fd, const void *buf, size_t len, int flags)
{
    READY();
    atomic_fetch_add_explicit(&calls[c], 1, memory_order_relaxed);
    if (!roll() || !is_socket(fd))
        return real_write(c, fd, buf, len, flags);
    int legal[2], n = 0;
    if ((flags & MSG_DONTWAIT) || is_nonblocking(fd)) {
        if (len > 1)
            legal[n++] = K_SHORT;
        legal[n++] = K_EAGAIN;
    } else if (!ready_now(fd, POLLOUT)) {
        if (len > 1)
            legal[n++] = K_SHORT;
        legal[n++] = K_EINTR;
    } else if (len > 1 && len > send_room(fd)) {
        legal[n++] = K_SHORT;              /* part fits, then it waits for room */
    }
    switch (pick(legal, n)) {
    case K_SHORT: {
        size_t want = short_length(len);
        ssize_t got = real_write(c, fd, buf, want, flags);
        if (got == (ssize_t)want)
            hit(c, K_SHORT, fd, want);
        return got;
    }
    case K_EAGAIN:
        hit(c, K_EAGAIN, fd, len);
        return fail(EAGAIN);
    case K_EINTR:
        hit(c, K_EINTR, fd, len);
        return fail(EINTR);
    default:
        return real_write(c, fd, buf, len, flags);
    }
}

ssize_t write(int fd, const void *buf, size_t len)
{
    return wrap_write(C_WRITE, fd, buf, len, 0);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return wrap_write(C_SEND, fd, buf, len, flags);
}

/* ---- accept ---------------------------------------------------------------- */

/* After a fake EMFILE/ENFILE on a non-blocking listener: its next accept()
 * in this thread says EAGAIN (see the top). Any wait in between clears it. */
static TLS int eagain_next = -1;

static int real_accept(enum call c, int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return c == C_ACCEPT ? real.accept(fd, sa, len) : real.accept4(fd, sa, len, flags);
}

static int wrap_accept(enum call c, int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    READY();
    atomic_fetch_add_explicit(&calls[c], 1, memory_order_relaxed);
    if (eagain_next == fd) {
        eagain_next = -1;
        hit(c, K_EAGAIN, fd, 0);
        return (int)fail(EAGAIN);
    }
    if (!roll() || !is_socket(fd))
        return real_accept(c, fd, sa, len, flags);
    int nonblocking = is_nonblocking(fd);
    int legal[4], n = 0;
    legal[n++] = K_ECONNABORTED;
    legal[n++] = K_EMFILE;
    legal[n++] = K_ENFILE;
    if (nonblocking)
        legal[n++] = K_EAGAIN;
    else if (!ready_now(fd, POLLIN))
        legal[n++] = K_EINTR;
    int k = pick(legal, n), err;
    switch (k) {
    case K_ECONNABORTED: err = ECONNABORTED; break;
    case K_EAGAIN: err = EAGAIN; break;
    case K_EINTR: err = EINTR; break;
    case K_EMFILE: err = EMFILE; break;
    case K_ENFILE: err = ENFILE; break;
    default: return real_accept(c, fd, sa, len, flags);
    }
    if ((k == K_EMFILE || k == K_ENFILE) && nonblocking) {
        int got = real_accept(c, fd, sa, len, flags);
        if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return got;                     /* a connection: keep it, no fault */
        eagain_next = fd;
    }
    hit(c, (enum kind)k, fd, 0);
    return (int)fail(err);
}

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return wrap_accept(C_ACCEPT, fd, sa, len, 0);
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return wrap_accept(C_ACCEPT4, fd, sa, len, flags);
}

/* ---- waits: EINTR partway, and spurious readiness ------------------------- */

/* Where a "signal" cuts a wait of `timeout` ms short: before its end. Half
 * the time anywhere in it (within 500 ms if it has no end), half the time
 * within its first 20 ms, which is usually before anything is ready. */
static int cut_short(int timeout)
{
    uint64_t span = timeout < 0 ? 500 : (uint64_t)timeout;
    if (span > 20 && below(2))
        span = 20;
    return span ? (int)below(span) : 0;
}

/* One of the bits in `wanted` (POLLIN/POLLOUT or EPOLLIN/EPOLLOUT). */
static unsigned one_bit(unsigned wanted, unsigned in, unsigned out)
{
    if ((wanted & in) && (wanted & out))
        return below(2) ? in : out;
    return wanted & in ? in : out;
}

/* Besides the faults drawn call by call, a thread that waits gets a
 * "signal" now and then, as a process does: at a random moment within
 * 2 * signal_ms of the start of each wait (signal_ms = 50 / rate: 200 ms at
 * the tests' 25%, so about 5 a second while it waits). The wait ends there
 * with EINTR unless something was ready first. Without this, a thread
 * blocked for long meets only the one fault drawn when its wait began.
 * -1: no signal before the wait's end (timeout ms; -1 = none). */
static int signal_after(int timeout)
{
    if (timeout == 0 || cfg.rate <= 0 || !(cfg.kinds & (1u << K_EINTR)))
        return -1;
    double span = 2 * 50 / cfg.rate;
    int at = (int)below(span < 1e9 ? (uint64_t)span : 1000000000u);
    return timeout < 0 || at < timeout ? at : -1;
}

static int wrap_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    READY();
    atomic_fetch_add_explicit(&calls[C_POLL], 1, memory_order_relaxed);
    eagain_next = -1;
    int rolled = roll(), sig_at = rolled ? -1 : signal_after(timeout);
    if (!rolled && sig_at < 0)
        return real.poll(fds, nfds, timeout);
    int sockets = 0, nonblocking = 0;
    for (nfds_t i = 0; i < nfds && !nonblocking && (rolled || !sockets); i++)
        if (is_socket(fds[i].fd)) {
            sockets = 1;
            nonblocking = (fds[i].events & (POLLIN | POLLOUT)) && is_nonblocking(fds[i].fd);
        }
    if (!sockets)
        return real.poll(fds, nfds, timeout);
    if (!rolled) {
        int ready = real.poll(fds, nfds, sig_at);
        if (ready != 0)
            return ready;
        hit(C_POLL, K_EINTR, -1, (size_t)timeout);
        return (int)fail(EINTR);
    }
    int legal[2], n = 0;
    legal[n++] = K_EINTR;
    if (nonblocking)
        legal[n++] = K_SPURIOUS;
    switch (pick(legal, n)) {
    case K_EINTR: {
        int ready = real.poll(fds, nfds, cut_short(timeout));
        if (ready != 0)
            return ready;                   /* something came first: no fault */
        hit(C_POLL, K_EINTR, -1, (size_t)timeout);
        return (int)fail(EINTR);
    }
    case K_SPURIOUS: {
        int ready = real.poll(fds, nfds, 0);
        if (ready < 0)
            return ready;
        nfds_t start = (nfds_t)below(nfds);
        for (nfds_t j = 0; j < nfds; j++) {
            struct pollfd *p = &fds[(start + j) % nfds];
            unsigned missing = (unsigned)(p->events & (POLLIN | POLLOUT)) & ~(unsigned)p->revents;
            if (p->fd < 0 || !missing || (p->revents & (POLLERR | POLLHUP | POLLNVAL)) ||
                !is_socket(p->fd) || !is_nonblocking(p->fd))
                continue;
            if (!p->revents)
                ready++;
            p->revents = (short)(p->revents | (short)one_bit(missing, POLLIN, POLLOUT));
            hit(C_POLL, K_SPURIOUS, p->fd, 0);
            return ready;
        }
        if (ready > 0)
            return ready;                   /* all already ready: return early, legally */
        return real.poll(fds, nfds, timeout);
    }
    default:
        return real.poll(fds, nfds, timeout);
    }
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    return wrap_poll(fds, nfds, timeout);
}

int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
    READY();
    if (fdslen / sizeof *fds < nfds && real.poll_chk)
        return real.poll_chk(fds, nfds, timeout, fdslen);
    return wrap_poll(fds, nfds, timeout);
}

/* ---- epoll: what each descriptor is registered for ----------------------- */

/* Indexed by fd. For a registered descriptor: its epoll fd, events and data.
 * For an epoll fd: how many sockets its interest list holds. `members` lists
 * the registered descriptors, for picking one at random. */
static struct interest {
    int epfd;                 /* -1: not registered */
    int pos;                  /* its index in members */
    uint32_t events;
    epoll_data_t data;
    int sockets;              /* as an epoll fd: registered sockets */
    unsigned char socket;     /* this descriptor is a socket */
    unsigned char epoll;      /* this descriptor is an epoll fd we saw used */
} *interest;
static int interest_cap, *members, nmembers;
static pthread_mutex_t interest_lock = PTHREAD_MUTEX_INITIALIZER;

static int interest_grow(int fd)
{
    if (fd < interest_cap)
        return 0;
    int cap = interest_cap ? interest_cap : 64;
    while (cap <= fd)
        cap *= 2;
    struct interest *in = realloc(interest, (size_t)cap * sizeof *in);
    if (!in)
        return -1;
    interest = in;
    int *m = realloc(members, (size_t)cap * sizeof *m);
    if (!m)
        return -1;
    members = m;
    for (int i = interest_cap; i < cap; i++)
        interest[i] = (struct interest){.epfd = -1};
    interest_cap = cap;
    return 0;
}

static void forget(int fd)
{
    struct interest *in = &interest[fd];
    if (in->epfd < 0)
        return;
    if (in->socket && in->epfd < interest_cap)
        interest[in->epfd].sockets--;
    int last = members[--nmembers];
    members[in->pos] = last;
    interest[last].pos = in->pos;
    in->epfd = -1;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    READY();
    int rc = real.epoll_ctl(epfd, op, fd, ev);
    if (rc != 0 || fd < 0 || epfd < 0)
        return rc;
    int saved = errno, socket = op == EPOLL_CTL_DEL ? 0 : is_socket(fd);
    pthread_mutex_lock(&interest_lock);
    if (interest_grow(fd > epfd ? fd : epfd) == 0) {
        struct interest *in = &interest[fd];
        if (op == EPOLL_CTL_DEL || (in->epfd >= 0 && in->epfd != epfd))
            forget(fd);
        if (op != EPOLL_CTL_DEL) {
            if (in->epfd < 0) {
                in->pos = nmembers;
                members[nmembers++] = fd;
                in->socket = (unsigned char)socket;
                if (socket)
                    interest[epfd].sockets++;
            }
            in->epfd = epfd;
            interest[epfd].epoll = 1;
            in->events = ev->events;
            in->data = ev->data;
        }
    }
    pthread_mutex_unlock(&interest_lock);
    errno = saved;
    return rc;
}

/* close() takes a descriptor out of every interest list: forget it too.
 * Closing an epoll fd forgets what was registered with it. */
int close(int fd)
{
    READY();
    if (fd >= 0 && fd < interest_cap) {
        pthread_mutex_lock(&interest_lock);
        forget(fd);
        if (interest[fd].epoll) {
            for (int i = nmembers; i-- > 0;)
                if (interest[members[i]].epfd == fd)
                    forget(members[i]);
            interest[fd].epoll = 0;
            interest[fd].sockets = 0;
        }
        pthread_mutex_unlock(&interest_lock);
    }
    return real.close(fd);
}

/* Add one spurious event for a registered non-blocking socket of epfd that
 * is not among the n events already returned. 1 if one was added. */
static int add_spurious_event(int epfd, struct epoll_event *events, int n)
{
    pthread_mutex_lock(&interest_lock);
    int tries = nmembers < 64 ? nmembers : 64;
    int start = nmembers ? (int)below((uint64_t)nmembers) : 0;
    for (int t = 0; t < tries; t++) {
        int fd = members[(start + t) % nmembers];
        struct interest *in = &interest[fd];
        unsigned wanted = in->events & (EPOLLIN | EPOLLOUT);
        if (in->epfd != epfd || !in->socket || !wanted || (in->events & EPOLLONESHOT))
            continue;
        int reported = 0;
        for (int i = 0; i < n && !reported; i++)
            reported = events[i].data.u64 == in->data.u64;
        if (reported || !is_nonblocking(fd))
            continue;
        events[n].events = one_bit(wanted, EPOLLIN, EPOLLOUT);
        events[n].data = in->data;
        pthread_mutex_unlock(&interest_lock);
        hit(C_EPOLL_WAIT, K_SPURIOUS, fd, 0);
        return 1;
    }
    pthread_mutex_unlock(&interest_lock);
    return 0;
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    READY();
    atomic_fetch_add_explicit(&calls[C_EPOLL_WAIT], 1, memory_order_relaxed);
    eagain_next = -1;
    int rolled = roll(), sig_at = rolled ? -1 : signal_after(timeout);
    if (!rolled && sig_at < 0)
        return real.epoll_wait(epfd, events, maxevents, timeout);
    pthread_mutex_lock(&interest_lock);
    int sockets = epfd >= 0 && epfd < interest_cap ? interest[epfd].sockets : 0;
    pthread_mutex_unlock(&interest_lock);
    if (sockets <= 0)
        return real.epoll_wait(epfd, events, maxevents, timeout);
    if (!rolled) {
        int ready = real.epoll_wait(epfd, events, maxevents, sig_at);
        if (ready != 0)
            return ready;
        hit(C_EPOLL_WAIT, K_EINTR, epfd, (size_t)timeout);
        return (int)fail(EINTR);
    }
    int legal[2], n = 0;
    if (timeout != 0)
        legal[n++] = K_EINTR;
    legal[n++] = K_SPURIOUS;
    switch (pick(legal, n)) {
    case K_EINTR: {
        int ready = real.epoll_wait(epfd, events, maxevents, cut_short(timeout));
        if (ready != 0)
            return ready;
        hit(C_EPOLL_WAIT, K_EINTR, epfd, (size_t)timeout);
        return (int)fail(EINTR);
    }
    case K_SPURIOUS: {
        int ready = real.epoll_wait(epfd, events, maxevents, 0);
        if (ready < 0 || ready >= maxevents)
            return ready;
        if (add_spurious_event(epfd, events, ready))
            return ready + 1;
        if (ready > 0)
            return ready;
        return real.epoll_wait(epfd, events, maxevents, timeout);
    }
    default:
        return real.epoll_wait(epfd, events, maxevents, timeout);
    }
}

/* ---- the report, at exit ----------------------------------------------- */

__attribute__((destructor)) static void faults_report(void)
{
    if (!cfg.report || !real.write)
        return;
    static char buf[64 * 1024];
    size_t len = 0, room = sizeof buf;
    char exe[512] = "?";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 1] = '\0';
#define PUT(...)                                                              \
    do {                                                                      \
        int w = snprintf(buf + len, room - len, __VA_ARGS__);                 \
        if (w > 0)                                                            \
            len += (size_t)w < room - len ? (size_t)w : room - len - 1;       \
    } while (0)
    PUT("faults pid=%d exe=%s seed=%llu rate=%g only=%s elapsed_ms=%lld\n", (int)getpid(), exe,
        cfg.seed, cfg.percent, cfg.only, monotonic_ms() - cfg.start_ms);
    PUT("calls pid=%d", (int)getpid());
    for (int c = 0; c < NCALLS; c++)
        PUT(" %s=%lu", call_name[c], atomic_load(&calls[c]));
    PUT("\n");
    pthread_mutex_lock(&sites_lock);
    for (int i = 0; i < SITES; i++)
        if (sites[i].used)
            PUT("hit %s %s 0x%lx %lu\n", call_name[sites[i].call], kind_name[sites[i].kind],
                (unsigned long)sites[i].offset, sites[i].count);
    pthread_mutex_unlock(&sites_lock);
#undef PUT
    int fd = open(cfg.report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    (void)!real.write(fd, buf, len);   /* one write: reports of servers never interleave */
    real.close(fd);
}
