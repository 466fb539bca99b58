/*
 * test_mixupctl.c — the mixupctl command line against the real daemon:
 * ping (a live and an absent daemon), stats (the table, and JSON that
 * parses and whose counters move), preview (a PNG that decodes to the
 * expected grid, pixel for pixel, and a legend line per tile; a dataset
 * that is not an image refused), and progress lines only on a terminal.
 *
 * mixupctl runs as a process ($MIXUPCTL_BIN); JSON and PNG are checked by
 * /usr/bin/python3 with its standard library only (json, zlib), so the
 * check does not share code with what it checks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "mixup.h"
#include "preview.h"
#include "testutil.h"

extern char **environ;

#define PYTHON "/usr/bin/python3"
#define MAX_ARGS 32

typedef struct run_result {
    int status;     /* exit status, or 128 + signal */
    char *out;      /* stdout */
    char *err;      /* stderr (or what the terminal received) */
    double seconds; /* wall time */
} run_result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static int wait_status(pid_t pid, int options)
{
    int st;
    pid_t got = waitpid(pid, &st, options);
    if (got == 0)
        return -1; /* still running */
    cr_assert_eq(got, pid, "waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Read the terminal's side until the child exits (a full pty would block
 * it), then what is left. */
static char *drain_pty(int master, pid_t pid, int *status)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    *status = -1;
    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = read(master, buf + len, cap - 1 - len);
            if (n > 0)
                len += (size_t)n;
            if (len + 1 == cap)
                buf = realloc(buf, cap *= 2);
            if (n > 0)
                continue;
        }
        if (*status >= 0)
            break; /* exited, and nothing more to read */
        *status = wait_status(pid, WNOHANG);
    }
    buf[len] = 0;
    return buf;
}

/* Run @argv[0] with stdout (and stderr) in files of @dir; with @tty,
 * stderr is a pseudo-terminal instead. stdin is @in or /dev/null. */
static run_result run_argv(const char *dir, char *const *argv, int tty,
                           const char *in)
{
    char out[512], err[512], slave[128];
    snprintf(out, sizeof out, "%s/run.out", dir);
    snprintf(err, sizeof err, "%s/run.err", dir);
    int master = -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (tty) {
        master = posix_openpt(O_RDWR | O_NOCTTY);
        cr_assert_geq(master, 0, "posix_openpt: %s", strerror(errno));
        cr_assert_eq(grantpt(master), 0);
        cr_assert_eq(unlockpt(master), 0);
        snprintf(slave, sizeof slave, "%s", ptsname(master));
        posix_spawn_file_actions_addopen(&fa, 2, slave, O_RDWR | O_NOCTTY, 0);
    } else {
        posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    run_result r = {0};
    double t0 = now();
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s: %s", argv[0], strerror(rc));
    if (tty) {
        r.err = drain_pty(master, pid, &r.status);
        close(master);
    } else {
        r.status = wait_status(pid, 0);
        r.err = tu_read_file(err);
    }
    r.seconds = now() - t0;
    r.out = tu_read_file(out);
    cr_assert(r.out && r.err);
    /* Under ASan/UBSan: a report fails the test even when the exit
     * status (UBSan leaves it alone) looks right. */
    cr_assert(!strstr(r.err, "Sanitizer") && !strstr(r.err, "runtime error"),
              "sanitizer report from %s:\n%s", argv[0], r.err);
    return r;
}

static const char *ctl_bin(void)
{
    const char *bin = getenv("MIXUPCTL_BIN");
    return bin ? bin : "./client/mixupctl";
}

/* mixupctl with the arguments after @dir (NULL-terminated). */
static run_result ctl_v(const char *dir, int tty, va_list ap)
{
    char *argv[MAX_ARGS] = {(char *)ctl_bin()};
    int n = 1;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(n, MAX_ARGS - 1);
        argv[n++] = (char *)a;
    }
    return run_argv(dir, argv, tty, NULL);
}

static run_result ctl(const char *dir, ...)
{
    va_list ap;
    va_start(ap, dir);
    run_result r = ctl_v(dir, 0, ap);
    va_end(ap);
    return r;
}

static run_result ctl_tty(const char *dir, ...)
{
    va_list ap;
    va_start(ap, dir);
    run_result r = ctl_v(dir, 1, ap);
    va_end(ap);
    return r;
}

/* Run a Python script (from a string) on @args; @in feeds its stdin. */
static run_result python(const char *dir, const char *script, const char *in,
                         const char *arg1, const char *arg2)
{
    free(tu_write_file(dir, "check.py", script, strlen(script)));
    char path[512];
    snprintf(path, sizeof path, "%s/check.py", dir);
    char *argv[] = {PYTHON, path, (char *)arg1, (char *)arg2, NULL};
    if (!arg1)
        argv[2] = NULL;
    return run_argv(dir, argv, 0, in);
}

static void skip_without_python(void)
{
    if (access(PYTHON, X_OK) != 0)
        cr_skip_test(PYTHON " is not installed");
}

/* ------------------------------------------------------------ ping */

Test(mixupctl, ping_answers_0_from_a_live_daemon, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "ping");
    start_daemon(&d, 1, 4);
    run_result r = ctl(d.dir, "--endpoint", d.ipc, "ping", "--timeout", "5000", NULL);
    cr_assert_eq(r.status, 0, "ping: %d\n%s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.out, "answered in"), "%s", r.out);
    cr_assert(strstr(r.out, "300 samples of 8x8x3"), "%s", r.out);
    run_free(&r);
    /* The global --timeout serves ping too. */
    r = ctl(d.dir, "--endpoint", d.tcp, "--timeout", "5000", "ping", NULL);
    cr_assert_eq(r.status, 0, "ping over tcp: %d\n%s", r.status, r.err);
    run_free(&r);
    stop_daemon(&d);
    cleanup(&d);
}

Test(mixupctl, ping_fails_within_its_timeout_when_nobody_answers, .timeout = 120)
{
    char *dir = tu_tmpdir("noping");
    char ipc[600];
    snprintf(ipc, sizeof ipc, "ipc://%s/nobody.ipc", dir);
    const char *tcp = "tcp://127.0.0.1:1";
    run_result r = ctl(dir, "--endpoint", tcp, "ping", "--timeout", "300", NULL);
    cr_assert_eq(r.status, 1, "ping %s: status %d", tcp, r.status);
    cr_assert(r.seconds >= 0.25 && r.seconds < 5.0,
              "ping %s took %.2f s with a 300 ms timeout", tcp, r.seconds);
    cr_assert(strstr(r.err, "no answer from") && strstr(r.err, "within 300 ms"),
              "unclear message: %s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
    r = ctl(dir, "--endpoint", tcp, "--timeout", "300", "stats", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "no reply within 300 ms"), "%s", r.err);
    run_free(&r);
    /* An ipc socket that does not exist: said at once, whatever the
     * timeout, for every command. */
    const char *cmds[][3] = {{"ping", NULL}, {"stats", NULL},
                             {"preview", "--out", "x.png"}};
    for (size_t i = 0; i < 3; i++) {
        r = ctl(dir, "--endpoint", ipc, "--timeout", "30000", cmds[i][0],
                cmds[i][1], cmds[i][2], NULL);
        cr_assert_eq(r.status, 1, "%s", cmds[i][0]);
        cr_assert_lt(r.seconds, 2.0, "%s took %.2f s", cmds[i][0], r.seconds);
        cr_assert(strstr(r.err, ipc + 6) && strstr(r.err, "no such socket file"),
                  "unclear message: %s", r.err);
        run_free(&r);
    }
    /* Usage errors are 2, and say what was expected. */
    r = ctl(dir, "ping", "--timeout", "0", NULL);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "milliseconds"), "%s", r.err);
    run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------ usage */

static void expect_usage(const char *dir, int status, const char *want,
                         run_result r)
{
    cr_assert_eq(r.status, status, "status %d, wanted %d\n%s%s", r.status,
                 status, r.out, r.err);
    cr_assert(strstr(status ? r.err : r.out, want), "'%s' missing:\n%s%s",
              want, r.out, r.err);
    (void)dir;
    run_free(&r);
}

Test(mixupctl, version_help_and_usage_errors, .timeout = 60)
{
    char *dir = tu_tmpdir("usage");
    char ver[64];
    snprintf(ver, sizeof ver, "mixupctl %d.%d.%d\n", MIXUP_VERSION_MAJOR,
             MIXUP_VERSION_MINOR, MIXUP_VERSION_PATCH);
    expect_usage(dir, 0, ver, ctl(dir, "--version", NULL));
    /* help: every command, the defaults */
    run_result r = ctl(dir, "help", NULL);
    const char *cmds[] = {"info", "ping", "dump", "bench", "preview", "jobs",
                          "stats"};
    for (size_t i = 0; i < 7; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s", cmds[i]);
        cr_assert(strstr(r.out, line), "help lacks %s:\n%s", cmds[i], r.out);
        /* COMMAND --help and help COMMAND: the same text, exit 0 */
        run_result a = ctl(dir, cmds[i], "--help", NULL);
        run_result b = ctl(dir, "help", cmds[i], NULL);
        cr_assert_eq(a.status, 0, "%s --help: %s", cmds[i], a.err);
        cr_assert_eq(b.status, 0);
        snprintf(line, sizeof line, "usage: mixupctl [global options] %s",
                 cmds[i]);
        cr_assert(strstr(a.out, line), "%s", a.out);
        cr_assert_str_eq(a.out, b.out);
        run_free(&a);
        run_free(&b);
    }
    cr_assert(strstr(r.out, "default 30000"), "%s", r.out);
    cr_assert(strstr(r.out, "ipc:///tmp/mixupd.ipc"), "%s", r.out);
    run_free(&r);
    expect_usage(dir, 0, "--seconds S    default 5",
                 ctl(dir, "bench", "--help", NULL));
    expect_usage(dir, 0, "--batches N     1 .. 64, default 1",
                 ctl(dir, "help", "preview", NULL));
    /* missing values, extra and unknown arguments: 2, and what is wrong */
    expect_usage(dir, 2, "mixupctl: dump: --batches needs a value",
                 ctl(dir, "dump", "--batches", NULL));
    expect_usage(dir, 2, "mixupctl: dump: --out needs a value",
                 ctl(dir, "dump", "--batches", "2", "--out", NULL));
    expect_usage(dir, 2, "bench: --seconds needs a value",
                 ctl(dir, "bench", "--seconds", NULL));
    expect_usage(dir, 2, "ping: --timeout needs a value",
                 ctl(dir, "ping", "--timeout", NULL));
    expect_usage(dir, 2, "preview: --scale needs a value",
                 ctl(dir, "preview", "--out", "x.png", "--scale", NULL));
    expect_usage(dir, 2, "mixupctl: --timeout needs a value",
                 ctl(dir, "--timeout", NULL));
    expect_usage(dir, 2, "mixupctl: --endpoint needs a value",
                 ctl(dir, "--endpoint", NULL));
    expect_usage(dir, 2, "info takes no arguments, got 'extra'",
                 ctl(dir, "info", "extra", NULL));
    expect_usage(dir, 2, "unknown argument 'extra'",
                 ctl(dir, "jobs", "extra", NULL));
    expect_usage(dir, 2, "unknown argument 'extra'",
                 ctl(dir, "bench", "--seconds", "1", "extra", NULL));
    expect_usage(dir, 2, "unknown command 'frobnicate'",
                 ctl(dir, "frobnicate", NULL));
    expect_usage(dir, 2, "unknown option '--bogus'",
                 ctl(dir, "--bogus", "info", NULL));
    expect_usage(dir, 2, "help takes one command name",
                 ctl(dir, "help", "nothing", NULL));
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------ stats */

static const char json_check_py[] =
    "import json, sys\n"
    "s = json.load(sys.stdin)\n"
    "assert isinstance(s, dict), 'not an object'\n"
    "for k in ('uptime_s', 'batches_sent', 'bytes_sent', 'requests'):\n"
    "    assert isinstance(s[k], (int, float)), k\n"
    "assert s['dataset']['shape'] == [8, 8, 3], s['dataset']\n"
    "assert s['ring']['slots'] >= s['ring']['held'] >= 0\n"
    "print(s['batches_sent'], len(s['streams']))\n";

/* Run stats --json, parse it in Python; return batches_sent. */
static long stats_batches_sent(daemon_ctx *d, long *streams)
{
    run_result r = ctl(d->dir, "--endpoint", d->ipc, "stats", "--json", NULL);
    cr_assert_eq(r.status, 0, "stats --json: %d %s", r.status, r.err);
    cr_assert_str_empty(r.err);
    char *json = tu_write_file(d->dir, "stats.json", r.out, strlen(r.out));
    run_result p = python(d->dir, json_check_py, json, NULL, NULL);
    cr_assert_eq(p.status, 0, "stats --json does not parse:\n%s\n%s", r.out, p.err);
    long sent = -1;
    cr_assert_eq(sscanf(p.out, "%ld %ld", &sent, streams), 2, "%s", p.out);
    free(json);
    run_free(&p);
    run_free(&r);
    return sent;
}

Test(mixupctl, stats_json_parses_and_counters_move, .timeout = 120)
{
    skip_without_python();
    daemon_ctx d;
    setup_daemon(&d, "stats");
    start_daemon(&d, 2, 8);
    long streams;
    long before = stats_batches_sent(&d, &streams);
    cr_assert_eq(streams, 0);

    /* A client that keeps its stream open, after 7 batches. */
    mixup_client *c = connect_to(d.ipc, 10000);
    cr_assert_eq(mixup_stream_open(c, NULL), 0);
    for (int i = 0; i < 7; i++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
        mixup_batch_release(b);
    }
    long after = stats_batches_sent(&d, &streams);
    cr_assert_geq(after, before + 7, "batches_sent %ld -> %ld", before, after);
    cr_assert_eq(streams, 1);

    /* The table shows the same, for people. */
    run_result r = ctl(d.dir, "--endpoint", d.ipc, "stats", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *want[] = {"uptime", "dataset", "8x8x3", "ring", "occupancy",
                          "counters", "batches_sent", "streams: 1", "POSITION",
                          "0:6"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(r.out, want[i]), "'%s' missing from the table:\n%s",
                  want[i], r.out);
    run_free(&r);
    mixup_client_close(c);
    stop_daemon(&d);
    cleanup(&d);
}

/* A seed is any 64-bit unsigned number: above 2^63 it stays exact in the
 * stats JSON the daemon writes and in the tables mixupctl reads from it
 * (a JSON library with signed 64-bit integers only would refuse it). */
Test(mixupctl, stats_keep_a_seed_above_2_63_exact, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "seed");
    start_daemon(&d, 2, 8);
    mixup_client *c = connect_to(d.ipc, 10000);
    mixup_stream_options o;
    mixup_stream_options_init(&o);
    o.seed = UINT64_MAX;
    cr_assert_eq(mixup_stream_open(c, &o), 0, "%s", mixup_client_error(c));
    run_result r = ctl(d.dir, "--endpoint", d.ipc, "stats", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"seed\": 18446744073709551615,"), "%s", r.out);
    run_free(&r);
    r = ctl(d.dir, "--endpoint", d.ipc, "jobs", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, " 18446744073709551615 "), "%s", r.out);
    run_free(&r);
    mixup_client_close(c);
    stop_daemon(&d);
    cleanup(&d);
}

/* ------------------------------------------------------------ preview */

/* Decode a PNG with zlib alone (chunks, CRCs, filters) and write its
 * pixels raw; print "width height channels". */
static const char png_decode_py[] =
    "import struct, sys, zlib\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'not a PNG'\n"
    "pos, idat, ihdr, end = 8, b'', None, False\n"
    "while pos < len(data):\n"
    "    n, = struct.unpack('>I', data[pos:pos + 4])\n"
    "    typ, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]\n"
    "    crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])\n"
    "    assert zlib.crc32(typ + body) == crc, 'bad CRC'\n"
    "    if typ == b'IHDR': ihdr = struct.unpack('>IIBBBBB', body)\n"
    "    if typ == b'IDAT': idat += body\n"
    "    if typ == b'IEND': end = True\n"
    "    pos += 12 + n\n"
    "assert ihdr and end, 'IHDR or IEND missing'\n"
    "w, h, depth, ct, _, _, interlace = ihdr\n"
    "assert depth == 8 and interlace == 0 and ct in (0, 2), ihdr\n"
    "ch = 1 if ct == 0 else 3\n"
    "raw, stride = zlib.decompress(idat), w * ch\n"
    "assert len(raw) == h * (stride + 1), 'IDAT size'\n"
    "out, prev = bytearray(), bytearray(stride)\n"
    "for y in range(h):\n"
    "    f = raw[y * (stride + 1)]\n"
    "    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])\n"
    "    for i in range(stride):\n"
    "        a = line[i - ch] if i >= ch else 0\n"
    "        b = prev[i]\n"
    "        c = prev[i - ch] if i >= ch else 0\n"
    "        if f == 0: p = 0\n"
    "        elif f == 1: p = a\n"
    "        elif f == 2: p = b\n"
    "        elif f == 3: p = (a + b) // 2\n"
    "        elif f == 4:\n"
    "            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)\n"
    "            p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)\n"
    "        else: raise SystemExit('bad filter %d' % f)\n"
    "        line[i] = (line[i] + p) & 255\n"
    "    out += line\n"
    "    prev = line\n"
    "open(sys.argv[2], 'wb').write(out)\n"
    "print(w, h, ch)\n";

typedef struct image {
    unsigned w, h, ch;
    unsigned char *px;
} image;

static image decode_png(const char *dir, const char *png)
{
    char raw[600];
    snprintf(raw, sizeof raw, "%s/decoded.raw", dir);
    run_result p = python(dir, png_decode_py, NULL, png, raw);
    cr_assert_eq(p.status, 0, "%s does not decode: %s", png, p.err);
    image im = {0};
    cr_assert_eq(sscanf(p.out, "%u %u %u", &im.w, &im.h, &im.ch), 3, "%s", p.out);
    run_free(&p);
    im.px = (unsigned char *)tu_read_file(raw);
    cr_assert_not_null(im.px);
    return im;
}

/* The batch preview shows: stream seed 0 from (0, 0), like mixupctl's. */
static mixup_batch *first_batches(const char *ep, mixup_batch **out, int n)
{
    mixup_client *c = connect_to(ep, 10000);
    cr_assert_eq(mixup_stream_open(c, NULL), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(mixup_next(c, &out[i]), 0, "%s", mixup_client_error(c));
    mixup_client_close(c);
    return out[0];
}

/* Every pixel: a tile's value (nearest-neighbour enlargement of x,
 * [0, 1] -> 0..255) or the grey gutter. */
static void check_pixels(const image *im, mixup_batch **b, int nb,
                         unsigned scale, unsigned cols)
{
    const unsigned h = b[0]->height, w = b[0]->width, c = b[0]->channels;
    const unsigned tiles = (unsigned)nb * b[0]->size;
    const unsigned pitch_x = w * scale + PREVIEW_GAP, pitch_y = h * scale + PREVIEW_GAP;
    for (unsigned y = 0; y < im->h; y++)
        for (unsigned x = 0; x < im->w; x++)
            for (unsigned k = 0; k < c; k++) {
                unsigned got = im->px[((size_t)y * im->w + x) * c + k];
                unsigned want = PREVIEW_GUTTER;
                int gx = (int)x - PREVIEW_GAP, gy = (int)y - PREVIEW_GAP;
                unsigned t = gx >= 0 && gy >= 0
                                 ? (unsigned)gy / pitch_y * cols + (unsigned)gx / pitch_x
                                 : tiles;
                if (gx >= 0 && gy >= 0 && (unsigned)gx / pitch_x < cols &&
                    (unsigned)gx % pitch_x < w * scale &&
                    (unsigned)gy % pitch_y < h * scale && t < tiles) {
                    const mixup_batch *bt = b[t / b[0]->size];
                    unsigned j = t % b[0]->size;
                    unsigned sy = (unsigned)gy % pitch_y / scale;
                    unsigned sx = (unsigned)gx % pitch_x / scale;
                    float v = bt->x[(((size_t)j * h + sy) * w + sx) * c + k];
                    want = v <= 0 ? 0 : v >= 1 ? 255 : (unsigned)lrintf(v * 255.0f);
                }
                if (got != want)
                    cr_assert_fail("pixel (%u, %u) channel %u: %u, expected %u",
                                   x, y, k, got, want);
            }
}

/* The legend: a line per tile, starting with its number, its place in
 * the grid, lambda and the two samples, then its labels; check them all
 * against the batches. Return the number of tile lines. */
static int check_legend(const char *out, mixup_batch **b, int nb, unsigned cols)
{
    int n = 0;
    const unsigned per = b[0]->size;
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        unsigned t, row, col;
        float lam;
        long long i1, i2;
        int used = 0;
        if (sscanf(l, " %u %u %u %f %lld %lld%n", &t, &row, &col, &lam, &i1,
                   &i2, &used) != 6)
            continue;
        cr_assert_lt(t, (unsigned)nb * per, "tile %u of %u", t, nb * per);
        cr_assert_eq(t, (unsigned)n, "tiles out of order");
        const mixup_batch *bt = b[t / per];
        unsigned j = t % per;
        cr_assert_eq(row, t / cols);
        cr_assert_eq(col, t % cols);
        cr_assert(fabsf(lam - bt->lam[j]) <= 1e-4f, "tile %u: lambda %f, sent %f",
                  t, (double)lam, (double)bt->lam[j]);
        cr_assert_eq(i1, (long long)bt->index1[j]);
        cr_assert_eq(i2, (long long)bt->index2[j]);
        /* K = 5 has no names: the heavier class of the two, by number. */
        long long heavy = bt->lam[j] >= 0.5f ? labels64[i1] : labels64[i2];
        char want[32];
        snprintf(want, sizeof want, "  class %lld ", heavy);
        if (bt->lam[j] != 0.5f) /* a tie may list either first */
            cr_assert(!strncmp(l + used, want, strlen(want)),
                      "tile %u: labels '%.60s', expected '%s' first", t,
                      l + used, want);
        n++;
    }
    return n;
}

Test(mixupctl, preview_writes_the_grid_and_a_legend, .timeout = 120)
{
    skip_without_python();
    daemon_ctx d;
    setup_daemon(&d, "preview");
    start_daemon(&d, 2, 8);
    char png[600];
    snprintf(png, sizeof png, "%s/grid.png", d.dir);

    /* Defaults: one batch of B = 8 tiles of 8x8, scale 112/8 = 14, one row. */
    run_result r = ctl(d.dir, "--endpoint", d.ipc, "preview", "--out", png, NULL);
    cr_assert_eq(r.status, 0, "preview: %d %s", r.status, r.err);
    cr_assert_str_empty(r.err);
    image im = decode_png(d.dir, png);
    cr_assert_eq(im.ch, 3u, "RGB expected for 3 channels");
    cr_assert_eq(im.w, 8u * 8 * 14 + 9 * PREVIEW_GAP, "width %u", im.w);
    cr_assert_eq(im.h, 8u * 14 + 2 * PREVIEW_GAP, "height %u", im.h);
    mixup_batch *b[2];
    first_batches(d.ipc, b, 2);
    check_pixels(&im, b, 1, 14, 8);
    free(im.px);
    int lines = check_legend(r.out, b, 1, 8);
    cr_assert_eq(lines, B, "%d legend lines for %d tiles:\n%s", lines, B, r.out);
    run_free(&r);

    /* Two batches, scale 3, 3 columns: 16 tiles in 6 rows. */
    r = ctl(d.dir, "--endpoint", d.ipc, "preview", "--out", png, "--batches", "2",
            "--scale", "3", "--cols", "3", NULL);
    cr_assert_eq(r.status, 0, "preview: %d %s", r.status, r.err);
    im = decode_png(d.dir, png);
    cr_assert_eq(im.w, 3u * 8 * 3 + 4 * PREVIEW_GAP, "width %u", im.w);
    cr_assert_eq(im.h, 6u * 8 * 3 + 7 * PREVIEW_GAP, "height %u", im.h);
    check_pixels(&im, b, 2, 3, 3);
    free(im.px);
    cr_assert_eq(check_legend(r.out, b, 2, 3), 2 * B, "%s", r.out);
    run_free(&r);
    mixup_batch_release(b[0]);
    mixup_batch_release(b[1]);

    /* Bad usage says so and exits 2; an unwritable path exits 1. */
    r = ctl(d.dir, "--endpoint", d.ipc, "preview", NULL);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--out"), "%s", r.err);
    run_free(&r);
    r = ctl(d.dir, "--endpoint", d.ipc, "preview", "--out", "/nonexistent/x.png", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "/nonexistent/x.png"), "%s", r.err);
    run_free(&r);
    stop_daemon(&d);
    cleanup(&d);
}

/* Replace the test dataset's images by N x H x W x @c bytes. */
static void images_with_channels(daemon_ctx *d, uint64_t c)
{
    uint64_t shape[4] = {N, H, W, c};
    free(tu_write_npy(d->dir, "images.npy", "|u1", shape, 4, images,
                      (size_t)N * H * W * c));
}

Test(mixupctl, preview_of_one_channel_is_greyscale, .timeout = 120)
{
    skip_without_python();
    daemon_ctx d;
    setup_daemon(&d, "pgray");
    images_with_channels(&d, 1);
    start_daemon(&d, 1, 4);
    char png[600];
    snprintf(png, sizeof png, "%s/gray.png", d.dir);
    run_result r = ctl(d.dir, "--endpoint", d.ipc, "preview", "--out", png,
                       "--scale", "2", NULL);
    cr_assert_eq(r.status, 0, "preview: %d %s", r.status, r.err);
    image im = decode_png(d.dir, png);
    cr_assert_eq(im.ch, 1u, "greyscale expected for 1 channel");
    cr_assert_eq(im.w, 8u * 8 * 2 + 9 * PREVIEW_GAP);
    cr_assert_eq(im.h, 8u * 2 + 2 * PREVIEW_GAP);
    mixup_batch *b[1];
    first_batches(d.ipc, b, 1);
    check_pixels(&im, b, 1, 2, 8);
    mixup_batch_release(b[0]);
    free(im.px);
    run_free(&r);
    stop_daemon(&d);
    cleanup(&d);
}

Test(mixupctl, preview_of_two_channels_is_refused_clearly, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "p2ch");
    images_with_channels(&d, 2);
    start_daemon(&d, 1, 4);
    char png[600];
    snprintf(png, sizeof png, "%s/no.png", d.dir);
    run_result r = ctl(d.dir, "--endpoint", d.ipc, "preview", "--out", png, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "preview needs 1 or 3 channels, the dataset has 2"),
              "unclear message: %s", r.err);
    cr_assert_str_empty(r.out);
    struct stat st;
    cr_assert_eq(stat(png, &st), -1, "a PNG was written anyway");
    run_free(&r);
    stop_daemon(&d);
    cleanup(&d);
}

/* ------------------------------------------------------------ progress */

Test(mixupctl, dump_and_bench_print_no_progress_off_a_terminal, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "quiet");
    start_daemon(&d, 2, 8);
    char out[600];
    snprintf(out, sizeof out, "%s/dump", d.dir);
    run_result r = ctl(d.dir, "--endpoint", d.ipc, "dump", "--batches", "200",
                       "--out", out, NULL);
    cr_assert_eq(r.status, 0, "dump: %s", r.err);
    cr_assert_str_empty(r.err, "stderr of dump is not a terminal: %s", r.err);
    cr_assert(strstr(r.out, "wrote 200 batches"), "%s", r.out);
    run_free(&r);
    r = ctl(d.dir, "--endpoint", d.ipc, "bench", "--seconds", "0.5", "--clients", "2", NULL);
    cr_assert_eq(r.status, 0, "bench: %s", r.err);
    cr_assert_str_empty(r.err, "stderr of bench is not a terminal: %s", r.err);
    cr_assert(strstr(r.out, "samples/s:"), "%s", r.out);
    run_free(&r);
    stop_daemon(&d);
    cleanup(&d);
}

Test(mixupctl, bench_draws_progress_on_a_terminal_and_erases_it, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "tty");
    start_daemon(&d, 2, 8);
    run_result r = ctl_tty(d.dir, "--endpoint", d.ipc, "bench", "--seconds", "1", NULL);
    cr_assert_eq(r.status, 0, "bench: %s", r.err);
    cr_assert(strstr(r.err, "\rbench: ") && strstr(r.err, "batches/s"),
              "no progress line on the terminal: '%s'", r.err);
    /* It ends by blanking itself out: the last thing written is "\r". */
    size_t n = strlen(r.err);
    cr_assert(n > 0 && r.err[n - 1] == '\r', "progress line not erased");
    cr_assert(strstr(r.out, "samples/s:"), "%s", r.out);
    run_free(&r);
    stop_daemon(&d);
    cleanup(&d);
}
