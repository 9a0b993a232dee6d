/*
 * Lesson 04: slowloris, the client that is never quite idle.
 *
 * The server is line based now: it reads newline-terminated lines and echoes
 * each one back, bytes as received. Lessons 02 and 03 gave every read a
 * deadline, set again before each read; the deadline API you built in
 * lesson 03 now lives in lib/deadline.c (deadline_in(), read_by()).
 *
 * THE BUG: an idle deadline set before every read only limits the gap
 * between two bytes, not how long a line may take. A client that sends one
 * byte every 100 ms never trips a 300 ms idle timeout, and a line it never
 * finishes holds a thread, a socket and a buffer for as long as it likes.
 * Enough such clients take every thread or file descriptor the server has,
 * at almost no cost to the attacker. Worse, the line buffer (lib/iobuf.c)
 * has no limit: one client sending bytes without a '\n' makes the server
 * allocate until it runs out of memory.
 * The server accepts --line-timeout and --max-line, but ignores both.
 *
 * TODO(student): bound each line, in time and in size.
 *   1. --line-timeout MS: a whole line must arrive within MS of its first
 *      byte. Set that deadline once per line, never move it, and read by
 *      whichever deadline (idle or line) comes first. When the line
 *      deadline is the one that passes, end with reason "line-timeout".
 *   2. --max-line BYTES: hold at most one byte more than that; a line
 *      longer than --max-line gets "ERR line too long\n", then the
 *      connection ends with reason "too-long".
 * The spots are marked TODO(student) below. Then run `make check`.
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "iobuf.h"
#include "kit.h"
#include "read_line.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static struct options opts;

/* include read_line */
/* Read until *in holds a whole line. NULL when it does, else the reason
 * the connection must end: "eof", "timeout", or reason_for_errno()'s.
 * (lib/read_line.h declares it; from lesson 05 on it lives in lib/.) */
const char *read_line(int fd, struct iobuf **in, const struct options *o)
{
    while (iobuf_line_length(*in) == 0) {
        /* BUG: a fresh deadline before every read: one byte per 100 ms
         * keeps a line alive forever.
         * TODO(student): once the line's first byte is here, also stop at
         * (that moment + o->line_timeout_ms), and say "line-timeout". */
        long long deadline = deadline_in(o->idle_timeout_ms);

        /* BUG: no limit: a line without '\n' grows the buffer forever.
         * TODO(student): hold at most o->max_line + 1 bytes; a line
         * still without '\n' by then is too long: say "too-long". */
        size_t room;
        char *space = iobuf_space(in, SIZE_MAX, &room);
        if (!space)
            return "error";                     /* out of memory */
        ssize_t n = read_by(fd, space, room, deadline);
        if (n == 0)
            return "eof";
        if (n < 0)
            return errno == EAGAIN ? "timeout" : reason_for_errno(errno);
        iobuf_added(*in, (size_t)n);
    }
    return NULL;
}
/* end read_line */

/* include echo_lines */
/* Echo line after line; return why the connection ended, for the log. */
static const char *echo_lines(int fd)
{
    struct iobuf *in = NULL;    /* bytes read and not echoed yet; NULL while none */
    const char *reason;

    while ((reason = read_line(fd, &in, &opts)) == NULL) {
        size_t len = iobuf_line_length(in);
        if (write_all(fd, iobuf_data(in), len) < 0) {
            reason = reason_for_errno(errno);
            break;
        }
        iobuf_consume(&in, len);
    }
    /* TODO(student): answer "too-long" with "ERR line too long\n". */
    iobuf_free(&in);
    return reason;
}
/* end echo_lines */

/* One exit path that always closes (lesson 01). */
static void handle_connection(struct conn *c)
{
    const char *reason = echo_lines(c->fd);
    close(c->fd);
    log_close(c, reason);
}

int main(int argc, char **argv)
{
    options_parse(argc, argv, OPT_IDLE_TIMEOUT | OPT_LINE_TIMEOUT | OPT_MAX_LINE, &opts);
    int listen_fd = listen_and_announce(&opts);
    serve_thread_per_connection(listen_fd, handle_connection);
    return 0;
}
