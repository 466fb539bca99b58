/*
 * config.h — the daemon's configuration: one table of options.
 *
 * Every option is one row of the table in config.c (section, key, type,
 * default, bounds, help, whether it may change at run time). Loading the
 * INI file (inih), `--set section.key=value` overrides, `mixupd --help` and
 * `mixupd --print-config` all come from that table; unknown keys and
 * out-of-range values are errors naming the file, line, key and the
 * accepted range.
 */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_MAX_ENDPOINTS 16
#define CFG_STR_MAX 1024
#define CFG_MAX_PIPELINES 8     /* besides main */
#define CFG_PIPELINE_NAME_MAX 16
#define CFG_PIPELINE_SETS 4096  /* bytes of one pipeline's own settings */

/* A pipeline declared by a section [pipeline NAME]: the settings it gives,
 * as "section.key=value\n" lines in the order given (a later line wins).
 * Every other option takes main's value (cfg_pipeline_resolve()). */
typedef struct cfg_pipeline {
    char name[CFG_PIPELINE_NAME_MAX + 1];
    char sets[CFG_PIPELINE_SETS];
    size_t sets_len;
} cfg_pipeline;

extern const char *const cfg_shm_delivery_names[2];
#define CFG_MAX_OPTIONS 96 /* rows of the table, at most */

typedef struct cfg_config {
    /* [server] */
    char endpoints[CFG_MAX_ENDPOINTS][CFG_STR_MAX]; /* repeatable key */
    int n_endpoints;
    int endpoints_given;  /* 0 while endpoints[] is still the default list */
    char name[64];        /* instance name: shm and log names */
    uint32_t workers;     /* worker threads */
    uint32_t ring_slots;  /* batch slots prepared ahead, all streams */
    uint32_t prefetch;    /* slots one stream may hold ahead of demand */
    int prefetch_given;   /* 0 while prefetch follows ring_slots */
    uint32_t max_streams;
    uint32_t max_held;    /* batches one client may hold lent */
    uint64_t max_copy_bytes; /* copies to sockets in flight, all clients */
    int shm_delivery;     /* 0 auto, 1 off */
    char shm_mode[8];     /* octal file mode of the ring segment */
    uint32_t max_connections; /* accepted at once, all endpoints */
    uint32_t listen_backlog;  /* of each endpoint's listening socket */
    uint32_t max_request; /* bytes of a request, header included */
    uint32_t stream_timeout; /* seconds a stream may sit idle */
    uint32_t shared_lease;   /* seconds to acknowledge a shared batch */
    int log_level;        /* 0 error, 1 warn, 2 info, 3 debug */
    char log_file[CFG_STR_MAX]; /* empty: stderr */
    uint32_t summary_interval;  /* seconds; 0: no summary lines */
    char ipc_mode[8];     /* octal, applied to ipc socket files */
    char ipc_group[64];   /* group of ipc socket files; empty: ours */
    char auth_token_file[CFG_STR_MAX]; /* empty: no token (auth.h) */
    int allow_unauthenticated_tcp; /* protected mode off (auth.h) */
    /* [dataset] */
    char format[16];      /* npy | idx | cifar | folder | list | pack */
    char images[CFG_STR_MAX];
    char labels[CFG_STR_MAX];
    uint32_t classes;     /* 0: infer */
    char root[CFG_STR_MAX]; /* list: paths relative to it ("": the list's) */
    int storage;          /* folder, list: 0 encoded, 1 decoded;
                             pack: 0 or 2 shm, 3 mapped */
    uint32_t channels;    /* folder, list: 1 or 3 */
    uint32_t ds_height, ds_width; /* decoded: resize to; 0 keep */
    uint64_t max_pixels;  /* folder, list: largest image accepted */
    uint64_t max_decode_memory; /* folder, list: largest JPEG coefficient
                                   buffer (progressive files) accepted */
    int on_bad_file;      /* 0 error, 1 skip */
    int verify;           /* 0 header, 1 full (decode every file at load) */
    /* [batch] */
    uint32_t batch_size;
    double alpha;
    uint64_t seed;
    int shuffle;          /* 0 no, 1 yes, 2 blocks */
    uint32_t shuffle_block, shuffle_window; /* shuffle = blocks */
    int drop_last;        /* 0: the last partial batch is served */
    int mix;              /* mixup, mixup_batch, cutmix, none */
    int pairing;          /* disjoint, within */
    double cutmix_alpha;
    double switch_prob;
    double mix_prob;
    double label_smoothing;
    int label_mode;       /* mixed, pairs */
    /* [augment] */
    int aug_order;        /* after_mix, before_mix */
    double flip_horizontal, flip_vertical;
    double width_shift_range, height_shift_range;
    int fill_mode;        /* nearest, constant, reflect, wrap */
    double cval;
    uint32_t crop_padding;
    int crop_mode;        /* constant, reflect, edge, symmetric */
    double crop_value;
    double erase_prob, erase_area_min, erase_area_max, erase_ratio;
    int erase_fill;       /* constant, channel, uniform, normal */
    double erase_value;
    char normalize_mean[128], normalize_std[128]; /* "m0,m1,m2" or "" */
    char rrc_scale[64], rrc_ratio[64]; /* "lo, hi"; rrc_scale "": off */
    uint32_t resize;      /* shorter side before center_crop; 0 off */
    int center_crop;
    int dct_scaling;      /* JPEG: decode at 1/2, 1/4, 1/8 when it shrinks */
    /* [output] */
    int out_dtype;        /* float32, float16, bfloat16 */
    int out_layout;       /* NHWC, NCHW */
    double out_scale;     /* 0: 1/255 for uint8 data, 1 for float32 */
    uint32_t out_height, out_width; /* encoded images: the sample size */
    /* [pipeline NAME] sections; the sections above are pipeline "main" */
    cfg_pipeline pipelines[CFG_MAX_PIPELINES];
    int n_pipelines;
    /* Where each option was last set, for messages (index: table row):
     * > 0 a line of origin_file, -1 a --set override, 0 the default. */
    int origin_line[CFG_MAX_OPTIONS];
    int endpoint_line[CFG_MAX_ENDPOINTS]; /* the same for each endpoint */
    char origin_file[CFG_STR_MAX];
} cfg_config;

/* Names of enum options, index = stored value (for the pipeline). */
extern const char *const cfg_mix_names[4];
extern const char *const cfg_fill_names[4];
extern const char *const cfg_crop_mode_names[4];
extern const char *const cfg_erase_fill_names[4];

/* Fill every field with its default from the table. */
void cfg_defaults(cfg_config *cfg);

/* Read an INI file over @cfg. A repeated `endpoint` key appends; the
 * first `endpoint` line of a file replaces the default list.
 * Return 0 or MIXUP_ECONFIG (MIXUP_EIO for a file that cannot be read)
 * with @err naming file:line, key and what was expected. */
int cfg_load_file(cfg_config *cfg, const char *path, char *err, size_t errlen);

/* Apply one "section.key=value" override (as --set gives it); blanks
 * around key and value are ignored. `endpoint` behaves as in a file: the
 * first one given replaces the default list, later ones append. @err
 * names the key and value but not the assignment (the caller has it).
 * Return 0, MIXUP_ECONFIG or MIXUP_ENOMEM; on error @cfg is unchanged. */
int cfg_set(cfg_config *cfg, const char *assignment, char *err, size_t errlen);

/* Call once before the command line's cfg_set()s: an endpoint given there
 * replaces the file's list instead of adding to it. */
void cfg_overrides_begin(cfg_config *cfg);

/* Checks across options (e.g. images set, ring_slots >= prefetch, at
 * least one endpoint). Return 0 or MIXUP_ECONFIG with @err. */
int cfg_validate(const cfg_config *cfg, char *err, size_t errlen);

/* Before applying a reloaded @next over the running @cur: return 0 when
 * only options marked runtime differ, else MIXUP_ECONFIG with @err naming
 * the first restart-only option that changed (old and new value). */
int cfg_check_reload(const cfg_config *cur, const cfg_config *next, char *err,
                     size_t errlen);

/* Reload: copy into @cur what @next changes among the options that may
 * change at run time; keep the running value of every other changed
 * option. @note is called once per changed option with applied = 1 or 0
 * and a message naming it ("server.workers: 2 -> 4 needs a restart ...").
 * Return the number of changes that need a restart. */
int cfg_reload(cfg_config *cur, const cfg_config *next,
               void (*note)(void *ctx, int applied, const char *msg),
               void *ctx);

/* The effective configuration of pipeline @i (0 .. n_pipelines - 1):
 * @main's values with the pipeline's own settings applied over them
 * (out->n_pipelines is 0). Return 0 or MIXUP_ECONFIG with @err naming the
 * pipeline and the key. */
int cfg_pipeline_resolve(const cfg_config *main, int i, cfg_config *out,
                         char *err, size_t errlen);

/* Index of pipeline @name (1-based: 0 is main, -1 unknown). */
int cfg_pipeline_find(const cfg_config *cfg, const char *name);

/* Whether two configurations load the same dataset files ([dataset]). */
int cfg_same_dataset(const cfg_config *a, const cfg_config *b);
/* Where section.key got its value, for messages: "FILE:LINE", "--set"
 * or "default". Returns @buf. */
const char *cfg_where(const cfg_config *cfg, const char *section,
                      const char *key, char *buf, size_t n);

/* cfg_where() for endpoint @i. */
const char *cfg_endpoint_where(const cfg_config *cfg, int i, char *buf,
                               size_t n);

/* Append to @msg where every option it names ("batch.size") was set:
 * " (batch.size: FILE:LINE)". For checks made outside this module. */
void cfg_annotate(const cfg_config *cfg, char *msg, size_t cap);

/* Print every option with its type, default, bounds and help. */
void cfg_print_help(FILE *out);

/* Print the effective configuration as an INI file that loads back. */
void cfg_print(const cfg_config *cfg, FILE *out);

/* Names of log levels, index = level. */
extern const char *const cfg_log_level_names[4];

#endif
