/*
 * Lesson 04: slowloris, the client that is never quite idle.
 *
 * The server is line based now: it reads newline-terminated lines and echoes
 * each one back, bytes as received. Lessons 02 and 03 gave every read a
 * deadline, set again before each read; the deadline API you built in
 * lesson 03 now lives in lib/deadline.c (deadline_in(), read_by()).
 *
 * Solved: a deadline set once at each line's first byte, and a buffer capped at --max-line + 1.
 */
#define _POSIX_C_SOURCE 200809L
#include "deadline.h"
#include "iobuf.h"
#include "kit.h"
#include "read_line.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static struct options opts;

/* include read_line */
/* Read until *in holds a whole line. NULL when it does, else the reason
 * the connection must end: "eof", "timeout", "line-timeout", "too-long",
 * or reason_for_errno()'s.
 * (lib/read_line.h declares it; from lesson 05 on it lives in lib/.) */
const char *read_line(int fd, struct iobuf **in, const struct options *o)
{
    long long line_deadline = 0;        /* set once, at the line's first byte */

    while (iobuf_line_length(*in) == 0) {
        size_t held = iobuf_len(*in);   /* the line so far, no '\n' in it yet */
        if (held > (size_t)o->max_line)
            return "too-long";
        if (held > 0 && line_deadline == 0)
            line_deadline = deadline_in(o->line_timeout_ms);

        long long deadline = deadline_in(o->idle_timeout_ms);
        const char *timeout = "timeout";
        if (line_deadline && (deadline == 0 || line_deadline < deadline)) {
            deadline = line_deadline;   /* the line's time runs out first */
            timeout = "line-timeout";
        }

        /* Hold at most one byte more than the longest line: enough to see
         * that a line is too long, and all the memory a client can claim. */
        size_t room;
        char *space = iobuf_space(in, (size_t)o->max_line + 1, &room);
        if (!space)
            return "error";                     /* out of memory */
        ssize_t n = read_by(fd, space, room, deadline);
        if (n == 0)
            return "eof";
        if (n < 0)
            return errno == EAGAIN ? timeout : reason_for_errno(errno);
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
    if (strcmp(reason, "too-long") == 0) {
        static const char reply[] = "ERR line too long\n";
        write_all(fd, reply, sizeof reply - 1);  /* best effort: we close next */
    }
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
