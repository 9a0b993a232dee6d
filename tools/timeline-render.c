/*
 * timeline-render.c - read a recording back, print its lanes, draw its SVG.
 *
 * Included by timeline.c (the kit builds each tool from one .c file); it uses
 * timeline.c's state names, side names and helpers, and is not compiled alone.
 *
 * Reading a recording turns its events into lanes of segments. A state runs
 * from the sample that first saw it to the sample that saw the next one (the
 * change happened somewhere in that interval: a step is the honest picture).
 * A destroy event, which comes between samples, replaces a sample's time: it
 * ends a lane, or starts its TIME-WAIT. The stretch from a lane's last sample
 * to its end is "unseen": its last state may have changed there unsampled.
 */

struct seg {
    int state;
    long long from, to;
    int unseen;          /* between the last sample and the end: not seen */
};

/* What `lanes` prints for a lane, in time order. */
enum ev_kind { EV_STATE, EV_DESTROY, EV_LAST, EV_GONE, EV_OPEN, EV_LOG };
struct ev {
    long long t;
    int order;           /* ties keep the recording's order */
    enum ev_kind kind;
    char text[72];       /* the state, or log:REASON */
};

struct lane {
    int id, side;
    char local[64], peer[64];
    char client_addr[80];   /* the client's end, spelled one way: the key for logs and pairs */
    long long start, end, state_from, destroy;
    int state;           /* while reading: the current state, 0 = none */
    int gone, open;
    struct seg *segs;
    int nsegs;
    struct ev *evs;
    int nevs;
    struct lane *pair;   /* the other end of the connection, if recorded */
};

struct logev {
    long long t;
    char kind[32], addr[80], reason[64];
    struct lane *lane;   /* NULL: no lane has this address */
};

struct procpt {
    long long t;
    int fds, threads;    /* -1: the process was gone */
};

struct recording {
    const char *path;
    char title[200];
    int port, interval, pid, destroy_on, lost_destroy;
    long long end;
    struct lane *lanes;
    int nlanes;
    struct logev *logs;
    int nlogs;
    struct procpt *proc;
    int nproc;
};

/* Grow an array by one element: p = grow(p, &n, sizeof *p) then p[n - 1]. */
static void *grow(void *p, int *n, size_t size)
{
    /* Capacities are the powers of two: realloc when n reaches one. */
    if ((*n & (*n - 1)) == 0) p = xrealloc(p, (size_t)(*n ? *n * 2 : 1) * size);
    (*n)++;
    return p;
}

static void add_ev(struct lane *l, long long t, enum ev_kind kind, const char *text)
{
    l->evs = grow(l->evs, &l->nevs, sizeof *l->evs);
    struct ev *e = &l->evs[l->nevs - 1];
    *e = (struct ev){.t = t, .order = l->nevs, .kind = kind};
    copy_str(e->text, sizeof e->text, text);
}

static void add_seg(struct lane *l, int state, long long from, long long to, int unseen)
{
    if (to < from) to = from;
    l->segs = grow(l->segs, &l->nsegs, sizeof *l->segs);
    l->segs[l->nsegs - 1] = (struct seg){state, from, to, unseen};
}

/* The lane ends at `end`; its last sample was at `last` (-1: never sampled). */
static void end_lane(struct lane *l, long long last, long long end)
{
    if (l->state) {
        if (last < l->state_from) last = l->state_from;
        if (last > end) last = end;
        add_seg(l, l->state, l->state_from, last, 0);
        if (end > last) add_seg(l, l->state, last, end, 1);
    }
    l->state = 0;
    l->end = end;
}

static void bad_line(const struct recording *rec, int lineno, const char *line)
{
    fprintf(stderr, "timeline: %s:%d: not a recording line: %s\n", rec->path, lineno, line);
    exit(1);
}

static struct lane *lane_by_id(struct recording *rec, const char *id, int lineno, const char *line)
{
    int i = atoi(id);
    if (i < 1 || i > rec->nlanes) bad_line(rec, lineno, line);
    return &rec->lanes[i - 1];
}

static void read_event(struct recording *rec, long long t, char *rest, int lineno, const char *line)
{
    char what[16], a[80], b[80], c[80], d[80], e[80];
    int n = sscanf(rest, "%15s %79s %79s %79s %79s %79s", what, a, b, c, d, e);
    if (n < 1) bad_line(rec, lineno, line);
    if (!strcmp(what, "new") && n == 6) {
        rec->lanes = grow(rec->lanes, &rec->nlanes, sizeof *rec->lanes);
        struct lane *l = &rec->lanes[rec->nlanes - 1];
        if (atoi(a) != rec->nlanes) bad_line(rec, lineno, line);
        *l = (struct lane){.id = rec->nlanes, .side = strcmp(b, "server") ? CLIENT : SERVER,
                           .start = t, .destroy = -1, .state = state_by_name(e), .state_from = t};
        copy_str(l->local, sizeof l->local, c);
        copy_str(l->peer, sizeof l->peer, d);
        if (l->state) add_ev(l, t, EV_STATE, state_names[l->state]);
    } else if (!strcmp(what, "state") && n == 3) {
        struct lane *l = lane_by_id(rec, a, lineno, line);
        int s = state_by_name(b);
        long long at = t;
        /* The kernel freed the full socket since the last state: what lives
         * on is its mini-socket (TIME-WAIT, or an orphan's FIN-WAIT-2), born
         * at that moment, more exactly than this sample says. */
        if (l->destroy >= l->state_from && l->destroy <= t) at = l->destroy;
        if (l->state) add_seg(l, l->state, l->state_from, at, 0);
        l->state = s;
        l->state_from = at;
        add_ev(l, t, EV_STATE, state_names[s]);
    } else if (!strcmp(what, "destroy") && n == 2) {
        struct lane *l = lane_by_id(rec, a, lineno, line);
        /* Read late (a loaded machine): it happened before the sample that
         * found the lane gone, or in TIME-WAIT (always a freed socket's). */
        if (l->gone && t > l->end) t = l->end;
        if (l->state == 6 && t > l->state_from) t = l->state_from;
        l->destroy = t;
        add_ev(l, t, EV_DESTROY, "destroy");
    } else if (!strcmp(what, "gone") && n == 3) {
        struct lane *l = lane_by_id(rec, a, lineno, line);
        long long last = strcmp(b, "-") ? atoll(b) : -1;
        long long end = t;
        if (l->destroy >= 0 && l->destroy >= last && l->destroy < end) end = l->destroy;
        if (last >= 0) add_ev(l, last, EV_LAST, "last");
        add_ev(l, t, EV_GONE, "gone");
        end_lane(l, last, end);
        l->gone = 1;
    } else if (!strcmp(what, "log") && n == 4) {
        rec->logs = grow(rec->logs, &rec->nlogs, sizeof *rec->logs);
        struct logev *g = &rec->logs[rec->nlogs - 1];
        *g = (struct logev){.t = t};
        copy_str(g->kind, sizeof g->kind, a);
        copy_str(g->addr, sizeof g->addr, b);
        copy_str(g->reason, sizeof g->reason, c);
    } else if (!strcmp(what, "proc") && n == 3) {
        rec->proc = grow(rec->proc, &rec->nproc, sizeof *rec->proc);
        rec->proc[rec->nproc - 1] = (struct procpt){t, strcmp(a, "-") ? atoi(a) : -1, strcmp(b, "-") ? atoi(b) : -1};
    } else if (!strcmp(what, "lost")) {
        rec->lost_destroy++;
    } else if (!strcmp(what, "end")) {
        rec->end = t;
    } else {
        bad_line(rec, lineno, line);
    }
}

/* "[::1]:5", "::1:5", "::ffff:127.0.0.1:5" and "127.0.0.1:5" -> host and port. */
static void split_addr(const char *addr, char *host, size_t size, int *port)
{
    const char *colon = strrchr(addr, ':');
    *port = colon ? atoi(colon + 1) : -1;
    size_t len = colon ? (size_t)(colon - addr) : strlen(addr);
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
        addr++;
        len -= 2;
    }
    if (len > 7 && !strncmp(addr, "::ffff:", 7) && strchr(addr + 7, '.')) {
        addr += 7;
        len -= 7;
    }
    snprintf(host, size, "%.*s", (int)len, addr);
}

/* "host:port" in one spelling, whichever way it was written. */
static void normal_addr(const char *addr, char *out, size_t size)
{
    char host[80];
    int port;
    split_addr(addr, host, sizeof host, &port);
    snprintf(out, size, "%.70s:%d", host, port);
}

/* The lanes sorted by the client's address (a server lane's peer, a client
 * lane's own), then side, then start: log lines and the two ends of a
 * connection are found by binary search, not by comparing every pair. */
static int by_client_addr(const void *a, const void *b)
{
    const struct lane *x = *(const struct lane *const *)a, *y = *(const struct lane *const *)b;
    int c = strcmp(x->client_addr, y->client_addr);
    if (c) return c;
    if (x->side != y->side) return x->side - y->side;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* The first lane in the index whose client address is addr, or n. */
static int first_with_addr(struct lane **index, int n, const char *addr)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strcmp(index[mid]->client_addr, addr) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* A log line names the client's address:port: the server lane whose peer it
 * is, and whose life is nearest the line's time (a port can be reused); a
 * client lane if the server's end was not recorded. */
static void match_logs(struct recording *rec, struct lane **index)
{
    for (int i = 0; i < rec->nlogs; i++) {
        struct logev *g = &rec->logs[i];
        char addr[80];
        normal_addr(g->addr, addr, sizeof addr);
        long long best = -1;
        for (int k = first_with_addr(index, rec->nlanes, addr);
             k < rec->nlanes && !strcmp(index[k]->client_addr, addr); k++) {
            struct lane *l = index[k];
            if (g->lane && g->lane->side == SERVER && l->side == CLIENT) break;
            long long dist = g->t < l->start ? l->start - g->t : g->t > l->end ? g->t - l->end : 0;
            if (best < 0 || dist < best) {
                best = dist;
                g->lane = l;
            }
        }
        if (!g->lane) continue;
        char text[sizeof g->kind + sizeof g->reason + 8];
        if (!strcmp(g->kind, "close")) snprintf(text, sizeof text, "log:%s", g->reason);
        else snprintf(text, sizeof text, "log:%s:%s", g->kind, g->reason);
        add_ev(g->lane, g->t, EV_LOG, text);
    }
}

/* The two ends of one connection: same client address, each one's local is
 * the other's peer, and their lives overlap. */
static void pair_lanes(struct recording *rec, struct lane **index)
{
    for (int k = 0; k < rec->nlanes; k++) {
        struct lane *s = index[k];
        if (s->side != SERVER) continue;
        for (int j = k + 1; j < rec->nlanes && !strcmp(index[j]->client_addr, s->client_addr); j++) {
            struct lane *c = index[j];
            if (c->side == CLIENT && !c->pair && !strcmp(c->peer, s->local) && c->start <= s->end && s->start <= c->end) {
                s->pair = c;
                c->pair = s;
                break;
            }
        }
    }
}

static void read_recording(struct recording *rec, const char *path)
{
    memset(rec, 0, sizeof *rec);
    rec->path = path;
    rec->end = -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "timeline: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char line[512];
    int lineno = 0, version = 0;
    long long last_t = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char key[32];
        int off = 0;
        if (sscanf(line, "%31s %n", key, &off) < 1) continue;
        char *rest = line + off;
        if (key[0] >= '0' && key[0] <= '9') {
            last_t = atoll(key);
            read_event(rec, last_t, rest, lineno, line);
        } else if (!strcmp(key, "timeline")) version = atoi(rest);
        else if (!strcmp(key, "port")) rec->port = atoi(rest);
        else if (!strcmp(key, "interval")) rec->interval = atoi(rest);
        else if (!strcmp(key, "pid")) rec->pid = atoi(rest);
        else if (!strcmp(key, "destroy")) rec->destroy_on = !strncmp(rest, "on", 2);
        else if (!strcmp(key, "title")) copy_str(rec->title, sizeof rec->title, rest);
        /* clock, log, and keys from later versions: nothing to draw */
    }
    fclose(f);
    if (version != 1) {
        fprintf(stderr, "timeline: %s is not a timeline recording (no 'timeline 1' line)\n", path);
        exit(1);
    }
    if (rec->end < 0) rec->end = last_t;   /* a recorder killed hard: end at its last line */
    for (int i = 0; i < rec->nlanes; i++) {
        struct lane *l = &rec->lanes[i];
        if (l->gone) continue;
        if (!l->state && l->destroy >= 0) {   /* destroyed, unsampled, then the end */
            end_lane(l, -1, l->destroy);
            l->gone = 1;
            continue;
        }
        end_lane(l, rec->end, rec->end);
        l->open = 1;
        add_ev(l, rec->end, EV_OPEN, "open");
    }
    struct lane **index = xrealloc(NULL, (size_t)(rec->nlanes + 1) * sizeof *index);
    for (int i = 0; i < rec->nlanes; i++) {
        struct lane *l = &rec->lanes[i];
        normal_addr(l->side == SERVER ? l->peer : l->local, l->client_addr, sizeof l->client_addr);
        index[i] = l;
    }
    qsort(index, (size_t)rec->nlanes, sizeof *index, by_client_addr);
    match_logs(rec, index);
    pair_lanes(rec, index);
    free(index);
}

static void free_recording(struct recording *rec)
{
    for (int i = 0; i < rec->nlanes; i++) {
        free(rec->lanes[i].segs);
        free(rec->lanes[i].evs);
    }
    free(rec->lanes);
    free(rec->logs);
    free(rec->proc);
}

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->order - y->order;
}

static int cmd_lanes(int argc, char **argv)
{
    if (argc != 2) usage_error("lanes needs one recording: timeline lanes REC.tl%s", "");
    struct recording rec;
    read_recording(&rec, argv[1]);
    int count[2] = {0, 0};
    for (int i = 0; i < rec.nlanes; i++) count[rec.lanes[i].side]++;
    printf("# port %d, every %d ms, destroy events %s, 0-%lld ms, %d server lanes, %d client lanes%s\n",
           rec.port, rec.interval, rec.destroy_on ? "on" : "off", rec.end, count[SERVER], count[CLIENT],
           rec.lost_destroy ? " (some destroy events were lost)" : "");
    for (int i = 0; i < rec.nlanes; i++) {
        struct lane *l = &rec.lanes[i];
        qsort(l->evs, (size_t)l->nevs, sizeof *l->evs, ev_cmp);
        printf("%d %s %s %s", l->id, side_names[l->side], l->local, l->peer);
        for (int k = 0; k < l->nevs; k++) printf(" %s@%lld", l->evs[k].text, l->evs[k].t);
        if (l->gone) printf(" end@%lld", l->end);   /* last: the lane's end as drawn */
        putchar('\n');
    }
    for (int i = 0; i < rec.nlogs; i++)
        if (!rec.logs[i].lane)
            printf("# log with no lane: %s %s reason=%s @%lld\n", rec.logs[i].kind, rec.logs[i].addr,
                   rec.logs[i].reason, rec.logs[i].t);
    free_recording(&rec);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- the SVG ---------------------------------------------------------------- */

/* Fixed colours, one per state: the same picture means the same thing in every
 * lesson. Healthy green, the leak red, TIME-WAIT's long wait grey. */
static const char *const state_colors[N_STATES] = {
    "#000", "#43a047", "#90caf9", "#64b5f6", "#ffd54f", "#ffa726", "#9e9e9e",
    "#616161", "#e53935", "#8e24aa", "#000", "#f48fb1", "#64b5f6",
};
/* Stacking order in the count chart: a connection's life, bottom up. */
static const int stack_order[] = {2, 3, 1, 4, 5, 11, 8, 9, 6, 7};
enum { N_STACK = sizeof stack_order / sizeof stack_order[0] };

enum { W = 1200, X0 = 140, X1 = 1110, MAX_LANES = 50, CHART_H = 90, NCOL = 485 };

static long long t_max;   /* the shared time axis: 0 .. t_max ms */
static double xt(long long t) { return X0 + (double)(X1 - X0) * (double)t / (double)t_max; }

static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", out);
        else if (*s == '<') fputs("&lt;", out);
        else if (*s == '>') fputs("&gt;", out);
        else if (*s == '"') fputs("&quot;", out);
        else if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, out);
    }
}

/* A tick step of 1, 2 or 5 times a power of ten: about 8 ticks on the axis. */
static long long tick_step(long long span)
{
    long long step = 1;
    while (step * 10 <= span / 8 + 1) step *= 10;
    if (step * 5 <= span / 8) return step * 5;
    if (step * 2 <= span / 8) return step * 2;
    return step;
}

static void time_label(char *buf, size_t size, long long t, long long step)
{
    if (t_max < 2000) snprintf(buf, size, "%lld ms", t);
    else if (step % 1000 == 0) snprintf(buf, size, "%lld s", t / 1000);
    else snprintf(buf, size, "%.*f s", step % 100 == 0 ? 1 : 2, (double)t / 1000.0);
}

static void draw_axis(FILE *out, double y, double grid_top)
{
    long long step = tick_step(t_max);
    fprintf(out, "<g class=\"axis\" font-size=\"10\" fill=\"#444\">\n");
    fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\"/>\n", X0, y, X1, y);
    for (long long t = 0; t <= t_max; t += step) {
        char label[32];
        time_label(label, sizeof label, t, step);
        double x = xt(t);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>", x, grid_top, x, y);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>", x, y, x, y + 4);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, y + 15, label);
    }
    fprintf(out, "</g>\n");
}

/* The client's port names a connection on both sides: ":51234". */
static const char *lane_label(const struct lane *l)
{
    const char *a = l->side == SERVER ? l->peer : l->local;
    const char *colon = strrchr(a, ':');
    return colon ? colon : a;
}

static void draw_lane(FILE *out, const struct lane *l, double y, double rh)
{
    double bar_y = y + 1.5, bar_h = rh - 3;
    fprintf(out, "<g class=\"lane\" data-side=\"%s\"><title>", side_names[l->side]);
    put_escaped(out, side_names[l->side]);
    fputs(" side ", out);
    put_escaped(out, l->local);
    fputs(" - ", out);
    put_escaped(out, l->peer);
    fprintf(out, "</title>\n<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%.0f\" fill=\"#333\">%s</text>\n",
            X0 - 6, y + rh * 0.75, rh >= 14 ? 11.0 : rh - 2, lane_label(l));
    for (int i = 0; i < l->nsegs; i++) {
        const struct seg *s = &l->segs[i];
        double x = xt(s->from), w = xt(s->to) - x;
        if (w < 1.5) w = 1.5;   /* a sampled state is at least visible */
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>", x, bar_y, w, bar_h,
                state_colors[s->state]);
        if (s->unseen)
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"url(#unseen)\"/>", x, bar_y, w,
                    bar_h);
        fputc('\n', out);
    }
    if (!l->nsegs && l->destroy >= 0)   /* never sampled: a sliver before its destroy */
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"3\" height=\"%.1f\" fill=\"url(#unseen)\" stroke=\"#999\" stroke-width=\"0.5\"/>\n",
                xt(l->destroy) - 3, bar_y, bar_h);
    if (l->destroy >= 0)
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#111\" stroke-width=\"1.5\"/>\n",
                xt(l->destroy), y, xt(l->destroy), y + rh);
    for (int i = 0; i < l->nevs; i++) {
        const struct ev *e = &l->evs[i];
        if (e->kind != EV_LOG) continue;
        double x = xt(e->t);
        fprintf(out, "<path d=\"M%.1f %.1fh7l-3.5 5z\" fill=\"#111\"/>", x - 3.5, y);
        if (rh >= 9)
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" stroke=\"#fff\" stroke-width=\"3\" "
                         "paint-order=\"stroke\" fill=\"#111\">%s</text>",
                    x + 5, y + rh * 0.75, rh >= 14 ? 10.0 : rh - 2, e->text + 4);
        fputc('\n', out);
    }
    fputs("</g>\n", out);
}

static int lane_start_cmp(const void *a, const void *b)
{
    const struct lane *x = *(const struct lane *const *)a, *y = *(const struct lane *const *)b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->id - y->id;
}

/* Which lanes a panel draws, in order: server lanes by start; client lanes
 * in the same order as their server ends, then the rest. At most MAX_LANES:
 * half a side when both sides have more. */
struct shown {
    struct lane **lanes[2];
    int n[2], total[2];
};

static void choose_lanes(const struct recording *rec, struct shown *sh)
{
    struct lane **all[2];
    for (int s = 0; s < 2; s++) {
        all[s] = xrealloc(NULL, (size_t)(rec->nlanes + 1) * sizeof *all[s]);
        sh->lanes[s] = xrealloc(NULL, (size_t)(rec->nlanes + 1) * sizeof *sh->lanes[s]);
        sh->total[s] = sh->n[s] = 0;
    }
    for (int i = 0; i < rec->nlanes; i++) all[rec->lanes[i].side][sh->total[rec->lanes[i].side]++] = &rec->lanes[i];
    for (int s = 0; s < 2; s++) qsort(all[s], (size_t)sh->total[s], sizeof *all[s], lane_start_cmp);
    int cap[2] = {sh->total[SERVER], sh->total[CLIENT]};
    if (cap[SERVER] + cap[CLIENT] > MAX_LANES) {
        int half = MAX_LANES / 2;
        cap[SERVER] = sh->total[SERVER] < half ? sh->total[SERVER] : sh->total[CLIENT] < half ? MAX_LANES - sh->total[CLIENT] : half;
        cap[CLIENT] = MAX_LANES - cap[SERVER] < sh->total[CLIENT] ? MAX_LANES - cap[SERVER] : sh->total[CLIENT];
    }
    for (int i = 0; i < cap[SERVER]; i++) sh->lanes[SERVER][sh->n[SERVER]++] = all[SERVER][i];
    for (int i = 0; i < sh->n[SERVER] && sh->n[CLIENT] < cap[CLIENT]; i++)
        if (sh->lanes[SERVER][i]->pair) sh->lanes[CLIENT][sh->n[CLIENT]++] = sh->lanes[SERVER][i]->pair;
    for (int i = 0; i < sh->total[CLIENT] && sh->n[CLIENT] < cap[CLIENT]; i++) {
        struct lane *c = all[CLIENT][i];
        int shown_already = 0;
        for (int k = 0; k < sh->n[CLIENT]; k++) shown_already |= sh->lanes[CLIENT][k] == c;
        if (!shown_already) sh->lanes[CLIENT][sh->n[CLIENT]++] = c;
    }
    free(all[0]);
    free(all[1]);
}

/* The time the count chart samples in column c, and the first column whose
 * time is at or after t (NCOL if none). */
static long long col_time(int c) { return (long long)((double)t_max * (c + 0.5) / NCOL); }

static int first_col(long long t)
{
    int c = (int)((double)t * NCOL / (double)t_max - 0.5);
    if (c < 0) c = 0;
    while (c > 0 && col_time(c - 1) >= t) c--;
    while (c < NCOL && col_time(c) < t) c++;
    return c;
}

/* counts[c][k]: lanes in stack_order[k] at column c's time (-1 in [c][0]:
 * after the recording's end). Each segment adds one from its first column to
 * its last (a running sum over +1 and -1 marks), so a big recording is cheap. */
static void count_states(const struct recording *rec, int (*counts)[N_STACK])
{
    int slot[N_STATES] = {0};
    for (int k = 0; k < N_STACK; k++) slot[stack_order[k]] = k;
    slot[12] = slot[3];   /* a request socket counts as SYN-RECV */
    int (*delta)[N_STACK] = xrealloc(NULL, sizeof(int[N_STACK]) * (NCOL + 1));
    memset(delta, 0, sizeof(int[N_STACK]) * (NCOL + 1));
    for (int i = 0; i < rec->nlanes; i++)
        for (int j = 0; j < rec->lanes[i].nsegs; j++) {
            const struct seg *g = &rec->lanes[i].segs[j];
            delta[first_col(g->from)][slot[g->state]]++;
            delta[first_col(g->to)][slot[g->state]]--;
        }
    int run[N_STACK] = {0};
    for (int c = 0; c < NCOL; c++)
        for (int k = 0; k < N_STACK; k++) {
            run[k] += delta[c][k];
            counts[c][k] = run[k];
        }
    for (int c = 0; c < NCOL; c++)
        if (col_time(c) > rec->end) counts[c][0] = -1;
    free(delta);
}

static int max_total(int (*counts)[N_STACK])
{
    int best = 0;
    for (int c = 0; c < NCOL; c++) {
        int sum = 0;
        for (int k = 0; k < N_STACK; k++) sum += counts[c][k] > 0 ? counts[c][k] : 0;
        if (sum > best) best = sum;
    }
    return best;
}

static int max_fds(const struct recording *rec)
{
    int best = 0;
    for (int i = 0; i < rec->nproc; i++) {
        if (rec->proc[i].fds > best) best = rec->proc[i].fds;
        if (rec->proc[i].threads > best) best = rec->proc[i].threads;
    }
    return best;
}

/* The stacked count of each state: one step-shaped band per state. */
static void draw_counts(FILE *out, int (*counts)[N_STACK], double top, int ymax)
{
    double base = top + CHART_H, colw = (double)(X1 - X0) / NCOL;
    fprintf(out, "<g class=\"counts\">\n");
    for (int k = N_STACK - 1; k >= 0; k--) {
        /* Band k runs from the sum below it to the sum including it. */
        int any = 0;
        for (int c = 0; c < NCOL; c++) any |= counts[c][k] > 0;
        if (!any) continue;
        fprintf(out, "<path fill=\"%s\" d=\"", state_colors[stack_order[k]]);
        int ncols = 0;
        while (ncols < NCOL && counts[ncols][0] >= 0) ncols++;
        double prev = -1;
        for (int c = 0; c < ncols; c++) {   /* the top edge, left to right */
            int sum = 0;
            for (int j = 0; j <= k; j++) sum += counts[c][j];
            double y = base - (double)sum * CHART_H / ymax;
            if (c == 0) fprintf(out, "M%.1f %.1f", (double)X0, y);
            else if (y != prev) fprintf(out, "H%.1fV%.1f", X0 + c * colw, y);
            prev = y;
        }
        fprintf(out, "H%.1f", X0 + ncols * colw);
        for (int c = ncols - 1; c >= 0; c--) {   /* the bottom edge, back */
            int sum = 0;
            for (int j = 0; j < k; j++) sum += counts[c][j];
            double y = base - (double)sum * CHART_H / ymax;
            if (c == ncols - 1) fprintf(out, "V%.1f", y);
            else if (y != prev) fprintf(out, "H%.1fV%.1f", X0 + (c + 1) * colw, y);
            prev = y;
        }
        fprintf(out, "H%dz\"/>\n", X0);
    }
    fprintf(out, "</g>\n");
}

/* The fd and thread counts: step lines on the right-hand scale. */
static void draw_proc(FILE *out, const struct recording *rec, double top, int pmax)
{
    double base = top + CHART_H;
    for (int which = 0; which < 2; which++) {
        int last = -1;
        long long last_t = 0;
        fprintf(out, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s d=\"", which ? "#555" : "#000",
                which ? " stroke-dasharray=\"4 3\"" : "");
        int pen = 0;
        for (int i = 0; i < rec->nproc; i++) {
            int v = which ? rec->proc[i].threads : rec->proc[i].fds;
            double x = xt(rec->proc[i].t);
            if (v < 0) break;
            double y = base - (double)v * CHART_H / pmax;
            if (!pen) fprintf(out, "M%.1f %.1f", x, y);
            else fprintf(out, "H%.1fV%.1f", x, y);
            pen = 1;
            last = v;
            last_t = rec->proc[i].t;
        }
        int gone = rec->nproc && (which ? rec->proc[rec->nproc - 1].threads : rec->proc[rec->nproc - 1].fds) < 0;
        long long end = gone ? rec->proc[rec->nproc - 1].t : rec->end;
        if (pen) fprintf(out, "H%.1f", xt(end > last_t ? end : last_t));
        fprintf(out, "\"/>\n");
        if (last >= 0)
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\">%s %d</text>\n", xt(end) + 4,
                    base - (double)last * CHART_H / pmax + (which ? 10 : -2), which ? "#555" : "#000",
                    which ? "threads" : "fds", last);
    }
}

struct panel {
    struct recording rec;
    char label[200];
};

/* One recording: its title, its lanes, its counts, its axis. Returns the y below it. */
static double draw_panel(FILE *out, struct panel *p, double y, double rh, int count_max, int proc_max)
{
    struct recording *rec = &p->rec;
    struct shown sh;
    choose_lanes(rec, &sh);
    double top = y;
    fprintf(out, "<g class=\"panel\">\n<text x=\"10\" y=\"%.1f\" font-size=\"15\" font-weight=\"bold\">", y + 15);
    put_escaped(out, p->label);
    fprintf(out, "</text>\n<text x=\"10\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">port %d, sampled every %d ms, "
                 "%d server and %d client lanes, kernel destroy events %s%s</text>\n",
            y + 29, rec->port, rec->interval, sh.total[SERVER], sh.total[CLIENT], rec->destroy_on ? "on" : "off",
            rec->lost_destroy ? " (some lost)" : "");
    y += 38;
    double lanes_top = y;
    for (int s = 0; s < 2; s++) {
        fprintf(out, "<text x=\"10\" y=\"%.1f\" font-size=\"11\" font-weight=\"bold\" fill=\"#333\">%s side</text>"
                     "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#777\">client port</text>\n",
                y + 11, side_names[s], X0 - 6, y + 11);
        y += 15;
        if (!sh.total[s]) {
            fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#777\">no %s-side connection was seen</text>\n",
                    X0, y + 10, side_names[s]);
            y += 15;
        }
        for (int i = 0; i < sh.n[s]; i++, y += rh) draw_lane(out, sh.lanes[s][i], y, rh);
        if (sh.n[s] < sh.total[s]) {
            fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" font-style=\"italic\" fill=\"#555\">+ %d more "
                         "%s lanes not drawn (the counts below include every lane)</text>\n",
                    X0, y + 11, sh.total[s] - sh.n[s], side_names[s]);
            y += 15;
        }
        y += 6;
    }
    /* The end of this recording, on the shared axis. */
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#777\" stroke-dasharray=\"3 3\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#777\" text-anchor=\"end\">end</text>\n",
            xt(rec->end), lanes_top, xt(rec->end), y + CHART_H + 8, xt(rec->end) - 2, lanes_top + 8);
    for (int i = 0; i < rec->nlogs; i++)
        if (!rec->logs[i].lane) {
            fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">log with no lane at %lld ms: ", X0,
                    y + 10, rec->logs[i].t);
            put_escaped(out, rec->logs[i].kind);
            fputc(' ', out);
            put_escaped(out, rec->logs[i].addr);
            fputs(" reason=", out);
            put_escaped(out, rec->logs[i].reason);
            fputs("</text>\n", out);
            y += 14;
            if (i > 5) break;   /* a few say enough */
        }
    /* Below the lanes: how many sockets in each state, and the fds. */
    int (*counts)[N_STACK] = xrealloc(NULL, sizeof(int[N_STACK]) * NCOL);
    count_states(rec, counts);
    y += 4;
    fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#333\">sockets</text>"
                 "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#333\">%d</text>"
                 "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#333\">0</text>\n"
                 "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
            X0 - 30, y + CHART_H / 2.0, X0 - 6, y + 9, count_max, X0 - 6, y + CHART_H, X0, y, X1, y);
    draw_counts(out, counts, y, count_max);
    free(counts);
    if (rec->pid) draw_proc(out, rec, y, proc_max);
    else fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"9\" fill=\"#777\">(no --pid: fds not recorded)</text>\n",
                 X1 - 160, y + 10);
    y += CHART_H;
    draw_axis(out, y, top + 38);
    fputs("</g>\n", out);
    free(sh.lanes[0]);
    free(sh.lanes[1]);
    return y + 26;
}

/* The legend: the states that appear, then the marks. */
static double draw_legend(FILE *out, const struct panel *panels, int n, double y)
{
    int used[N_STATES] = {0};
    for (int p = 0; p < n; p++)
        for (int i = 0; i < panels[p].rec.nlanes; i++)
            for (int k = 0; k < panels[p].rec.lanes[i].nsegs; k++) used[panels[p].rec.lanes[i].segs[k].state] = 1;
    used[3] |= used[12];
    double x = 10;
    fprintf(out, "<g class=\"legend\" font-size=\"11\">\n");
    for (int k = 0; k < N_STACK; k++) {
        int s = stack_order[k];
        if (!used[s]) continue;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                x, y, state_colors[s], x + 18, y + 9, state_names[s]);
        x += 26 + 7.0 * (double)strlen(state_names[s]);
    }
    x += 8;
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"#bbb\"/><rect x=\"%.1f\" y=\"%.1f\" "
                 "width=\"14\" height=\"10\" fill=\"url(#unseen)\"/><text x=\"%.1f\" y=\"%.1f\">not seen (between samples)</text>\n",
            x, y, x, y, x + 18, y + 9);
    x += 190;
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#111\" stroke-width=\"1.5\"/><text x=\"%.1f\" "
                 "y=\"%.1f\">socket freed (kernel)</text>\n", x + 4, y - 1, x + 4, y + 11, x + 10, y + 9);
    x += 150;
    fprintf(out, "<path d=\"M%.1f %.1fh9l-4.5 6z\" fill=\"#111\"/><text x=\"%.1f\" y=\"%.1f\">server log: reason</text>\n",
            x, y + 1, x + 13, y + 9);
    fprintf(out, "<line x1=\"10\" y1=\"%.1f\" x2=\"30\" y2=\"%.1f\" stroke=\"#000\" stroke-width=\"1.6\"/><text x=\"34\" "
                 "y=\"%.1f\">server fds</text><line x1=\"110\" y1=\"%.1f\" x2=\"130\" y2=\"%.1f\" stroke=\"#555\" "
                 "stroke-width=\"1.6\" stroke-dasharray=\"4 3\"/><text x=\"134\" y=\"%.1f\">server threads</text>"
                 "<text x=\"240\" y=\"%.1f\" fill=\"#555\">(below each run: sockets per state, stacked, and the "
                 "server's counts on the same scale)</text>\n</g>\n",
            y + 23, y + 23, y + 27, y + 23, y + 23, y + 27, y + 27);
    return y + 40;
}

static int cmd_svg(int argc, char **argv)
{
    const char *title = NULL, *label = NULL;
    struct panel *panels = NULL;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--title") || !strcmp(argv[i], "--label")) {
            if (i + 1 >= argc) usage_error("%s needs a value", argv[i]);
            *(argv[i][2] == 't' ? &title : &label) = argv[i + 1];
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) usage_error("svg: unknown option %s", argv[i]);
        panels = grow(panels, &n, sizeof *panels);
        struct panel *p = &panels[n - 1];
        read_recording(&p->rec, argv[i]);
        copy_str(p->label, sizeof p->label, label ? label : p->rec.title[0] ? p->rec.title : argv[i]);
        label = NULL;
    }
    if (!n) usage_error("svg needs a recording: timeline svg [--title T] REC.tl [REC2.tl ...]%s", "");

    /* One time axis and one count scale for all, so runs compare at a glance. */
    t_max = 1;
    int count_max = 1, proc_max = 1, most_lanes = 0;
    for (int p = 0; p < n; p++) {
        struct recording *rec = &panels[p].rec;
        if (rec->end > t_max) t_max = rec->end;
        int f = max_fds(rec);
        if (f > proc_max) proc_max = f;
        if (rec->nlanes > most_lanes) most_lanes = rec->nlanes;
    }
    for (int p = 0; p < n; p++) {
        int (*counts)[N_STACK] = xrealloc(NULL, sizeof(int[N_STACK]) * NCOL);
        count_states(&panels[p].rec, counts);
        int m = max_total(counts);
        if (m > count_max) count_max = m;
        free(counts);
    }
    if (proc_max < count_max) proc_max = count_max;   /* fds and sockets on one scale when it fits */
    else count_max = proc_max;
    double rh = most_lanes <= 12 ? 16 : most_lanes <= 24 ? 12 : 9;

    /* The body first: the height is known once it is drawn. */
    char *body = NULL;
    size_t body_len = 0;
    FILE *out = open_memstream(&body, &body_len);
    if (!out) return 1;
    double y = 10;
    fprintf(out, "<text x=\"10\" y=\"%.1f\" font-size=\"18\" font-weight=\"bold\">", y + 16);
    put_escaped(out, title ? title : "TCP connection states over time");
    fputs("</text>\n", out);
    y = draw_legend(out, panels, n, y + 32);
    for (int p = 0; p < n; p++) y = draw_panel(out, &panels[p], y, rh, count_max, proc_max);
    fclose(out);

    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
           "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\">\n<title>",
           W, y, W, y);
    put_escaped(stdout, title ? title : "TCP connection states over time");
    printf("</title>\n<defs><pattern id=\"unseen\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" "
           "patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#fff\" fill-opacity=\"0.5\"/>"
           "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#222\" stroke-width=\"1.6\"/></pattern></defs>\n"
           "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    fwrite(body, 1, body_len, stdout);
    puts("</svg>");
    free(body);
    for (int p = 0; p < n; p++) free_recording(&panels[p].rec);
    free(panels);
    return fflush(stdout) == 0 ? 0 : 1;
}
