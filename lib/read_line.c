/* read_line.c - one line, bounded in time and in size (see read_line.h):
 * lesson 04's read_line(), for the lessons after it. In a file of its own:
 * lesson 04 defines read_line() itself, and the linker then takes that one
 * and never this (an archive member is linked only for a symbol still
 * undefined). */
#define _POSIX_C_SOURCE 200809L
#include "read_line.h"
#include "deadline.h"

#include <errno.h>

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
