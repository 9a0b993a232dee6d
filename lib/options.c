/* options.c - command-line options with errors that name the option. */
#define _POSIX_C_SOURCE 200809L
#include "kit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct option_spec {
    const char *name;
    const char *value;  /* what follows it, for --help */
    unsigned flag;  /* 0: every lesson has it */
    long min, max;
    const char *help;
};

static const struct option_spec specs[] = {
    {"--port", "N", 0, 0, 65535, "port to listen on, 0 = any free port (default 12345)"},
    {"--idle-timeout", "MS", OPT_IDLE_TIMEOUT, 0, 86400000, "read deadline, reset before each read (0 = none)"},
    {"--line-timeout", "MS", OPT_LINE_TIMEOUT, 0, 86400000, "a whole line must arrive within MS (0 = none)"},
    {"--max-line", "BYTES", OPT_MAX_LINE, 1, 1L << 30, "longest line; longer gets 'ERR line too long' (default 8192)"},
    {"--write-timeout", "MS", OPT_WRITE_TIMEOUT, 0, 86400000, "write deadline (0 = none)"},
    {"--user-timeout", "MS", OPT_USER_TIMEOUT, 0, 86400000, "TCP_USER_TIMEOUT (0 = kernel default)"},
    {"--keepalive", "MS", OPT_KEEPALIVE, 0, 86400000, "keepalive idle and probe interval, 3 probes (0 = off)"},
    {"--max-conns", "N", OPT_MAX_CONNS, 0, 1L << 24, "most connections open at once (0 = no limit)"},
};

static const char *prog;

static void usage(unsigned allowed, FILE *out)
{
    fprintf(out, "usage: %s [--host ADDR] [--port N] [options]\n", prog);
    fprintf(out, "  %-20s %s\n", "--host ADDR", "address to listen on (default 127.0.0.1)");
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        if (specs[i].flag != 0 && !(specs[i].flag & allowed))
            continue;
        char name[32];
        snprintf(name, sizeof name, "%s %s", specs[i].name, specs[i].value);
        fprintf(out, "  %-20s %s\n", name, specs[i].help);
    }
}

static _Noreturn void bad_option(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(2);
}

static long parse_number(const struct option_spec *s, const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < s->min || v > s->max) {
        char range[64];
        snprintf(range, sizeof range, "a number from %ld to %ld", s->min, s->max);
        fprintf(stderr, "%s: %s needs %s, got '%s'\n", prog, s->name, range, text);
        exit(2);
    }
    return v;
}

static long *field_for(struct options *o, const char *name)
{
    if (!strcmp(name, "--idle-timeout")) return &o->idle_timeout_ms;
    if (!strcmp(name, "--line-timeout")) return &o->line_timeout_ms;
    if (!strcmp(name, "--max-line")) return &o->max_line;
    if (!strcmp(name, "--write-timeout")) return &o->write_timeout_ms;
    if (!strcmp(name, "--user-timeout")) return &o->user_timeout_ms;
    if (!strcmp(name, "--keepalive")) return &o->keepalive_ms;
    if (!strcmp(name, "--max-conns")) return &o->max_conns;
    return NULL;
}

void options_parse(int argc, char **argv, unsigned allowed, struct options *o)
{
    const char *slash = strrchr(argv[0], '/');
    prog = slash ? slash + 1 : argv[0];
    *o = (struct options){.host = "127.0.0.1", .port = 12345, .max_line = 8192};

    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *arg = argv[i], *value = NULL, *eq = strchr(arg, '=');

        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(allowed, stdout);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0)
            bad_option("unexpected argument '%s'%s (options start with --)", arg, "");
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof name)
            bad_option("unknown option '%s'%s", arg, "");
        memcpy(name, arg, len);
        name[len] = '\0';

        const struct option_spec *spec = NULL;
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
            if (!strcmp(specs[k].name, name)) spec = &specs[k];
        if (strcmp(name, "--host") != 0 && (!spec || (spec->flag && !(spec->flag & allowed))))
            bad_option("unknown option '%s'%s (try --help)", name,
                       spec ? " (this lesson does not have it yet)" : "");

        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            bad_option("%s needs a value%s", name, "");

        if (!strcmp(name, "--host")) {
            if (*value == '\0') bad_option("%s needs an address, got '%s'", name, value);
            o->host = value;
        } else if (!strcmp(name, "--port")) {
            o->port = (int)parse_number(spec, value);
        } else {
            *field_for(o, name) = parse_number(spec, value);
        }
    }
}
