/*
 * mixupctl — talk to mixupd from the command line.
 *
 *   mixupctl [--endpoint ADDR]... [--timeout MS] [--seed S] [--start E:B]
 *            [--mode independent|sharded|shared] [--job NAME]
 *            [--pipeline NAME]
 *            [--rank R] [--world W] COMMAND [options]
 *
 *   info                          what the daemon serves
 *   ping [--timeout MS]           exit 0 when the daemon answers in time
 *   dump --batches N --out DIR    received batches as .npy files
 *   bench --seconds S [--clients K]
 *                                 receive for S seconds, print samples/s
 *   preview --out PNG [--batches N] [--scale S] [--cols C] [--names SET]
 *                                 a batch as a grid of images, and a legend
 *   jobs                          jobs and streams with positions and rates
 *   stats [--json]                the daemon's counters (a table, or JSON)
 *   help [COMMAND]                these, with every option's default
 *                                 (also COMMAND --help, and --version)
 *
 * Exit status: 0 success, 1 failure (daemon absent or refusing, I/O),
 * 2 bad usage. dump and bench draw a progress line on stderr when it is a
 * terminal, and nothing when it is not. Results go to stdout, errors to
 * stderr.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mixup.h"
#include <sys/resource.h>

#include "dump.h"
#include "json.h"
#include "mixupctl.h"
#include "npy_write.h"
#include "stats_table.h"
#include "preview.h"
#include "progress.h"

/* Each command's help, defaults included: `mixupctl help COMMAND` and
 * `mixupctl COMMAND --help` print it. */
typedef struct command_help {
    const char *name;
    const char *synopsis;
    const char *text;
} command_help;

static const command_help commands[] = {
    {"info", "info", "  what the daemon serves: samples, shape, classes, batch size,\n"
     "  batches per epoch, alpha, shuffle, protocol version\n"},
    {"ping", "ping [--timeout MS]",
     "  exit 0 when the daemon answers within MS milliseconds, 1 otherwise\n"
     "  (for health checks)\n"
     "  --timeout MS   default: the global --timeout when given, else "
     CTL_STR(PING_TIMEOUT_MS) "\n"},
    {"dump", "dump --batches N --out DIR",
     "  receive N batches and write them as NumPy files into DIR (created):\n"
     "  x.npy y.npy index1.npy index2.npy lam.npy position.npy, and the\n"
     "  augmentation records when the daemon augments\n"
     "  --batches N    batches to receive (required, >= 1)\n"
     "  --out DIR      where to write (required)\n"},
    {"bench", "bench [--seconds S] [--clients K] [--consume HOW]",
     "  receive for S seconds with K clients, each with its own stream,\n"
     "  consuming every batch as a trainer would; print the transport,\n"
     "  samples/s, batches/s, MB/s (per client and in total) and this\n"
     "  process's CPU time per batch\n"
     "  --seconds S    default 5\n"
     "  --clients K    1 .. 256, default 1\n"
     "  --consume HOW  copy (default: x and y into a buffer of the\n"
     "                 client's own), read (every byte of x and y, summed),\n"
     "                 none (nothing: measures delivery alone)\n"},
    {"preview", "preview --out FILE.png [--batches N] [--scale S] [--cols C] "
     "[--names SET]",
     "  N batches as a grid of images, and a legend of each tile's labels\n"
     "  and lambda on stdout\n"
     "  --out FILE.png  the picture (required)\n"
     "  --batches N     1 .. " CTL_STR(PREVIEW_MAX_BATCHES) ", default 1\n"
     "  --scale S       enlargement, default: tiles of about "
     CTL_STR(PREVIEW_TARGET_PX) " px\n"
     "  --cols C        tiles to a row, default up to "
     CTL_STR(PREVIEW_MAX_COLS) "\n"
     "  --names SET     auto (default), fashion-mnist, cifar10, numbers\n"},
    {"jobs", "jobs [--json]", "  jobs and streams: positions, batches sent, rates (the tables\n  of stats)\n"},
    {"stats", "stats [--json]",
     "  the daemon's counters and settings as a table\n"
     "  --json         the daemon's JSON instead\n"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const command_help *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mixupctl [--endpoint ADDR]... [--timeout MS] [--seed S]\n"
            "                [--start EPOCH:BATCH] [--mode MODE] [--job NAME]\n"
            "                [--rank R] [--world W] [--pipeline NAME]\n"
            "                [--transport auto|socket] [--spread]\n"
            "                [--token-file PATH] COMMAND [options]\n"
            "       mixupctl help [COMMAND] | COMMAND --help | --version\n"
            "options (before the command):\n"
            "  --endpoint ADDR  repeatable; default $MIXUPD_ENDPOINT, else\n"
            "                   " MIXUP_SERVICE_ENDPOINT " when it exists (the\n"
            "                   service), else " MIXUP_DEFAULT_ENDPOINT
            " (now: %s)\n"
            "  --timeout MS     per request, default %d\n"
            "  --seed S         the stream's seed, default 0\n"
            "  --start E:B      first batch, default 0:0\n"
            "  --mode MODE      independent (default), sharded (--job, --rank,\n"
            "                   --world), shared (--job)\n"
            "  --pipeline NAME  the daemon's pipeline (its [pipeline NAME]),\n"
            "                   default main; `info` lists them\n"
            "  --transport T    auto (default: batches read in place in the\n"
            "                   daemon's ring when it is on this host) or\n"
            "                   socket (always copied through the socket)\n"
            "  --spread         stripe the stream over every --endpoint (batch\n"
            "                   k from daemon k mod D, in order, same bytes);\n"
            "                   the daemons' digests (info) must agree\n"
            "  --token-file PATH  the daemon's token (its\n"
            "                   server.auth_token_file), default\n"
            "                   $MIXUPD_TOKEN_FILE\n"
            "commands:\n", mixup_default_endpoint(), DEFAULT_TIMEOUT_MS);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %s\n", commands[i].synopsis);
    fprintf(out, "dump and bench show progress on stderr when it is a "
            "terminal.\n`mixupctl help COMMAND` gives its options and defaults.\n"
            "exit status: 0 success, 1 failure, 2 bad usage\n");
}

static void command_usage(FILE *out, const command_help *h)
{
    fprintf(out, "usage: mixupctl [global options] %s\n%s", h->synopsis,
            h->text);
}

/* The value of the option at argv[*i] for command @cmd, or NULL after
 * saying that it is missing. */
const char *opt_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "mixupctl: %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_start(const char *s, mixup_stream_options *o)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *colon = strchr(buf, ':');
    if (!colon)
        return -1;
    *colon = 0;
    return parse_u64(buf, &o->start_epoch) || parse_u64(colon + 1, &o->start_batch)
               ? -1
               : 0;
}

static int parse_global(int argc, char **argv, ctl *c)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, 0, 'e'},
        {"timeout", required_argument, 0, 't'},
        {"seed", required_argument, 0, 's'},
        {"start", required_argument, 0, 'S'},
        {"mode", required_argument, 0, 'm'},
        {"job", required_argument, 0, 'j'},
        {"rank", required_argument, 0, 'r'},
        {"world", required_argument, 0, 'w'},
        {"pipeline", required_argument, 0, 'p'},
        {"transport", required_argument, 0, 'T'},
        {"spread", no_argument, 0, 'D'},
        {"token-file", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    int o;
    uint64_t v;
    opterr = 0; /* our messages, not getopt's */
    while ((o = getopt_long(argc, argv, "+:e:t:s:S:m:j:r:w:p:T:K:h", opts, NULL)) != -1) {
        switch (o) {
        case 'e':
            if (c->n_endpoints == MAX_ENDPOINTS) {
                fprintf(stderr, "mixupctl: at most %d endpoints\n", MAX_ENDPOINTS);
                return -1;
            }
            c->endpoints[c->n_endpoints++] = optarg;
            break;
        case 't':
            if (parse_u64(optarg, &v) || v > INT32_MAX) {
                fprintf(stderr, "mixupctl: --timeout wants milliseconds, got '%s'\n", optarg);
                return -1;
            }
            c->timeout_ms = (int)v;
            c->timeout_given = 1;
            break;
        case 's':
            if (parse_u64(optarg, &c->stream.seed)) {
                fprintf(stderr, "mixupctl: --seed wants an unsigned integer, got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'S':
            if (parse_start(optarg, &c->stream)) {
                fprintf(stderr, "mixupctl: --start wants EPOCH:BATCH, got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'm':
            if (!strcmp(optarg, "independent"))
                c->stream.mode = MIXUP_MODE_INDEPENDENT;
            else if (!strcmp(optarg, "sharded"))
                c->stream.mode = MIXUP_MODE_SHARDED;
            else if (!strcmp(optarg, "shared"))
                c->stream.mode = MIXUP_MODE_SHARED;
            else {
                fprintf(stderr, "mixupctl: --mode wants independent, sharded "
                        "or shared, got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'j': c->stream.job = optarg; break;
        case 'D': c->spread = 1; break;
        case 'p': c->stream.pipeline = optarg; break;
        case 'K': c->token_file = optarg; break;
        case 'T':
            if (!strcmp(optarg, "auto"))
                c->transport = MIXUP_TRANSPORT_AUTO;
            else if (!strcmp(optarg, "socket"))
                c->transport = MIXUP_TRANSPORT_SOCKET;
            else {
                fprintf(stderr, "mixupctl: --transport wants auto or socket, "
                        "got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'r':
        case 'w':
            if (parse_u64(optarg, &v) || v > UINT32_MAX) {
                fprintf(stderr, "mixupctl: --%s wants an unsigned integer, "
                        "got '%s'\n", o == 'r' ? "rank" : "world", optarg);
                return -1;
            }
            if (o == 'r')
                c->stream.rank = (uint32_t)v;
            else
                c->stream.world = (uint32_t)v;
            break;
        case 'h': usage(stdout); exit(0);
        case 'V':
            printf("mixupctl %d.%d.%d\n", MIXUP_VERSION_MAJOR,
                   MIXUP_VERSION_MINOR, MIXUP_VERSION_PATCH);
            exit(0);
        case ':':
            fprintf(stderr, "mixupctl: %s needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "mixupctl: unknown option '%s' (mixupctl help "
                    "lists them)\n", argv[optind - 1]);
            return -1;
        }
    }
    if (c->n_endpoints == 0)
        c->endpoints[c->n_endpoints++] = mixup_default_endpoint();
    return 0;
}

int fail(ctl *c, int rc, const char *what)
{
    const char *msg = mixup_client_error(c->client); /* NULL: connect's */
    fprintf(stderr, "mixupctl: %s: %s\n", what, *msg ? msg : mixup_strerror(rc));
    return 1;
}

void client_options(const ctl *c, mixup_client_options *o)
{
    mixup_client_options_init(o);
    o->timeout_ms = c->timeout_ms;
    o->transport = c->transport;
    o->spread = c->spread;
    o->token_file = c->token_file;
}

int connect_and_info(ctl *c, mixup_info *info)
{
    if (connect_and_open(c, 0))
        return 1;
    int rc = mixup_pipeline_info(c->client, c->stream.pipeline, info);
    return rc < 0 ? fail(c, rc, "info") : 0;
}

int connect_and_open(ctl *c, int open_stream)
{
    mixup_client_options o;
    client_options(c, &o);
    int rc = mixup_client_connect(&c->client, c->endpoints, c->n_endpoints, &o);
    if (rc < 0)
        return fail(c, rc, "connect");
    if (open_stream && (rc = mixup_stream_open(c->client, &c->stream)) < 0)
        return fail(c, rc, "open stream");
    return 0;
}

static int no_arguments(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "mixupctl: %s takes no arguments, got '%s'\n",
                argv[0], argv[1]);
        return -1;
    }
    return 0;
}

/* Image folders name their classes: the stats JSON has them (the INFO
 * reply does not), for @pipeline. Nothing when there are none. */
static void print_class_names(ctl *c, const char *pipeline)
{
    char *text = NULL, err[128];
    json_object *root;
    if (mixup_client_stats(c->client, 1, &text) < 0 ||
        ctl_json_parse(text, &root, err, sizeof err) < 0) {
        free(text);
        return;
    }
    json_object *ds = ctl_json_get(root, "dataset");
    json_object *pipes = ctl_json_get(root, "pipelines");
    size_t np = json_object_is_type(pipes, json_type_array)
                    ? json_object_array_length(pipes) : 0;
    for (size_t k = 0; k < np; k++) {
        json_object *p = json_object_array_get_idx(pipes, k);
        json_object *name = ctl_json_get(p, "name");
        if (json_object_is_type(name, json_type_string) &&
            !strcmp(json_object_get_string(name), pipeline))
            ds = ctl_json_get(p, "dataset");
    }
    json_object *names = ctl_json_get(ds, "class_names");
    if (json_object_is_type(names, json_type_array)) {
        printf("class_names:");
        size_t n = json_object_array_length(names);
        for (size_t k = 0; k < n; k++) {
            json_object *name = json_object_array_get_idx(names, k);
            if (json_object_is_type(name, json_type_string))
                printf("%s %s", k ? "," : "", json_object_get_string(name));
        }
        putchar('\n');
    }
    json_object_put(root);
    free(text);
}

static int cmd_info(ctl *c, int argc, char **argv)
{
    if (no_arguments(argc, argv) < 0)
        return 2;
    mixup_info i;
    if (connect_and_info(c, &i))
        return 1;
    printf("pipeline: %s\nsamples: %" PRIu64 "\nshape: %ux%ux%u\n"
           "classes: %u\nbatch_size: %u\nbatches_per_epoch: %" PRIu64 "\n"
           "alpha: %g\nshuffle: %u\ndrop_last: %u\nprotocol: %u\n"
           "pipelines: ",
           i.pipeline, i.samples, i.height, i.width, i.channels, i.classes,
           i.batch_size, i.batches_per_epoch, (double)i.alpha, i.shuffle,
           !i.keep_last, i.protocol_version);
    for (const char *p = i.pipelines; *p; p++)
        putchar(*p == ',' ? ' ' : *p);
    printf("\ndataset_digest: %016" PRIx64 "\nsettings_digest: %016" PRIx64
           "\n", i.dataset_digest, i.settings_digest);
    print_class_names(c, i.pipeline);
    return 0;
}

/* ---- dump ---- */

static int cmd_dump(ctl *c, int argc, char **argv)
{
    uint64_t batches = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--batches")) {
            if (!(v = opt_value("dump", argc, argv, &i)))
                return 2;
            if (parse_u64(v, &batches) || batches == 0) {
                fprintf(stderr, "mixupctl: dump --batches wants a count >= 1, "
                        "got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--out")) {
            if (!(out = opt_value("dump", argc, argv, &i)))
                return 2;
        } else {
            fprintf(stderr, "mixupctl: dump: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!batches || !out) {
        fprintf(stderr, "mixupctl: dump needs --batches N and --out DIR\n");
        return 2;
    }
    if (mkdir(out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mixupctl: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    if (connect_and_open(c, 1))
        return 1;
    dump_writer w = {0};
    char path[1100];
    int status = 0;
    progress p;
    progress_start(&p, "dump", batches, 0);
    for (uint64_t n = 0; n < batches && !status; n++) {
        mixup_batch *b;
        int rc = mixup_next(c->client, &b);
        if (rc < 0) {
            progress_end(&p);
            status = fail(c, rc, "next batch");
            break;
        }
        if (n == 0 && (rc = dump_open(&w, out, b, batches * b->size, path,
                                      sizeof path)) < 0) {
            fprintf(stderr, "mixupctl: cannot write %s: %s\n", path,
                    strerror(-rc));
            status = 1;
        }
        if (!status && dump_append(&w, b) < 0) {
            fprintf(stderr, "mixupctl: writing to %s failed\n", out);
            status = 1;
        }
        mixup_batch_release(b);
        progress_update(&p, n + 1);
    }
    progress_end(&p);
    if (dump_close(&w, path, sizeof path) < 0 && !status) {
        fprintf(stderr, "mixupctl: %s is incomplete\n", path);
        status = 1;
    }
    if (!status)
        printf("wrote %" PRIu64 " batches to %s\n", batches, out);
    return status;
}

/* stats: the table, or (--json) the daemon's JSON as it came, checked:
 * JSON that does not parse is still printed, but the exit status says so.
 * jobs: the jobs and streams tables of the same JSON (--json: as stats
 * --json), so that jobs and stats never disagree. */
static int cmd_stats(ctl *c, int argc, char **argv, int jobs_only)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "mixupctl: %s: unknown argument '%s'\n", argv[0], argv[i]);
            return 2;
        }
    }
    if (connect_and_open(c, 0))
        return 1;
    char *text;
    int rc = mixup_client_stats(c->client, 1, &text);
    if (rc < 0)
        return fail(c, rc, argv[0]);
    int status = 0;
    json_object *st = NULL;
    char why[128];
    int ok = ctl_json_parse(text, &st, why, sizeof why) == 0;
    if (ok && !json_object_is_type(st, json_type_object)) {
        snprintf(why, sizeof why, "not an object");
        json_object_put(st);
        ok = 0;
    }
    if (json || !ok) {
        size_t n = strlen(text);
        fputs(text, stdout);
        if (n && text[n - 1] != '\n')
            putchar('\n');
    }
    if (!ok) {
        fprintf(stderr, "mixupctl: %s: the daemon's JSON does not parse: %s\n",
                argv[0], why);
        status = 1;
    } else {
        if (!json && jobs_only)
            stats_print_jobs(stdout, st);
        else if (!json)
            stats_print_table(stdout, st);
        json_object_put(st);
    }
    free(text);
    return status;
}

/* ---- ping ---- */

static int cmd_ping(ctl *c, int argc, char **argv)
{
    uint64_t ms = c->timeout_given ? (uint64_t)c->timeout_ms : PING_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--timeout")) {
            if (!opt_value("ping", argc, argv, &i))
                return 2;
            if (parse_u64(argv[i], &ms) || ms < 1 || ms > INT32_MAX) {
                fprintf(stderr, "mixupctl: ping --timeout wants milliseconds "
                        ">= 1, got '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "mixupctl: ping: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (ms < 1) {
        fprintf(stderr, "mixupctl: ping needs a timeout >= 1 ms\n");
        return 2;
    }
    c->timeout_ms = (int)ms;
    if (connect_and_open(c, 0))
        return 1;
    const char *where = c->n_endpoints == 1 ? c->endpoints[0] : "the endpoints";
    mixup_info info;
    double t0 = progress_now();
    int rc = mixup_client_info(c->client, &info);
    double el = (progress_now() - t0) * 1000;
    if (rc == MIXUP_ETIMEDOUT) {
        fprintf(stderr, "mixupctl: ping: no answer from %s within %llu ms "
                "(is mixupd running?)\n", where, (unsigned long long)ms);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "mixupctl: ping: %s: %s\n", where, mixup_client_error(c->client));
        return 1;
    }
    printf("mixupd at %s answered in %.1f ms: %" PRIu64 " samples of "
           "%ux%ux%u, %u classes, batch %u\n", where, el, info.samples,
           info.height, info.width, info.channels, info.classes, info.batch_size);
    return 0;
}

int main(int argc, char **argv)
{
    /* Received batches are a few MB each, allocated by nanomsg and freed
     * here; with several receiving threads glibc hands their memory back
     * to the kernel after every batch and takes ~700 page faults per batch
     * to get it again (half the throughput with 2 clients). Keep it. */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ctl c = {.timeout_ms = DEFAULT_TIMEOUT_MS};
    mixup_stream_options_init(&c.stream);
    if (parse_global(argc, argv, &c) < 0)
        return 2;
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (!strcmp(cmd, "help")) {
        const command_help *h = sub_argc > 1 ? find_command(sub_argv[1]) : NULL;
        if (sub_argc > 2 || (sub_argc == 2 && !h)) {
            fprintf(stderr, "mixupctl: help takes one command name, got '%s'\n",
                    sub_argv[sub_argc - 1]);
            return 2;
        }
        h ? command_usage(stdout, h) : usage(stdout);
        return 0;
    }
    const command_help *h = find_command(cmd);
    if (!h) {
        fprintf(stderr, "mixupctl: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    for (int i = 1; i < sub_argc; i++)
        if (!strcmp(sub_argv[i], "--help") || !strcmp(sub_argv[i], "-h")) {
            command_usage(stdout, h);
            return 0;
        }
    int status;
    if (!strcmp(cmd, "info"))
        status = cmd_info(&c, sub_argc, sub_argv);
    else if (!strcmp(cmd, "dump"))
        status = cmd_dump(&c, sub_argc, sub_argv);
    else if (!strcmp(cmd, "bench"))
        status = cmd_bench(&c, sub_argc, sub_argv);
    else if (!strcmp(cmd, "ping"))
        status = cmd_ping(&c, sub_argc, sub_argv);
    else if (!strcmp(cmd, "preview"))
        status = cmd_preview(&c, sub_argc, sub_argv);
    else if (!strcmp(cmd, "jobs"))
        status = cmd_stats(&c, sub_argc, sub_argv, 1);
    else
        status = cmd_stats(&c, sub_argc, sub_argv, 0);
    mixup_client_close(c.client);
    return status;
}
