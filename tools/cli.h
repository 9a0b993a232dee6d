/*
 * cli.h - what tools/client.c and tools/loadgen.c share: a monotonic clock
 * in ms, and the command line (a table of known options, numbers checked
 * against a range, errors that name the option and exit 2).
 *
 * Header-only (static inline), so each tool stays one file to build. The
 * including file defines TOOL, its name for messages, first.
 */
#ifndef KIT_TOOLS_CLI_H
#define KIT_TOOLS_CLI_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TOOL
#error "define TOOL (the tool's name, for its messages) before including cli.h"
#endif

/* Milliseconds on a clock that never jumps (not the wall clock). */
static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A bad command line: say what is wrong, with the word at fault, and exit 2. */
static inline _Noreturn void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, TOOL ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (try --help)\n");
    exit(2);
}

/* The value of option NAME as a number from MIN to MAX, or exit 2 saying so. */
static inline long number(const char *name, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, TOOL ": %s needs a number from %ld to %ld, got '%s'\n", name, min, max, text);
        exit(2);
    }
    return v;
}

/* argv[*i] must be one of the N options in KNOWN, each taking a value:
 * return the value (and step *i past it), or exit 2 naming what is wrong. */
static inline const char *option_value(int argc, char **argv, int *i, const char *const *known,
                                       size_t n)
{
    const char *a = argv[*i];
    size_t k = 0;
    while (k < n && strcmp(a, known[k]))
        k++;
    if (k == n)
        usage_error("unknown option '%s'", a);
    if (*i + 1 >= argc)
        usage_error("%s needs a value", a);
    return argv[++*i];
}

/* The index of NAME among the N words in NAMES (an enum's names), or exit 2. */
static inline int word_index(const char *option, const char *name, const char *const *names,
                             size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(name, names[k]))
            return (int)k;
    fprintf(stderr, TOOL ": unknown %s '%s' (try --help)\n", option, name);
    exit(2);
}

#endif
