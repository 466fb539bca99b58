/*
 * test_config.c — the option table: defaults, INI loading, --set,
 * validation, --print-config round trip and --help.
 */
#include "config.h"
#include "mixup.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FASHION "/usr/share/datasets/fashion-mnist/"

/* ------------------------------------------------------------- helpers */

static int load_text(cfg_config *cfg, const char *text, char *err, size_t n)
{
    char *dir = tu_tmpdir("config");
    char *path = tu_write_file(dir, "x.conf", text, strlen(text));
    int rc = cfg_load_file(cfg, path, err, n);
    tu_rmtree(dir);
    free(path);
    free(dir);
    return rc;
}

static void assert_has(const char *err, const char *want)
{
    cr_assert(strstr(err, want) != NULL, "expected '%s' in '%s'", want, err);
}

/* Load @text over the defaults; expect MIXUP_ECONFIG and every one of
 * the NULL-terminated substrings in the message. */
static void expect_load_error(const char *text, ...)
{
    static cfg_config cfg;
    char err[512] = "";
    cfg_defaults(&cfg);
    int rc = load_text(&cfg, text, err, sizeof err);
    cr_assert_eq(rc, MIXUP_ECONFIG, "rc %d for '%s' (err '%s')", rc, text,
                 err);
    va_list ap;
    va_start(ap, text);
    for (const char *s; (s = va_arg(ap, const char *));)
        assert_has(err, s);
    va_end(ap);
}

static void expect_set_error(const char *assignment, ...)
{
    static cfg_config cfg;
    char err[512] = "";
    cfg_defaults(&cfg);
    int rc = cfg_set(&cfg, assignment, err, sizeof err);
    cr_assert_eq(rc, MIXUP_ECONFIG, "rc %d for '%s' (err '%s')", rc,
                 assignment, err);
    va_list ap;
    va_start(ap, assignment);
    for (const char *s; (s = va_arg(ap, const char *));)
        assert_has(err, s);
    va_end(ap);
}

static void set_ok(cfg_config *cfg, const char *assignment)
{
    char err[512] = "";
    int rc = cfg_set(cfg, assignment, err, sizeof err);
    cr_assert_eq(rc, 0, "cfg_set('%s'): %s", assignment, err);
}

static void assert_same(const cfg_config *a, const cfg_config *b)
{
    cr_assert_eq(a->n_endpoints, b->n_endpoints);
    for (int i = 0; i < a->n_endpoints; i++)
        cr_assert_str_eq(a->endpoints[i], b->endpoints[i]);
    cr_assert_str_eq(a->name, b->name);
    cr_assert_eq(a->workers, b->workers);
    cr_assert_eq(a->ring_slots, b->ring_slots);
    cr_assert_eq(a->prefetch, b->prefetch);
    cr_assert_eq(a->max_streams, b->max_streams);
    cr_assert_eq(a->max_request, b->max_request);
    cr_assert_eq(a->stream_timeout, b->stream_timeout);
    cr_assert_eq(a->log_level, b->log_level);
    cr_assert_str_eq(a->format, b->format);
    cr_assert_str_eq(a->images, b->images);
    cr_assert_str_eq(a->labels, b->labels);
    cr_assert_eq(a->classes, b->classes);
    cr_assert_eq(a->batch_size, b->batch_size);
    cr_assert(a->alpha == b->alpha, "alpha %.17g != %.17g", a->alpha,
              b->alpha);
    cr_assert_eq(a->seed, b->seed);
    cr_assert_eq(a->shuffle, b->shuffle);
}

/* Print @cfg to a file, load it over fresh defaults into @out. */
static void round_trip(const cfg_config *cfg, cfg_config *out)
{
    char *dir = tu_tmpdir("config-print");
    char *path = tu_write_file(dir, "printed.conf", "", 0);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    cfg_print(cfg, f);
    fclose(f);
    char err[512] = "";
    cfg_defaults(out);
    int rc = cfg_load_file(out, path, err, sizeof err);
    cr_assert_eq(rc, 0, "printed config does not load: %s", err);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

static cfg_config cfg_a, cfg_b; /* ~20 KiB each: keep them off the stack */

/* ------------------------------------------------------------- defaults */

Test(config, defaults_match_the_table)
{
    cfg_defaults(&cfg_a);
    cr_assert_eq(cfg_a.n_endpoints, 1);
    cr_assert_str_eq(cfg_a.endpoints[0], "ipc:///tmp/mixupd.ipc");
    cr_assert_eq(cfg_a.endpoints_given, 0);
    cr_assert_str_eq(cfg_a.name, "mixupd");
    cr_assert_eq(cfg_a.workers, 2);
    cr_assert_eq(cfg_a.ring_slots, 16);
    cr_assert_eq(cfg_a.prefetch, 4);
    cr_assert_eq(cfg_a.max_streams, 256);
    cr_assert_eq(cfg_a.max_request, 4096);
    cr_assert_eq(cfg_a.stream_timeout, 300);
    cr_assert_eq(cfg_a.log_level, 2);
    cr_assert_str_eq(cfg_a.format, "idx");
    cr_assert_str_eq(cfg_a.images, FASHION "train-images-idx3-ubyte.gz");
    cr_assert_str_eq(cfg_a.labels, FASHION "train-labels-idx1-ubyte.gz");
    cr_assert_eq(cfg_a.classes, 0);
    cr_assert_eq(cfg_a.batch_size, 32);
    cr_assert(cfg_a.alpha == 0.2);
    cr_assert_eq(cfg_a.seed, 0);
    cr_assert_eq(cfg_a.shuffle, 1);
    char err[256] = "";
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), 0, "%s", err);
}

Test(config, log_level_names)
{
    cr_assert_str_eq(cfg_log_level_names[0], "error");
    cr_assert_str_eq(cfg_log_level_names[1], "warn");
    cr_assert_str_eq(cfg_log_level_names[2], "info");
    cr_assert_str_eq(cfg_log_level_names[3], "debug");
}

/* ------------------------------------------------------------- loading */

Test(config, full_file_sets_every_field)
{
    const char *text =
        "; every option, none at its default\n"
        "[server]\n"
        "endpoint = tcp://127.0.0.1:6000\n"
        "name = lab-2_b\n"
        "workers = 8\n"
        "ring_slots = 64\n"
        "prefetch = 16\n"
        "max_streams = 12\n"
        "max_request = 65536\n"
        "stream_timeout = 60\n"
        "log_level = debug\n"
        "[dataset]\n"
        "format = npy\n"
        "images = /data/x.npy\n"
        "labels = /data/y.npy\n"
        "classes = 100\n"
        "[batch]\n"
        "size = 256\n"
        "alpha = 0.4\n"
        "seed = 18446744073709551615\n"
        "shuffle = off\n";
    char err[512] = "";
    cfg_defaults(&cfg_a);
    cr_assert_eq(load_text(&cfg_a, text, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg_a.n_endpoints, 1);
    cr_assert_str_eq(cfg_a.endpoints[0], "tcp://127.0.0.1:6000");
    cr_assert_str_eq(cfg_a.name, "lab-2_b");
    cr_assert_eq(cfg_a.workers, 8);
    cr_assert_eq(cfg_a.ring_slots, 64);
    cr_assert_eq(cfg_a.prefetch, 16);
    cr_assert_eq(cfg_a.max_streams, 12);
    cr_assert_eq(cfg_a.max_request, 65536);
    cr_assert_eq(cfg_a.stream_timeout, 60);
    cr_assert_eq(cfg_a.log_level, 3);
    cr_assert_str_eq(cfg_a.format, "npy");
    cr_assert_str_eq(cfg_a.images, "/data/x.npy");
    cr_assert_str_eq(cfg_a.labels, "/data/y.npy");
    cr_assert_eq(cfg_a.classes, 100);
    cr_assert_eq(cfg_a.batch_size, 256);
    cr_assert(cfg_a.alpha == 0.4);
    cr_assert_eq(cfg_a.seed, UINT64_MAX);
    cr_assert_eq(cfg_a.shuffle, 0);
}

Test(config, repeated_endpoint_replaces_default_then_appends)
{
    const char *text = "[server]\n"
                       "endpoint = ipc:///tmp/a.ipc\n"
                       "endpoint = tcp://127.0.0.1:5555\n";
    char err[512] = "";
    cfg_defaults(&cfg_a);
    cr_assert_eq(load_text(&cfg_a, text, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg_a.n_endpoints, 2);
    cr_assert_str_eq(cfg_a.endpoints[0], "ipc:///tmp/a.ipc");
    cr_assert_str_eq(cfg_a.endpoints[1], "tcp://127.0.0.1:5555");
    /* --set after the file appends to the file's list */
    set_ok(&cfg_a, "server.endpoint=tcp://127.0.0.1:5556");
    cr_assert_eq(cfg_a.n_endpoints, 3);
    cr_assert_str_eq(cfg_a.endpoints[2], "tcp://127.0.0.1:5556");
}

Test(config, set_endpoint_replaces_default)
{
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "server.endpoint=tcp://127.0.0.1:7000");
    cr_assert_eq(cfg_a.n_endpoints, 1);
    cr_assert_str_eq(cfg_a.endpoints[0], "tcp://127.0.0.1:7000");
    set_ok(&cfg_a, "server.endpoint=ipc:///tmp/b.ipc");
    cr_assert_eq(cfg_a.n_endpoints, 2);
}

Test(config, indented_lines_and_inline_comments)
{
    /* inih alone would take the indented line as a continuation of
     * `workers` (a multi-line value) */
    const char *text = "[server]\n"
                       "workers = 3 ; three threads\n"
                       "  prefetch = 2\n"
                       "\t# an indented comment\n"
                       "   [batch]\n"
                       "size=7\n";
    char err[512] = "";
    cfg_defaults(&cfg_a);
    cr_assert_eq(load_text(&cfg_a, text, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg_a.workers, 3);
    cr_assert_eq(cfg_a.prefetch, 2);
    cr_assert_eq(cfg_a.batch_size, 7);
}

Test(config, missing_file_is_eio)
{
    char err[512] = "";
    cfg_defaults(&cfg_a);
    int rc = cfg_load_file(&cfg_a, "/nonexistent/mixupd.conf", err,
                           sizeof err);
    cr_assert_eq(rc, MIXUP_EIO);
    assert_has(err, "/nonexistent/mixupd.conf");
}

/* A FIFO with no writer used to block open(2) forever. */
Test(config, fifo_is_refused, .timeout = 20)
{
    char err[512] = "";
    char *dir = tu_tmpdir("config");
    char path[512];
    snprintf(path, sizeof path, "%s/fifo.conf", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    cfg_defaults(&cfg_a);
    int rc = cfg_load_file(&cfg_a, path, err, sizeof err);
    cr_assert_eq(rc, MIXUP_EIO, "rc %d: %s", rc, err);
    assert_has(err, "fifo.conf: not a regular file (a FIFO)");
    rc = cfg_load_file(&cfg_a, dir, err, sizeof err);
    assert_has(err, "not a regular file (a directory)");
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------- file errors */

Test(config, unknown_key)
{
    expect_load_error("[server]\nworkers = 2\nworkerz = 3\n", "x.conf:3:",
                      "unknown key server.workerz", NULL);
}

Test(config, unknown_section)
{
    expect_load_error("[server]\n[servr]\nworkers = 3\n", "x.conf:3:",
                      "unknown section [servr]", "servr.workers", NULL);
}

Test(config, key_outside_section)
{
    expect_load_error("workers = 3\n", "x.conf:1:", "workers",
                      "outside any [section]", NULL);
}

Test(config, out_of_range)
{
    expect_load_error("[batch]\nsize = 0\n", "x.conf:2:",
                      "batch.size = 0 is out of range (1 .. 65536)", NULL);
    expect_load_error("[server]\nworkers = 257\n", "x.conf:2:",
                      "server.workers = 257", "(1 .. 256)", NULL);
    expect_load_error("[server]\n\nmax_request = 63\n", "x.conf:3:",
                      "server.max_request = 63", "(64 .. 1048576)", NULL);
    /* beyond uint32 but not uint64: still out of range, not truncated */
    expect_load_error("[server]\nworkers = 4294967298\n", "out of range",
                      NULL);
    expect_load_error("[batch]\nseed = 18446744073709551616\n", "x.conf:2:",
                      "batch.seed", "out of range",
                      "(0 .. 18446744073709551615)", NULL);
    expect_load_error("[batch]\nalpha = 1000.5\n", "x.conf:2:",
                      "batch.alpha = 1000.5 is out of range (0 .. 1000)", NULL);
    expect_load_error("[batch]\nalpha = -0.5\n", "batch.alpha = -0.5",
                      "(0 .. 1000)", NULL);
}

Test(config, not_a_number)
{
    expect_load_error("[batch]\nsize = many\n", "x.conf:2:",
                      "batch.size = many is not an unsigned integer",
                      "1 .. 65536", NULL);
    expect_load_error("[batch]\nsize =\n", "x.conf:2:", "batch.size = ''",
                      NULL);
    expect_load_error("[batch]\nsize = +5\n", "batch.size = +5", NULL);
    expect_load_error("[batch]\nsize = 0x10\n", "batch.size = 0x10", NULL);
    expect_load_error("[batch]\nalpha = nan\n", "x.conf:2:",
                      "batch.alpha = nan is not a finite number", "0 .. 1000",
                      NULL);
    expect_load_error("[batch]\nalpha = inf\n", "batch.alpha = inf", NULL);
    expect_load_error("[batch]\nalpha = 0.2x\n", "batch.alpha = 0.2x", NULL);
}

Test(config, negative_for_unsigned)
{
    expect_load_error("[server]\nworkers = -1\n", "x.conf:2:",
                      "server.workers = -1 is negative", "1 .. 256", NULL);
    expect_load_error("[batch]\nseed = -1\n", "batch.seed = -1 is negative",
                      NULL);
}

Test(config, trailing_garbage)
{
    expect_load_error("[server]\nworkers = 12abc\n", "x.conf:2:",
                      "server.workers = 12abc", "not an unsigned integer",
                      "1 .. 256", NULL);
    expect_load_error("[server]\nworkers = 12 # twelve\n",
                      "server.workers = 12 # twelve", NULL);
}

Test(config, bad_bool)
{
    expect_load_error("[batch]\nshuffle = maybe\n", "x.conf:2:",
                      "batch.shuffle = maybe is not a boolean",
                      "true/false, yes/no, on/off, 1/0", NULL);
    expect_load_error("[batch]\nshuffle = TRUE\n", "batch.shuffle = TRUE",
                      NULL);
}

Test(config, bool_spellings)
{
    const char *on[] = {"true", "yes", "on", "1"};
    const char *off[] = {"false", "no", "off", "0"};
    cfg_defaults(&cfg_a);
    for (int i = 0; i < 4; i++) {
        char set[64];
        snprintf(set, sizeof set, "batch.shuffle=%s", off[i]);
        set_ok(&cfg_a, set);
        cr_assert_eq(cfg_a.shuffle, 0, "%s", off[i]);
        snprintf(set, sizeof set, "batch.shuffle=%s", on[i]);
        set_ok(&cfg_a, set);
        cr_assert_eq(cfg_a.shuffle, 1, "%s", on[i]);
    }
}

Test(config, bad_enum)
{
    expect_load_error("[server]\nlog_level = loud\n", "x.conf:2:",
                      "server.log_level = loud is not one of",
                      "error | warn | info | debug", NULL);
    expect_load_error("[dataset]\nformat = png\n", "x.conf:2:",
                      "dataset.format = png", "npy | idx | cifar", NULL);
}

Test(config, too_long_string)
{
    expect_load_error("[server]\nname = abcdefghijklmnopqrstuvwxyz0123456\n",
                      "x.conf:2:", "server.name", "too long",
                      "33 characters, at most 32", NULL);
    /* fits inih's line, not the cap that keeps cfg_print loadable */
    char text[400];
    int n = snprintf(text, sizeof text, "[dataset]\nimages = /");
    memset(text + n, 'a', 189);
    strcpy(text + n + 189, "\n");
    expect_load_error(text, "x.conf:2:", "dataset.images", "too long",
                      "190 characters, at most 189", NULL);
}

Test(config, line_too_long)
{
    char text[400];
    int n = snprintf(text, sizeof text, "[dataset]\n; ok\nimages = /");
    memset(text + n, 'a', 250);
    strcpy(text + n + 250, "\n[batch]\nsize = 0\n");
    expect_load_error(text, "x.conf:3:", "line is longer than 199 characters",
                      NULL);
}

Test(config, bad_name_characters)
{
    expect_load_error("[server]\nname = my daemon\n", "x.conf:2:",
                      "server.name = my daemon is not",
                      "1 .. 32 characters of A-Z a-z 0-9 _ -", NULL);
    expect_load_error("[server]\nname =\n", "server.name = ''", NULL);
}

Test(config, too_many_endpoints)
{
    char text[2048] = "[server]\n";
    for (int i = 0; i <= CFG_MAX_ENDPOINTS; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "endpoint = tcp://127.0.0.1:%d\n", 6000 + i);
    /* line 1 is [server]: the 17th endpoint is on line 18 */
    expect_load_error(text, "x.conf:18:", "server.endpoint",
                      "too many endpoints (at most 16)", NULL);
}

Test(config, bad_endpoint_scheme)
{
    expect_load_error("[server]\nendpoint = http://127.0.0.1:80\n",
                      "x.conf:2:", "server.endpoint = http://127.0.0.1:80",
                      "ipc://PATH or tcp://HOST:PORT", NULL);
    expect_load_error("[server]\nendpoint = tcp://\n", "server.endpoint",
                      NULL);
}

Test(config, syntax_error)
{
    expect_load_error("[server]\nworkers\n", "x.conf:2:", "syntax error",
                      NULL);
}

Test(config, first_error_wins)
{
    expect_load_error("[server]\nworkers = 0\nnonsense\n", "x.conf:2:",
                      "server.workers = 0", NULL);
    expect_load_error("[server]\nnonsense\nworkers = 0\n", "x.conf:2:",
                      "syntax error", NULL);
    expect_load_error("[server]\nworkers = 0\nprefetch = 0\n", "x.conf:2:",
                      "server.workers", NULL);
}

/* ------------------------------------------------------------- --set */

Test(config, set_overrides)
{
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "batch.size=64");
    set_ok(&cfg_a, " batch.alpha = 0.5 ");
    set_ok(&cfg_a, "server.log_level=warn");
    set_ok(&cfg_a, "dataset.format=cifar");
    set_ok(&cfg_a, "dataset.labels=");
    set_ok(&cfg_a, "dataset.images=/data/a=b.bin");
    cr_assert_eq(cfg_a.batch_size, 64);
    cr_assert(cfg_a.alpha == 0.5);
    cr_assert_eq(cfg_a.log_level, 1);
    cr_assert_str_eq(cfg_a.format, "cifar");
    cr_assert_str_eq(cfg_a.labels, "");
    cr_assert_str_eq(cfg_a.images, "/data/a=b.bin");
}

Test(config, set_errors)
{
    expect_set_error("batch.size", "expected section.key=value", NULL);
    expect_set_error("size=3", "expected section.key=value", NULL);
    expect_set_error("", "expected section.key=value", NULL);
    expect_set_error("batch.size=0",
                     "batch.size = 0 is out of range (1 .. 65536)", NULL);
    expect_set_error("batch.size=12abc", "batch.size = 12abc", NULL);
    expect_set_error("batch.sise=3", "unknown key batch.sise", NULL);
    expect_set_error("bench.size=3", "unknown section [bench]", NULL);
    expect_set_error("server.endpoint=udp://x", "server.endpoint = udp://x",
                     "ipc://PATH or tcp://HOST:PORT", NULL);
    expect_set_error("dataset.images=/a\nb", "dataset.images",
                     "control character", NULL);
    expect_set_error("dataset.images=/a ;b", "dataset.images", "' ;'", NULL);
    char *big = malloc(2100);
    strcpy(big, "dataset.images=/");
    memset(big + 16, 'x', 2000);
    big[2016] = 0;
    expect_set_error(big, "dataset.images", "too long",
                     "2001 characters, at most 189", NULL);
    free(big);
}

Test(config, failed_set_leaves_config_alone)
{
    char err[256];
    cfg_defaults(&cfg_a);
    cr_assert_eq(cfg_set(&cfg_a, "batch.size=70000", err, sizeof err),
                 MIXUP_ECONFIG);
    cr_assert_eq(cfg_a.batch_size, 32);
    cr_assert_eq(cfg_set(&cfg_a, "server.endpoint=udp://x", err, sizeof err),
                 MIXUP_ECONFIG);
    cr_assert_eq(cfg_a.n_endpoints, 1);
    cr_assert_str_eq(cfg_a.endpoints[0], "ipc:///tmp/mixupd.ipc");
    /* and the next good one still replaces the default */
    set_ok(&cfg_a, "server.endpoint=ipc:///tmp/c.ipc");
    cr_assert_eq(cfg_a.n_endpoints, 1);
    cr_assert_str_eq(cfg_a.endpoints[0], "ipc:///tmp/c.ipc");
}

/* ------------------------------------------------------------- validate */

Test(config, validate_cross_checks)
{
    char err[512] = "";
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "server.ring_slots=4");
    set_ok(&cfg_a, "server.prefetch=8");
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), MIXUP_ECONFIG);
    assert_has(err, "server.prefetch = 8 (--set) exceeds "
                    "server.ring_slots = 4 (--set)");
    set_ok(&cfg_a, "server.prefetch=4");
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), 0, "%s", err);

    cfg_a.n_endpoints = 0;
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), MIXUP_ECONFIG);
    assert_has(err, "server.endpoint");
    cfg_a.n_endpoints = 1;

    set_ok(&cfg_a, "dataset.images=");
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), MIXUP_ECONFIG);
    assert_has(err, "dataset.images");
    set_ok(&cfg_a, "dataset.images=/data/batch.bin");

    set_ok(&cfg_a, "dataset.labels=");
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), MIXUP_ECONFIG);
    assert_has(err, "dataset.labels");
    set_ok(&cfg_a, "dataset.format=cifar");
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), 0, "%s", err);
}

/* Load @text over the defaults (must succeed), then expect cfg_validate
 * to fail with every NULL-terminated substring in its message. */
static void expect_validate_error(const char *text, ...)
{
    static cfg_config cfg;
    char err[1024] = "";
    cfg_defaults(&cfg);
    cr_assert_eq(load_text(&cfg, text, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg_validate(&cfg, err, sizeof err), MIXUP_ECONFIG,
                 "'%s' validated", text);
    va_list ap;
    va_start(ap, text);
    for (const char *s; (s = va_arg(ap, const char *));)
        assert_has(err, s);
    va_end(ap);
}

Test(config, repeated_key_names_both_lines)
{
    expect_load_error("[server]\nworkers = 2\nname = a\nworkers = 3\n",
                      "x.conf:4: server.workers is given twice (lines 2 and 4)",
                      NULL);
    /* The section opened again is the same section. */
    expect_load_error("[batch]\nsize = 4\n[server]\n[batch]\nsize = 8\n",
                      "x.conf:5: batch.size is given twice (lines 2 and 5)",
                      NULL);
}

Test(config, cross_key_errors_name_keys_and_lines)
{
    expect_validate_error("[server]\nring_slots = 4\nprefetch = 8\n",
                          "server.prefetch = 8 (", "x.conf:3) exceeds "
                          "server.ring_slots = 4 (", "x.conf:2)", NULL);
    expect_validate_error("[augment]\nerase_prob = 0.5\nerase_area_min = 0.5\n"
                          "erase_area_max = 0.3\n",
                          "augment.erase_area_min = 0.5 (", "x.conf:3)",
                          "augment.erase_area_max = 0.3 (", "x.conf:4)", NULL);
    expect_validate_error("[augment]\nnormalize_mean = 0.5,0.5\n"
                          "normalize_std = 0.2,0\n",
                          "augment.normalize_mean = 0.5,0.5 (", "x.conf:2)",
                          "augment.normalize_std = 0.2,0 (", "x.conf:3)",
                          "every std > 0", NULL);
    expect_validate_error("[augment]\nnormalize_mean = 0.5\n",
                          "augment.normalize_std = '' (default)", NULL);
}

/* Checks made elsewhere (batch size vs samples) get the keys' lines. */
Test(config, annotate_names_where_keys_were_set)
{
    static cfg_config cfg;
    char err[512] = "";
    cfg_defaults(&cfg);
    cr_assert_eq(load_text(&cfg, "[batch]\nalpha = 1\nsize = 64\n", err,
                           sizeof err), 0);
    char msg[512] = "batch.size = 64 needs at least 128 samples per epoch";
    cfg_annotate(&cfg, msg, sizeof msg);
    assert_has(msg, "per epoch (batch.size: ");
    assert_has(msg, "x.conf:3)");
    char plain[512] = "batch.sizes is not an option";
    cfg_annotate(&cfg, plain, sizeof plain);
    cr_assert_str_eq(plain, "batch.sizes is not an option");
}

/* Bytes from the file are escaped before they reach a message. */
Test(config, control_bytes_escaped_in_messages)
{
    static cfg_config cfg;
    char err[512] = "";
    cfg_defaults(&cfg);
    int rc = load_text(&cfg, "[server]\nwor\x1b[2Jkers = 2\n", err, sizeof err);
    cr_assert_eq(rc, MIXUP_ECONFIG);
    assert_has(err, "unknown key server.wor\\x1b[2Jkers");
    cr_assert_null(strchr(err, 0x1b), "raw ESC in: %s", err);
    rc = load_text(&cfg, "[server]\nname = a\x07" "b\n", err, sizeof err);
    cr_assert_eq(rc, MIXUP_ECONFIG);
    assert_has(err, "a\\x07b");
    cr_assert_null(strchr(err, 0x07), "raw BEL in: %s", err);
}

/* ------------------------------------------------------------- output */

Test(config, print_of_defaults_loads_back)
{
    cfg_defaults(&cfg_a);
    round_trip(&cfg_a, &cfg_b);
    assert_same(&cfg_a, &cfg_b);
}

Test(config, print_of_everything_changed_loads_back)
{
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "server.endpoint=ipc:///tmp/one.ipc");
    set_ok(&cfg_a, "server.endpoint=tcp://127.0.0.1:5555");
    set_ok(&cfg_a, "server.endpoint=tcp://[::1]:5556");
    set_ok(&cfg_a, "server.name=other_1");
    set_ok(&cfg_a, "server.workers=7");
    set_ok(&cfg_a, "server.ring_slots=33");
    set_ok(&cfg_a, "server.prefetch=5");
    set_ok(&cfg_a, "server.max_streams=9");
    set_ok(&cfg_a, "server.max_request=100000");
    set_ok(&cfg_a, "server.stream_timeout=86400");
    set_ok(&cfg_a, "server.log_level=error");
    set_ok(&cfg_a, "dataset.format=cifar");
    set_ok(&cfg_a, "dataset.images=/data/with space/data_batch_1.bin");
    set_ok(&cfg_a, "dataset.labels=");
    set_ok(&cfg_a, "dataset.classes=65536");
    set_ok(&cfg_a, "batch.size=65536");
    set_ok(&cfg_a, "batch.alpha=0.30000000000000004");
    set_ok(&cfg_a, "batch.seed=18446744073709551615");
    set_ok(&cfg_a, "batch.shuffle=no");
    round_trip(&cfg_a, &cfg_b);
    assert_same(&cfg_a, &cfg_b);
    cr_assert_eq(cfg_b.n_endpoints, 3);
    /* the double needs all 17 digits and got them */
    cr_assert(cfg_b.alpha != 0.3);
}

Test(config, print_keeps_short_doubles_short)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_defaults(&cfg_a);
    cfg_print(&cfg_a, f);
    fclose(f);
    assert_has(buf, "alpha = 0.2\n");
    assert_has(buf, "shuffle = true\n");
    assert_has(buf, "log_level = info\n");
    assert_has(buf, "[server]\n");
    free(buf);
}

Test(config, help_mentions_every_key)
{
    static const char *keys[] = {
        "server.endpoint",    "server.name",       "server.workers",
        "server.ring_slots",  "server.prefetch",   "server.max_streams",
        "server.max_request", "server.stream_timeout", "server.log_level",
        "dataset.format",     "dataset.images",    "dataset.labels",
        "dataset.classes",    "batch.size",        "batch.alpha",
        "batch.seed",         "batch.shuffle",
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_print_help(f);
    fclose(f);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_has(buf, keys[i]);
    assert_has(buf, "1 .. 65536");
    assert_has(buf, "error | warn | info | debug");
    assert_has(buf, "changes on reload");
    assert_has(buf, "needs a restart");
    assert_has(buf, "ipc:///tmp/mixupd.ipc");
    free(buf);
}

/* ------------------------------------------------------------- reload */

Test(config, reload_allows_only_runtime_options)
{
    char err[512] = "";
    cfg_defaults(&cfg_a);
    cfg_defaults(&cfg_b);
    set_ok(&cfg_b, "server.log_level=debug");
    set_ok(&cfg_b, "server.stream_timeout=10");
    cr_assert_eq(cfg_check_reload(&cfg_a, &cfg_b, err, sizeof err), 0, "%s",
                 err);
    set_ok(&cfg_b, "server.workers=4");
    cr_assert_eq(cfg_check_reload(&cfg_a, &cfg_b, err, sizeof err),
                 MIXUP_ECONFIG);
    assert_has(err, "server.workers changed (2 -> 4)");
    cfg_defaults(&cfg_b);
    set_ok(&cfg_b, "server.endpoint=ipc:///tmp/mixupd.ipc");
    set_ok(&cfg_b, "server.endpoint=tcp://127.0.0.1:5555");
    cr_assert_eq(cfg_check_reload(&cfg_a, &cfg_b, err, sizeof err),
                 MIXUP_ECONFIG);
    assert_has(err, "server.endpoint");
}

/* ------------------------------------------------------------- example */

Test(config, example_config_loads)
{
    const char *root = getenv("MIXUPD_SOURCE_ROOT");
    char path[1024];
    if (root)
        snprintf(path, sizeof path, "%s/conf/mixupd.conf", root);
    else if (access("../conf/mixupd.conf", R_OK) == 0)
        snprintf(path, sizeof path, "../conf/mixupd.conf");
    else
        snprintf(path, sizeof path, "conf/mixupd.conf");
    char err[512] = "";
    cfg_defaults(&cfg_a);
    cr_assert_eq(cfg_load_file(&cfg_a, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), 0, "%s", err);
    /* the socket of the unit's RuntimeDirectory=mixupd, and nothing that
     * would admit more than its group (a token-less tcp endpoint) */
    cr_assert_eq(cfg_a.n_endpoints, 1);
    cr_assert_str_eq(cfg_a.endpoints[0], "ipc:///run/mixupd/mixupd.ipc");
    cr_assert_str_eq(cfg_a.ipc_group, "mixupd");
    cr_assert_str_eq(cfg_a.shm_mode, "0640");
    cr_assert_str_eq(cfg_a.format, "idx");
    cr_assert_str_eq(cfg_a.images, FASHION "train-images-idx3-ubyte.gz");
    cr_assert_str_eq(cfg_a.labels, FASHION "train-labels-idx1-ubyte.gz");
    /* apart from the service's endpoint and group, the example spells out
     * the defaults */
    cfg_defaults(&cfg_b);
    set_ok(&cfg_b, "server.endpoint=ipc:///run/mixupd/mixupd.ipc");
    set_ok(&cfg_b, "server.ipc_group=mixupd");
    set_ok(&cfg_b, "server.shm_mode=0640");
    assert_same(&cfg_a, &cfg_b);
}

/* Defaults that depend on each other: `ring_slots = 2` alone is valid,
 * prefetch following it until prefetch itself is given, so that a small
 * ring needs one line, not two. */
Test(config, prefetch_default_follows_ring_slots)
{
    char err[512] = "";
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "server.ring_slots=2");
    cr_assert_eq(cfg_a.prefetch, 2);
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), 0, "%s", err);
    set_ok(&cfg_a, "server.ring_slots=64");
    cr_assert_eq(cfg_a.prefetch, 4, "back to the default, not 64");

    /* A prefetch given is kept, and checked against ring_slots. */
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "server.prefetch=3");
    set_ok(&cfg_a, "server.ring_slots=2");
    cr_assert_eq(cfg_a.prefetch, 3);
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), MIXUP_ECONFIG);
    assert_has(err, "server.prefetch = 3 (--set) exceeds server.ring_slots = 2 (--set)");

    /* The same from a file. */
    cfg_defaults(&cfg_a);
    cr_assert_eq(load_text(&cfg_a, "[server]\nring_slots = 1\n", err,
                           sizeof err), 0, "%s", err);
    cr_assert_eq(cfg_a.prefetch, 1);
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), 0, "%s", err);
}

/* ------------------------------------------------------------- pipelines */

static cfg_config cfg_p; /* a resolved pipeline */

/* [pipeline NAME] keys are written as --set takes them; every key it does
 * not give takes main's value, including main's --set overrides. */
Test(config, pipeline_inherits_main_and_overrides_its_own_keys)
{
    char err[512] = "";
    cfg_defaults(&cfg_a);
    int rc = load_text(&cfg_a,
                       "[batch]\nsize = 64\n"
                       "[pipeline val]\n"
                       "dataset.images = " FASHION "t10k-images-idx3-ubyte.gz\n"
                       "batch.mix = none\nbatch.drop_last = false\n"
                       "[pipeline aug]\naugment.flip_horizontal = 0.5\n",
                       err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    set_ok(&cfg_a, "batch.alpha=0.3");
    set_ok(&cfg_a, "pipeline.val.batch.shuffle=false");
    cr_assert_eq(cfg_a.n_pipelines, 2);
    cr_assert_eq(cfg_pipeline_find(&cfg_a, "main"), 0);
    cr_assert_eq(cfg_pipeline_find(&cfg_a, "val"), 1);
    cr_assert_eq(cfg_pipeline_find(&cfg_a, "aug"), 2);
    cr_assert_eq(cfg_pipeline_find(&cfg_a, "test"), -1);
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), 0, "%s", err);

    cr_assert_eq(cfg_pipeline_resolve(&cfg_a, 0, &cfg_p, err, sizeof err), 0);
    cr_assert_str_eq(cfg_p.images, FASHION "t10k-images-idx3-ubyte.gz");
    cr_assert_str_eq(cfg_p.labels, cfg_a.labels); /* main's */
    cr_assert_eq(cfg_p.batch_size, 64);
    cr_assert_eq(cfg_p.alpha, 0.3);
    cr_assert_eq(cfg_p.mix, 3);
    cr_assert_eq(cfg_p.shuffle, 0);
    cr_assert_eq(cfg_p.drop_last, 0);
    cr_assert_eq(cfg_p.n_pipelines, 0);
    cr_assert(!cfg_same_dataset(&cfg_p, &cfg_a));

    cr_assert_eq(cfg_pipeline_resolve(&cfg_a, 1, &cfg_p, err, sizeof err), 0);
    cr_assert_eq(cfg_p.flip_horizontal, 0.5);
    cr_assert_eq(cfg_p.shuffle, 1);
    cr_assert_eq(cfg_p.alpha, 0.3);
    cr_assert(cfg_same_dataset(&cfg_p, &cfg_a));
    cr_assert_eq(cfg_a.drop_last, 1); /* main unchanged */

    /* --print-config writes the sections back, and they load again. */
    round_trip(&cfg_a, &cfg_b);
    cr_assert_eq(cfg_b.n_pipelines, 2);
    cr_assert_str_eq(cfg_b.pipelines[0].name, "val");
    cr_assert_str_eq(cfg_b.pipelines[0].sets, cfg_a.pipelines[0].sets);
    cr_assert_str_eq(cfg_b.pipelines[1].sets, cfg_a.pipelines[1].sets);
}

Test(config, pipeline_errors_name_the_pipeline_and_the_key)
{
    expect_load_error("[pipeline val]\nserver.workers = 3\n", ":2:",
                      "pipeline 'val'", "server.workers",
                      "applies to the whole daemon", NULL);
    expect_load_error("[pipeline val]\nbatch.nope = 3\n", "pipeline 'val'",
                      "unknown key batch.nope", NULL);
    expect_load_error("[pipeline val]\nbatch.size = 0\n", "pipeline 'val'",
                      "batch.size", NULL);
    expect_load_error("[pipeline val]\nsize = 3\n", "pipeline 'val'",
                      "section.key", NULL);
    expect_load_error("[pipeline main]\nbatch.size = 3\n", "'main'", NULL);
    expect_load_error("[pipeline a.b]\nbatch.size = 3\n", "'a.b'",
                      "A-Z a-z 0-9 _ -", NULL);
    expect_set_error("pipeline.val=3", "pipeline.NAME.section.key", NULL);
    expect_set_error("pipeline.val.server.name=x", "whole daemon", NULL);
    /* The pipeline's effective settings are checked as main's are. */
    char err[512] = "";
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "pipeline.v.dataset.labels=");
    cr_assert_eq(cfg_validate(&cfg_a, err, sizeof err), MIXUP_ECONFIG);
    assert_has(err, "pipeline 'v': dataset.labels is empty");
    /* A reload that changes the pipelines needs a restart. */
    cfg_defaults(&cfg_b);
    cr_assert_eq(cfg_check_reload(&cfg_b, &cfg_a, err, sizeof err),
                 MIXUP_ECONFIG);
    assert_has(err, "[pipeline ...]");
}

/* batch.shuffle is a boolean with one more value, blocks, which prints
 * back as itself; packs take storage shm or mapped, other formats not. */
Test(config, shuffle_blocks_and_pack_storage)
{
    cfg_defaults(&cfg_a);
    set_ok(&cfg_a, "batch.shuffle=blocks");
    cr_assert_eq(cfg_a.shuffle, 2);
    set_ok(&cfg_a, "batch.shuffle_window=5");
    set_ok(&cfg_a, "dataset.format=pack");
    set_ok(&cfg_a, "dataset.storage=mapped");
    cr_assert_eq(cfg_a.storage, 3);
    round_trip(&cfg_a, &cfg_b);
    cr_assert_eq(cfg_b.shuffle, 2);
    cr_assert_eq(cfg_b.shuffle_window, 5u);
    cr_assert_eq(cfg_b.storage, 3);
    set_ok(&cfg_a, "batch.shuffle=no");
    cr_assert_eq(cfg_a.shuffle, 0);
    expect_set_error("batch.shuffle=block", "true/false", "blocks", NULL);
    expect_set_error("batch.shuffle_block=0", "batch.shuffle_block", NULL);
    expect_validate_error("[dataset]\nformat = idx\nstorage = mapped\n",
                          "dataset.storage = mapped", "format = idx", NULL);
    expect_validate_error("[dataset]\nformat = pack\nstorage = decoded\n",
                          "dataset.storage = decoded", "shm or mapped", NULL);
}
