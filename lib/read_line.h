/*
 * read_line.h - read one line, bounded in time and in size.
 *
 * You build this in lesson 04; from lesson 05 on it lives here.
 */
#ifndef READ_LINE_H
#define READ_LINE_H

#include "iobuf.h"
#include "kit.h"

/* Read from fd until *in holds a whole line ('\n' included). NULL when it
 * does, else the reason the connection must end, for the log: "eof",
 * "timeout" (o->idle_timeout_ms of silence), "line-timeout" (the line took
 * longer than o->line_timeout_ms from its first byte), "too-long" (more
 * than o->max_line bytes without '\n'), or reason_for_errno()'s. *in never
 * holds more than o->max_line + 1 bytes. */
const char *read_line(int fd, struct iobuf **in, const struct options *o);

#endif
