/*
 * config.c — the option table, and reading it: defaults, the file, --set
 * and [pipeline] sections. Cross-key checks are in config_check.c, the
 * printed forms in config_print.c, reloading in config_reload.c; all of
 * them go through config_internal.h.
 *
 * Decisions worth knowing (the contract is in config.h):
 * - Defaults are strings parsed by the same code as the file, so a default
 *   can never escape its own bounds; cfg_defaults() aborts if one does.
 * - server.endpoint is the only repeatable key. The first endpoint given
 *   in a file replaces the default list and later ones append; after
 *   cfg_overrides_begin(), the first one given with --set replaces the
 *   file's list in turn. cfg_config.endpoints_given remembers which case
 *   applies.
 * - inih (as Debian builds it) reads lines into a 200-byte buffer and
 *   splits longer lines silently, so our reader rejects them instead, and
 *   string values are capped so that `key = value` fits on one line:
 *   whatever is accepted, cfg_print() can write and the file can load back.
 * - inih also joins an indented line to the previous key (multi-line
 *   values), which would turn it into a silent second value of that key.
 *   Our reader strips leading blanks, so every line stands on its own.
 * - Inline comments start with " ;" (inih); "#" only starts a comment at
 *   the beginning of a line.
 */
#include "config.h"

#include "mixup_errors.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "ipcperm.h"
#include "regfile.h"

const char *const cfg_log_level_names[4] = {"error", "warn", "info", "debug"};
const char *const cfg_shm_delivery_names[2] = {"auto", "off"};
static const char *const format_names[] = {"npy", "idx", "cifar", "folder",
                                           "list", "pack", "tar"};
static const char *const storage_names[] = {"encoded", "decoded", "shm",
                                            "mapped"};
static const char *const shuffle_more[] = {"blocks"};
static const char *const bad_file_names[] = {"error", "skip"};
static const char *const verify_names[] = {"header", "full"};
const char *const cfg_mix_names[4] = {"mixup", "mixup_batch", "cutmix", "none"};
static const char *const pairing_names[] = {"disjoint", "within"};
static const char *const labels_names[] = {"mixed", "pairs"};
static const char *const order_names[] = {"after_mix", "before_mix"};
const char *const cfg_fill_names[4] = {"nearest", "constant", "reflect", "wrap"};
const char *const cfg_crop_mode_names[4] = {"constant", "reflect", "edge",
                                            "symmetric"};
const char *const cfg_erase_fill_names[4] = {"constant", "channel", "uniform",
                                             "normal"};
static const char *const dtype_names[] = {"float32", "float16", "bfloat16"};
static const char *const layout_names[] = {"NHWC", "NCHW"};

static int check_name(const char *v);
static int check_endpoint(const char *v);
static int check_file_mode(const char *v);
static int check_mode(const char *v);
static int check_group(const char *v);

#define FIELD(sec, k, t, f) \
    .section = sec, .key = k, .type = t, .offset = offsetof(cfg_config, f)
#define SIZE(f) .size = sizeof(((cfg_config *)0)->f)
#define FASHION "/usr/share/datasets/fashion-mnist/"
#define PREFETCH_DEFAULT "4"

const cfg_option options[] = {
    {FIELD("server", "endpoint", CFG_STRING_LIST, endpoints), SIZE(endpoints[0]),
     .def = "ipc:///tmp/mixupd.ipc", .check = check_endpoint,
     .expect = "ipc://PATH or tcp://HOST:PORT",
     .help = "Where clients connect; repeat the key for several."},
    {FIELD("server", "name", CFG_STRING, name), SIZE(name), .def = "mixupd",
     .min = 1, .max = 32, .check = check_name,
     .expect = "1 .. 32 characters of A-Z a-z 0-9 _ -",
     .help = "Instance name, used in shared-memory segment names."},
    {FIELD("server", "workers", CFG_UINT32, workers), .def = "2",
     .min = 1, .max = 256, .help = "Worker threads that prepare batches."},
    {FIELD("server", "ring_slots", CFG_UINT32, ring_slots), .def = "16",
     .min = 1, .max = 4096,
     .help = "Batch slots prepared ahead, shared by all streams."},
    {FIELD("server", "prefetch", CFG_UINT32, prefetch), .def = PREFETCH_DEFAULT,
     .min = 1, .max = 1024,
     .help = "Slots one stream may hold ahead of demand; unless given, "
             "the default follows a smaller ring_slots."},
    {FIELD("server", "max_streams", CFG_UINT32, max_streams), .def = "256",
     .min = 1, .max = 65536, .help = "Streams open at the same time."},
    {FIELD("server", "shm_delivery", CFG_ENUM, shm_delivery), .def = "auto",
     .values = cfg_shm_delivery_names, .n_values = 2,
     .help = "auto: clients on this host that can map the ring read batches "
             "in place (zero copy); off: every batch is copied to its "
             "client's socket."},
    {FIELD("server", "shm_mode", CFG_STRING, shm_mode), SIZE(shm_mode),
     .def = "0600", .min = 4, .max = 4, .check = check_file_mode,
     .expect = "an octal mode 0600 or 0640 (group may read)",
     .help = "File mode of the ring's shared memory: 0640 lets trainers of "
             "the daemon's group map it (read-only; never writable)."},
    {FIELD("server", "max_held", CFG_UINT32, max_held), .def = "4",
     .min = 1, .max = 256, /* 256 releases fit a NEXT of max_request */
     .help = "Batches one zero-copy client may hold (read in place) at "
             "once; asking for more is an error (MIXUP_EHELD). Lent slots "
             "of all clients together stay below ring_slots (past that, "
             "batches are copied), so clients never wait on each other."},
    {FIELD("server", "max_copy_bytes", CFG_UINT64, max_copy_bytes),
     .def = "268435456", .min = 1, .max = UINT64_MAX / 2,
     .help = "Bytes of batches copied to sockets and not yet known to have "
             "arrived, all clients together (at least one batch): with the "
             "ring, the bound of the daemon's batch memory."},
    {FIELD("server", "max_connections", CFG_UINT32, max_connections),
     .def = "4096", .min = 1, .max = 1000000,
     .help = "Client connections open at once, all endpoints together; one "
             "more is closed as soon as it is accepted (its client retries). "
             "The descriptor limit lowers it (16 descriptors are kept for "
             "the daemon itself)."},
    {FIELD("server", "listen_backlog", CFG_UINT32, listen_backlog),
     .def = "4096", .min = 1, .max = 65535,
     .help = "Connections the kernel queues for each endpoint before the "
             "daemon accepts them (nanomsg's own is 100: a larger burst of "
             "connects waits a second for TCP's retransmission); capped by "
             "net.core.somaxconn."},
    {FIELD("server", "max_request", CFG_UINT32, max_request), .def = "4096",
     .min = 64, .max = 1048576, .runtime = 1,
     .help = "Largest request accepted, in bytes (header included)."},
    {FIELD("server", "stream_timeout", CFG_UINT32, stream_timeout),
     .def = "300", .min = 1, .max = 86400, .runtime = 1,
     .help = "Seconds an idle stream keeps its state."},
    {FIELD("server", "shared_lease", CFG_UINT32, shared_lease),
     .def = "30", .min = 1, .max = 3600, .runtime = 1,
     .help = "Seconds a shared-mode client has to acknowledge a batch (by "
             "asking for the next) before it goes to another client."},
    {FIELD("server", "log_file", CFG_STRING, log_file), SIZE(log_file),
     .def = "", .min = 0, .runtime = 1,
     .help = "Append log lines to this file (reopened on reload, for "
             "logrotate); empty: standard error, which journald keeps."},
    {FIELD("server", "summary_interval", CFG_UINT32, summary_interval),
     .def = "60", .min = 0, .max = 86400, .runtime = 1,
     .help = "Seconds between summary lines in the log; 0: none."},
    {FIELD("server", "ipc_mode", CFG_STRING, ipc_mode), SIZE(ipc_mode),
     .def = "0660", .min = 3, .check = check_mode,
     .expect = "an octal mode of 3 or 4 digits, at most 0777",
     .help = "Mode of each ipc:// socket file, set after bind whatever the "
             "umask: who may connect (write permission is needed)."},
    {FIELD("server", "ipc_group", CFG_STRING, ipc_group), SIZE(ipc_group),
     .def = "", .min = 0, .check = check_group,
     .expect = "a group name or number",
     .help = "Group of each ipc:// socket file (the daemon must be a member); "
             "empty: the daemon's own group."},
    {FIELD("server", "auth_token_file", CFG_STRING, auth_token_file),
     SIZE(auth_token_file), .def = "", .min = 0,
     .help = "File holding the daemon's secret (64 hex digits, mode 0600 "
             "or stricter): every request must carry it. Empty: none."},
    {FIELD("server", "allow_unauthenticated_tcp", CFG_BOOL,
           allow_unauthenticated_tcp), .def = "false",
     .help = "Serve a tcp endpoint on an address other than loopback "
             "without server.auth_token_file (refused otherwise)."},
    {FIELD("server", "log_level", CFG_ENUM, log_level), .def = "info",
     .values = cfg_log_level_names, .n_values = 4, .runtime = 1,
     .help = "Least severe message logged."},
    {FIELD("dataset", "format", CFG_ENUM, format), SIZE(format), .def = "idx",
     .values = format_names, .n_values = 7,
     .help = "File format of the dataset: npy, idx, cifar; folder (one "
             "subfolder of JPEG/PNG files per class, as ImageFolder), "
             "list (a file of 'path label' lines), pack (a file written "
             "by mixupd --pack) or tar (WebDataset shards: images is a "
             "list or glob of .tar files holding KEY.jpg|png and KEY.cls)."},
    {FIELD("dataset", "images", CFG_STRING, images), SIZE(images),
     .def = FASHION "train-images-idx3-ubyte.gz",
     .help = "Image file (or the CIFAR batch files, the tar shards, the "
             "pack file)."},
    {FIELD("dataset", "labels", CFG_STRING, labels), SIZE(labels),
     .def = FASHION "train-labels-idx1-ubyte.gz",
     .help = "Label file (unused for cifar)."},
    {FIELD("dataset", "classes", CFG_UINT32, classes), .def = "0",
     .min = 0, .max = 65536,
     .help = "Number of classes K; 0 infers it from the labels."},
    {FIELD("dataset", "root", CFG_STRING, root), SIZE(root), .def = "",
     .min = 0,
     .help = "format = list: folder the paths are relative to; empty: the "
             "list file's folder."},
    {FIELD("dataset", "storage", CFG_ENUM, storage), .def = "encoded",
     .values = storage_names, .n_values = 4,
     .help = "folder, list: encoded keeps the files' bytes in memory and "
             "decodes per batch; decoded decodes once at load (small "
             "images). pack: shm copies the pack into shared memory (as "
             "encoded does, the default), mapped serves the file in place "
             "through the page cache (shared by every daemon on the host, "
             "evictable: datasets larger than memory)."},
    {FIELD("dataset", "channels", CFG_UINT32, channels), .def = "3",
     .min = 1, .max = 3,
     .help = "folder, list: 3 (RGB; gray replicated) or 1 (gray; colour "
             "converted with ITU-R 601 weights); alpha is dropped."},
    {FIELD("dataset", "height", CFG_UINT32, ds_height), .def = "0",
     .min = 0, .max = 65535,
     .help = "storage = decoded: resize every image to height x width; 0: "
             "keep the size (all images must then have the same)."},
    {FIELD("dataset", "width", CFG_UINT32, ds_width), .def = "0",
     .min = 0, .max = 65535, .help = "See dataset.height."},
    {FIELD("dataset", "max_pixels", CFG_UINT64, max_pixels),
     .def = "89478485", .min = 1, .max = 1ull << 32,
     .help = "folder, list: an image with more pixels is a bad file."},
    {FIELD("dataset", "max_decode_memory", CFG_UINT64, max_decode_memory),
     .def = "134217728", .min = 1 << 20, .max = 1ull << 40,
     .help = "folder, list: bytes a progressive JPEG may need to decode "
             "(its whole coefficient buffer, 2 bytes per sample of every "
             "component, whatever the file's size); a file needing more is "
             "a bad file."},
    {FIELD("dataset", "on_bad_file", CFG_ENUM, on_bad_file), .def = "error",
     .values = bad_file_names, .n_values = 2,
     .help = "folder, list: a corrupt, truncated or oversized file is an "
             "error at load (error) or left out and counted (skip)."},
    {FIELD("dataset", "verify", CFG_ENUM, verify), .def = "header",
     .values = verify_names, .n_values = 2,
     .help = "folder, list: what is checked of each file at load: its "
             "header (magic, dimensions, a decoder that accepts it) or the "
             "whole file, decoded once (full: slower, for --check)."},
    {FIELD("batch", "size", CFG_UINT32, batch_size), .def = "32",
     .min = 1, .max = 65536, .help = "Samples per batch (B)."},
    {FIELD("batch", "alpha", CFG_DOUBLE, alpha), .def = "0.2",
     .dmin = 0, .dmax = 1000,
     .help = "Mixup draws lambda ~ Beta(alpha, alpha); 0 disables mixing "
             "(lambda = 1)."},
    {FIELD("batch", "seed", CFG_UINT64, seed), .def = "0",
     .min = 0, .max = UINT64_MAX,
     .help = "Seed for clients that do not give one."},
    {FIELD("batch", "shuffle", CFG_BOOL, shuffle), .def = "true",
     .values = shuffle_more, .n_values = 1,
     .help = "Permute the dataset at every epoch; blocks: a permutation "
             "whose working set is bounded (blocks of shuffle_block "
             "consecutive samples in shuffled order, samples shuffled "
             "within each run of shuffle_window blocks), for mapped packs "
             "larger than memory."},
    {FIELD("batch", "shuffle_block", CFG_UINT32, shuffle_block), .def = "256",
     .min = 1, .max = 1u << 24,
     .help = "shuffle = blocks: consecutive samples per block."},
    {FIELD("batch", "shuffle_window", CFG_UINT32, shuffle_window),
     .def = "16", .min = 1, .max = 1u << 20,
     .help = "shuffle = blocks: blocks whose samples are shuffled together "
             "(the working set is shuffle_block x shuffle_window samples)."},
    {FIELD("batch", "drop_last", CFG_BOOL, drop_last), .def = "true",
     .help = "Drop the samples that do not fill a last batch; false serves "
             "it with its real size, so that an epoch covers every sample "
             "once (evaluation; needs mix = none or pairing = within)."},
    {FIELD("batch", "mix", CFG_ENUM, mix), .def = "mixup",
     .values = cfg_mix_names, .n_values = 4,
     .help = "mixup: lambda per sample (the seed); mixup_batch: one lambda "
             "per batch; cutmix: paste a box of the partner; none: no mixing."},
    {FIELD("batch", "pairing", CFG_ENUM, pairing), .def = "disjoint",
     .values = pairing_names, .n_values = 2,
     .help = "disjoint: 2B samples, j with B+j (the seed); within: B "
             "samples, j with B-1-j (timm)."},
    {FIELD("batch", "cutmix_alpha", CFG_DOUBLE, cutmix_alpha), .def = "0",
     .dmin = 0, .dmax = 1000,
     .help = "CutMix lambda ~ Beta(cutmix_alpha); with alpha > 0 too, "
             "CutMix is used with probability switch_prob."},
    {FIELD("batch", "switch_prob", CFG_DOUBLE, switch_prob), .def = "0.5",
     .dmin = 0, .dmax = 1, .help = "Probability of CutMix over mixup."},
    {FIELD("batch", "mix_prob", CFG_DOUBLE, mix_prob), .def = "1",
     .dmin = 0, .dmax = 1,
     .help = "Probability that a sample (mixup_batch: a batch) is mixed."},
    {FIELD("batch", "label_smoothing", CFG_DOUBLE, label_smoothing),
     .def = "0", .dmin = 0, .dmax = 0.999,
     .help = "Targets (1 - eps) * onehot + eps / K before mixing."},
    {FIELD("batch", "labels", CFG_ENUM, label_mode), .def = "mixed",
     .values = labels_names, .n_values = 2,
     .help = "mixed: one soft row per sample; pairs: the two class indices "
             "and lambda (for lam*CE(y1) + (1-lam)*CE(y2))."},
    {FIELD("augment", "order", CFG_ENUM, aug_order), .def = "after_mix",
     .values = order_names, .n_values = 2,
     .help = "after_mix: augment each mixed sample (the seed); before_mix: "
             "augment each source, then mix."},
    {FIELD("augment", "flip_horizontal", CFG_DOUBLE, flip_horizontal),
     .def = "0", .dmin = 0, .dmax = 1,
     .help = "Probability of a left-right flip."},
    {FIELD("augment", "flip_vertical", CFG_DOUBLE, flip_vertical),
     .def = "0", .dmin = 0, .dmax = 1,
     .help = "Probability of an up-down flip."},
    {FIELD("augment", "width_shift_range", CFG_DOUBLE, width_shift_range),
     .def = "0", .dmin = 0, .dmax = 65536,
     .help = "Keras shift: a fraction of the width (< 1) or pixels (>= 1), "
             "uniform in [-r, r]."},
    {FIELD("augment", "height_shift_range", CFG_DOUBLE, height_shift_range),
     .def = "0", .dmin = 0, .dmax = 65536,
     .help = "The same for the height."},
    {FIELD("augment", "fill_mode", CFG_ENUM, fill_mode), .def = "nearest",
     .values = cfg_fill_names, .n_values = 4,
     .help = "Points outside a shifted image, as Keras: nearest, constant "
             "(cval), reflect (abcddcba|abcd|dcbaabcd), wrap."},
    {FIELD("augment", "cval", CFG_DOUBLE, cval), .def = "0",
     .dmin = -1e9, .dmax = 1e9, .help = "Fill value of fill_mode = constant."},
    {FIELD("augment", "crop_padding", CFG_UINT32, crop_padding), .def = "0",
     .min = 0, .max = 1024,
     .help = "Pad-and-random-crop: pad p, crop back at an offset in "
             "{0..2p}^2 (CIFAR: 4); 0 is off."},
    {FIELD("augment", "crop_mode", CFG_ENUM, crop_mode), .def = "constant",
     .values = cfg_crop_mode_names, .n_values = 4,
     .help = "Padding as torchvision: constant (crop_value), reflect "
             "(dcb|abcd|cba), edge, symmetric (dcba|abcd|dcba)."},
    {FIELD("augment", "crop_value", CFG_DOUBLE, crop_value), .def = "0",
     .dmin = -1e9, .dmax = 1e9, .help = "Padding value of crop_mode = constant."},
    {FIELD("augment", "erase_prob", CFG_DOUBLE, erase_prob), .def = "0",
     .dmin = 0, .dmax = 1,
     .help = "Random erasing (Zhong et al.): probability p; 0 is off "
             "(the paper: 0.5)."},
    {FIELD("augment", "erase_area_min", CFG_DOUBLE, erase_area_min),
     .def = "0.02", .dmin = 0, .dmax = 1, .help = "s_l: least area fraction."},
    {FIELD("augment", "erase_area_max", CFG_DOUBLE, erase_area_max),
     .def = "0.4", .dmin = 0, .dmax = 1, .help = "s_h: largest area fraction."},
    {FIELD("augment", "erase_ratio", CFG_DOUBLE, erase_ratio), .def = "0.3",
     .dmin = 0.001, .dmax = 1,
     .help = "r_1: aspect ratio uniform in [r_1, 1/r_1]."},
    {FIELD("augment", "erase_fill", CFG_ENUM, erase_fill), .def = "constant",
     .values = cfg_erase_fill_names, .n_values = 4,
     .help = "constant (erase_value), channel (a random value per channel), "
             "uniform or normal (per-pixel noise)."},
    {FIELD("augment", "erase_value", CFG_DOUBLE, erase_value), .def = "0",
     .dmin = -1e9, .dmax = 1e9, .help = "Fill of erase_fill = constant."},
    {FIELD("augment", "normalize_mean", CFG_STRING, normalize_mean),
     SIZE(normalize_mean), .def = "", .min = 0,
     .help = "Per-channel mean, comma-separated (applied last); empty: off."},
    {FIELD("augment", "normalize_std", CFG_STRING, normalize_std),
     SIZE(normalize_std), .def = "", .min = 0,
     .help = "Per-channel standard deviation, comma-separated."},
    {FIELD("augment", "random_resized_crop", CFG_STRING, rrc_scale),
     SIZE(rrc_scale), .def = "", .min = 0,
     .help = "Encoded images: 'scale_min, scale_max' turns on torchvision's "
             "RandomResizedCrop to output.height x output.width; empty: off."},
    {FIELD("augment", "rrc_ratio", CFG_STRING, rrc_ratio), SIZE(rrc_ratio),
     .def = "0.75, 1.3333333333333333", .min = 3,
     .help = "Aspect ratio range of random_resized_crop."},
    {FIELD("augment", "resize", CFG_UINT32, resize), .def = "0",
     .min = 0, .max = 65535,
     .help = "Encoded images without random_resized_crop: resize the "
             "shorter side to this (torchvision Resize(int)); 0: resize to "
             "the output size."},
    {FIELD("augment", "center_crop", CFG_BOOL, center_crop), .def = "false",
     .help = "After resize, take the central output.height x output.width."},
    {FIELD("augment", "dct_scaling", CFG_BOOL, dct_scaling), .def = "true",
     .help = "JPEG: decode at 1/2, 1/4 or 1/8 size when the crop is shrunk "
             "by at least that factor."},
    {FIELD("output", "dtype", CFG_ENUM, out_dtype), .def = "float32",
     .values = dtype_names, .n_values = 3,
     .help = "float32, float16 or bfloat16 (round to nearest even)."},
    {FIELD("output", "layout", CFG_ENUM, out_layout), .def = "NHWC",
     .values = layout_names, .n_values = 2, .help = "NHWC or NCHW."},
    {FIELD("output", "scale", CFG_DOUBLE, out_scale), .def = "0",
     .dmin = 0, .dmax = 1e9,
     .help = "Multiplies source pixels; 0: 1/255 for uint8 data, 1 for "
             "float32."},
    {FIELD("output", "height", CFG_UINT32, out_height), .def = "0",
     .min = 0, .max = 65535,
     .help = "Encoded images: the height of every sample (needed)."},
    {FIELD("output", "width", CFG_UINT32, out_width), .def = "0",
     .min = 0, .max = 65535,
     .help = "Encoded images: the width of every sample (needed)."},
};

const size_t n_options = sizeof options / sizeof options[0];
_Static_assert(sizeof options / sizeof options[0] <= CFG_MAX_OPTIONS,
               "raise CFG_MAX_OPTIONS");

/* inih's line buffer: "key = value\n" and the NUL must fit in it. */
#define LINE_MAX_CHARS (INI_MAX_LINE - 2)

/* ------------------------------------------------------------- helpers */

void *field_of(const cfg_option *o, const cfg_config *cfg)
{
    return (char *)cfg + o->offset;
}

/* Longest string value accepted: the field, the option's own bound, and
 * one INI line (so cfg_print output always loads back). */
static size_t str_max(const cfg_option *o)
{
    size_t max = o->size - 1;
    size_t line = LINE_MAX_CHARS - strlen(o->key) - 3;
    if (line < max)
        max = line;
    if (o->max && o->max < max)
        max = (size_t)o->max;
    return max;
}

void fmt(char *buf, size_t n, const char *f, ...)
{
    if (!buf || !n)
        return;
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, n, f, ap);
    va_end(ap);
}

/* A value as messages show it: '' when empty, control bytes escaped,
 * shortened when long. */
const char *shown(const char *v, char buf[64])
{
    size_t len = strlen(v);
    if (len == 0)
        return "''";
    char all[256];
    rf_escape(v, len < 64 ? len : 64, all, sizeof all);
    size_t alen = strlen(all);
    if (len < 64 && alen < 64) {
        memcpy(buf, all, alen + 1);
    } else {
        alen = alen < 48 ? alen : 48;
        memcpy(buf, all, alen);
        memcpy(buf + alen, "...", 4);
    }
    return buf;
}

/* What a value must look like, for messages and --help. */
void range_text(const cfg_option *o, char *buf, size_t n)
{
    switch (o->type) {
    case CFG_UINT32:
    case CFG_UINT64:
        fmt(buf, n, "%llu .. %llu", (unsigned long long)o->min,
            (unsigned long long)o->max);
        break;
    case CFG_DOUBLE: fmt(buf, n, "%g .. %g", o->dmin, o->dmax); break;
    case CFG_BOOL:
        fmt(buf, n, "true/false, yes/no, on/off, 1/0%s%s",
            o->n_values ? " | " : "", o->n_values ? o->values[0] : "");
        break;
    case CFG_ENUM: {
        size_t used = 0;
        buf[0] = 0;
        for (int i = 0; i < o->n_values && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, "%s%s",
                                     i ? " | " : "", o->values[i]);
        break;
    }
    case CFG_STRING:
    case CFG_STRING_LIST:
        if (o->expect)
            fmt(buf, n, "%s", o->expect);
        else
            fmt(buf, n, "at most %zu characters", str_max(o));
        break;
    }
}

const char *type_name(cfg_type t)
{
    static const char *const names[] = {"uint32", "uint64", "double", "bool",
                                        "string", "enum", "string list"};
    return names[t];
}

const cfg_option *find_option(const char *section, const char *key)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (!strcmp(options[i].section, section) &&
            !strcmp(options[i].key, key))
            return &options[i];
    return NULL;
}

static int section_known(const char *section)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (!strcmp(options[i].section, section))
            return 1;
    return 0;
}

/* ------------------------------------------------------------- checks */

static int check_name(const char *v)
{
    return strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789_-") == strlen(v);
}

static int check_file_mode(const char *v)
{
    return !strcmp(v, "0600") || !strcmp(v, "0640");
}

static int check_mode(const char *v)
{
    mode_t m;
    return ipc_parse_mode(v, &m) == 0;
}

static int check_group(const char *v)
{
    return strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789_-.") == strlen(v);
}

static int check_endpoint(const char *v)
{
    return (!strncmp(v, "ipc://", 6) || !strncmp(v, "tcp://", 6)) && v[6];
}

/* ------------------------------------------------------------- parsers
 * Each parser writes the field or explains in @why (no location: the
 * caller knows whether the value came from a file line or --set). */

static int parse_uint(const cfg_option *o, const char *v, uint64_t *out,
                      char *why, size_t n)
{
    char range[64], sb[64];
    range_text(o, range, sizeof range);
    if (v[0] == '-' && v[1] >= '0' && v[1] <= '9') {
        fmt(why, n, "%s.%s = %s is negative (expected %s)", o->section,
            o->key, shown(v, sb), range);
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end) {
        fmt(why, n, "%s.%s = %s is not an unsigned integer (expected %s)",
            o->section, o->key, shown(v, sb), range);
        return -1;
    }
    if (errno == ERANGE || x < o->min || x > o->max) {
        fmt(why, n, "%s.%s = %s is out of range (%s)", o->section, o->key,
            shown(v, sb), range);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_double(const cfg_option *o, const char *v, double *out,
                        char *why, size_t n)
{
    char range[64], sb[64];
    range_text(o, range, sizeof range);
    char *end;
    double x = strtod(v, &end); /* an underflow to ~0 is a fine alpha */
    if (!*v || *end || !isfinite(x)) {
        fmt(why, n, "%s.%s = %s is not a finite number (expected %s)",
            o->section, o->key, shown(v, sb), range);
        return -1;
    }
    if (x < o->dmin || x > o->dmax) {
        fmt(why, n, "%s.%s = %s is out of range (%s)", o->section, o->key,
            shown(v, sb), range);
        return -1;
    }
    *out = x == 0 ? 0 : x; /* no "-0" in cfg_print */
    return 0;
}

static int parse_bool(const cfg_option *o, const char *v, int *out,
                      char *why, size_t n)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    /* A boolean with more values (batch.shuffle = blocks): 2, 3, ... */
    for (int i = 0; i < o->n_values; i++)
        if (!strcmp(v, o->values[i])) {
            *out = 2 + i;
            return 0;
        }
    for (int i = 0; i < 4; i++) {
        if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
            *out = !strcmp(v, yes[i]);
            return 0;
        }
    }
    char range[64], sb[64];
    range_text(o, range, sizeof range);
    fmt(why, n, "%s.%s = %s is not a boolean (%s)", o->section, o->key,
        shown(v, sb), range);
    return -1;
}

static int parse_enum(const cfg_option *o, const char *v, void *field,
                      char *why, size_t n)
{
    for (int i = 0; i < o->n_values; i++) {
        if (strcmp(v, o->values[i]))
            continue;
        if (o->size)
            snprintf(field, o->size, "%s", v);
        else
            *(int *)field = i;
        return 0;
    }
    char range[128], sb[64];
    range_text(o, range, sizeof range);
    fmt(why, n, "%s.%s = %s is not one of %s", o->section, o->key,
        shown(v, sb), range);
    return -1;
}

/* A character that cfg_print could not write back: controls, and the
 * blank-semicolon that inih takes for an inline comment. */
static int printable_ini(const char *v)
{
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
        if ((*p == ' ' || *p == '\t') && p[1] == ';')
            return 0;
    }
    return 1;
}

static int parse_string(const cfg_option *o, const char *v, char *field,
                        char *why, size_t n)
{
    char range[64], sb[64];
    range_text(o, range, sizeof range);
    size_t len = strlen(v), max = str_max(o);
    if (len > max) {
        fmt(why, n, "%s.%s = %s is too long (%zu characters, at most %zu)",
            o->section, o->key, shown(v, sb), len, max);
        return -1;
    }
    if (!printable_ini(v)) {
        fmt(why, n, "%s.%s = %s contains a control character or ' ;', "
            "which the INI file cannot hold", o->section, o->key, shown(v, sb));
        return -1;
    }
    if (len < o->min || (o->check && !o->check(v))) {
        fmt(why, n, "%s.%s = %s is not %s", o->section, o->key, shown(v, sb),
            range);
        return -1;
    }
    memcpy(field, v, len + 1);
    return 0;
}

/* The first endpoint given replaces the default list; later ones append.
 * A rejected value leaves the list as it was. */
static int parse_list(const cfg_option *o, const char *v, cfg_config *cfg,
                      char *why, size_t n)
{
    int at = cfg->endpoints_given ? cfg->n_endpoints : 0;
    if (at >= CFG_MAX_ENDPOINTS) {
        char sb[64];
        fmt(why, n, "%s.%s = %s: too many endpoints (at most %d)", o->section,
            o->key, shown(v, sb), CFG_MAX_ENDPOINTS);
        return -1;
    }
    char *slot = (char *)field_of(o, cfg) + o->size * (size_t)at;
    if (parse_string(o, v, slot, why, n) < 0)
        return -1;
    cfg->n_endpoints = at + 1;
    cfg->endpoints_given = 1;
    return 0;
}

static int parse_value(const cfg_option *o, const char *v, cfg_config *cfg,
                       char *why, size_t n)
{
    void *f = field_of(o, cfg);
    uint64_t u;
    switch (o->type) {
    case CFG_UINT32:
        if (parse_uint(o, v, &u, why, n) < 0)
            return -1;
        *(uint32_t *)f = (uint32_t)u;
        return 0;
    case CFG_UINT64:
        if (parse_uint(o, v, &u, why, n) < 0)
            return -1;
        *(uint64_t *)f = u;
        return 0;
    case CFG_DOUBLE: return parse_double(o, v, f, why, n);
    case CFG_BOOL: return parse_bool(o, v, f, why, n);
    case CFG_ENUM: return parse_enum(o, v, f, why, n);
    case CFG_STRING: return parse_string(o, v, f, why, n);
    case CFG_STRING_LIST: return parse_list(o, v, cfg, why, n);
    }
    return -1;
}

/* Defaults that depend on another option: `ring_slots = 2` alone is a
 * valid setting, so prefetch's default follows a smaller ring_slots until
 * prefetch itself is given (then cfg_validate() checks the pair). */
static void follow_defaults(cfg_config *cfg, const cfg_option *o)
{
    uint32_t def = (uint32_t)strtoul(PREFETCH_DEFAULT, NULL, 10);
    if (o->offset == offsetof(cfg_config, prefetch))
        cfg->prefetch_given = 1;
    else if (o->offset == offsetof(cfg_config, ring_slots) &&
             !cfg->prefetch_given)
        cfg->prefetch = cfg->ring_slots < def ? cfg->ring_slots : def;
}

/* Look the key up and apply the value; shared by the file and --set. */
static int apply(cfg_config *cfg, const char *section, const char *key,
                 const char *value, char *why, size_t n)
{
    const cfg_option *o = find_option(section, key);
    if (o) {
        int rc = parse_value(o, value, cfg, why, n);
        if (rc == 0)
            follow_defaults(cfg, o);
        return rc;
    }
    char sb[64], kb[64];
    section = shown(section, sb); /* only when unknown: '' stays "" */
    key = shown(key, kb);
    if (!*section || strcmp(section, "''") == 0)
        fmt(why, n, "key %s is outside any [section]", key);
    else if (!section_known(section))
        fmt(why, n, "unknown section [%s] (key %s.%s)", section, section, key);
    else
        fmt(why, n, "unknown key %s.%s", section, key);
    return -1;
}


/* ------------------------------------------------------------- pipelines */

static const char *const pipeline_sections[] = {"dataset", "batch", "augment",
                                                "output"};

static int pipeline_name_ok(const char *v, size_t len)
{
    if (len < 1 || len > CFG_PIPELINE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789_-", v[i]))
            return 0;
    return 1;
}

static cfg_pipeline *pipeline_get(cfg_config *cfg, const char *name,
                                  char *why, size_t n)
{
    if (!pipeline_name_ok(name, strlen(name))) {
        fmt(why, n, "pipeline name '%s' is not 1 .. %d characters of "
            "A-Z a-z 0-9 _ -", name, CFG_PIPELINE_NAME_MAX);
        return NULL;
    }
    if (!strcmp(name, "main")) {
        fmt(why, n, "pipeline 'main' is the [dataset], [batch], [augment] "
            "and [output] sections; [pipeline NAME] declares another one");
        return NULL;
    }
    int i = cfg_pipeline_find(cfg, name);
    if (i > 0)
        return &cfg->pipelines[i - 1];
    if (cfg->n_pipelines == CFG_MAX_PIPELINES) {
        fmt(why, n, "pipeline '%s': too many pipelines (at most %d besides "
            "main)", name, CFG_MAX_PIPELINES);
        return NULL;
    }
    cfg_pipeline *p = &cfg->pipelines[cfg->n_pipelines++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    return p;
}

/* Check "section.key" = value as pipeline @p would apply it (on the
 * defaults, so that a bad key or value is reported where it is written),
 * then remember it. */
static int pipeline_add(cfg_pipeline *p, const char *skey, const char *value,
                        char *why, size_t n)
{
    const char *dot = strchr(skey, '.');
    char section[16];
    size_t slen = dot ? (size_t)(dot - skey) : 0;
    int allowed = 0;
    if (dot && slen < sizeof section) {
        memcpy(section, skey, slen);
        section[slen] = 0;
        for (size_t i = 0; i < 4; i++)
            allowed |= !strcmp(section, pipeline_sections[i]);
    }
    if (!allowed) {
        if (dot && slen < sizeof section && section_known(section))
            fmt(why, n, "pipeline '%s': %s applies to the whole daemon; a "
                "pipeline sets dataset.*, batch.*, augment.* or output.*",
                p->name, skey);
        else
            fmt(why, n, "pipeline '%s': key %s is not section.key with a "
                "section of dataset, batch, augment, output", p->name, skey);
        return -1;
    }
    cfg_config *scratch = malloc(sizeof *scratch);
    if (!scratch) {
        fmt(why, n, "out of memory");
        return -1;
    }
    cfg_defaults(scratch);
    char inner[512];
    int rc = apply(scratch, section, dot + 1, value, inner, sizeof inner);
    free(scratch);
    if (rc < 0) {
        fmt(why, n, "pipeline '%s': %s", p->name, inner);
        return -1;
    }
    size_t need = strlen(skey) + strlen(value) + 2;
    if (p->sets_len + need >= sizeof p->sets) {
        fmt(why, n, "pipeline '%s': its settings exceed %d bytes", p->name,
            CFG_PIPELINE_SETS);
        return -1;
    }
    p->sets_len += (size_t)snprintf(p->sets + p->sets_len,
                                    sizeof p->sets - p->sets_len, "%s=%s\n",
                                    skey, value);
    return 0;
}

/* A key of section "pipeline NAME" in a file. */
static int apply_pipeline_section(cfg_config *cfg, const char *section,
                                  const char *key, const char *value,
                                  char *why, size_t n)
{
    const char *name = section + strlen("pipeline");
    name += strspn(name, " \t");
    cfg_pipeline *p = pipeline_get(cfg, name, why, n);
    return p ? pipeline_add(p, key, value, why, n) : -1;
}

int cfg_pipeline_find(const cfg_config *cfg, const char *name)
{
    if (!strcmp(name, "main"))
        return 0;
    for (int i = 0; i < cfg->n_pipelines; i++)
        if (!strcmp(cfg->pipelines[i].name, name))
            return i + 1;
    return -1;
}

int cfg_pipeline_resolve(const cfg_config *main, int i, cfg_config *out,
                         char *err, size_t errlen)
{
    const cfg_pipeline *p = &main->pipelines[i];
    *out = *main;
    out->n_pipelines = 0;
    char line[CFG_PIPELINE_SETS];
    const char *at = p->sets;
    while (*at) {
        const char *end = strchr(at, '\n');
        size_t len = (size_t)(end - at);
        memcpy(line, at, len);
        line[len] = 0;
        at = end + 1;
        char *eq = strchr(line, '='), *dot = strchr(line, '.');
        *eq = 0;
        *dot = 0;
        char why[512];
        if (apply(out, line, dot + 1, eq + 1, why, sizeof why) < 0) {
            fmt(err, errlen, "pipeline '%s': %s", p->name, why);
            return MIXUP_ECONFIG;
        }
    }
    return 0;
}

int cfg_same_dataset(const cfg_config *a, const cfg_config *b)
{
    return !strcmp(a->format, b->format) && !strcmp(a->images, b->images) &&
           !strcmp(a->labels, b->labels) && a->classes == b->classes &&
           !strcmp(a->root, b->root) && a->storage == b->storage &&
           a->channels == b->channels && a->ds_height == b->ds_height &&
           a->ds_width == b->ds_width && a->max_pixels == b->max_pixels &&
           a->max_decode_memory == b->max_decode_memory &&
           a->on_bad_file == b->on_bad_file && a->verify == b->verify;
}

/* ------------------------------------------------------------- defaults */

void cfg_defaults(cfg_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char why[256];
        if (parse_value(&options[i], options[i].def, cfg, why, sizeof why)) {
            /* A table bug, caught by the first test run. */
            fprintf(stderr, "config.c: bad default: %s\n", why);
            abort();
        }
    }
    cfg->endpoints_given = 0;
    cfg->prefetch_given = 0;
}

/* ------------------------------------------------------------- file */

typedef struct load_state {
    cfg_config *cfg;
    FILE *f;
    int line;     /* lines handed to inih so far = inih's line number */
    int err_line; /* line of the first error we found, 0 if none */
    int seen[CFG_MAX_OPTIONS]; /* line that set each option, 0 if none */
    char why[512];
} load_state;

static void note_error(load_state *st, const char *why)
{
    if (st->err_line)
        return;
    st->err_line = st->line;
    snprintf(st->why, sizeof st->why, "%s", why);
}

/* Skip the rest of an over-long line; return 1 if there was any. */
static int skip_rest(FILE *f)
{
    int c = getc(f), more = 0;
    while (c != EOF && c != '\n') {
        more = 1;
        c = getc(f);
    }
    return more;
}

/* fgets for inih that counts lines, refuses over-long ones (inih would
 * split them) and strips leading blanks (see the top of the file). */
static char *read_line(char *str, int num, void *stream)
{
    load_state *st = stream;
    if (!fgets(str, num, st->f))
        return NULL;
    st->line++;
    size_t len = strlen(str);
    if (len == (size_t)num - 1 && str[len - 1] != '\n' && skip_rest(st->f)) {
        char why[96];
        snprintf(why, sizeof why, "line is longer than %d characters",
                 num - 1);
        note_error(st, why);
        str[0] = 0;
    }
    size_t blanks = strspn(str, " \t");
    memmove(str, str + blanks, strlen(str + blanks) + 1);
    return str;
}

/* A key given twice in one section is a mistake (which one was meant?),
 * except the repeatable endpoint. */
static int on_pair(void *user, const char *section, const char *key,
                   const char *value)
{
    load_state *st = user;
    char why[512];
    if (strncmp(section, "pipeline", 8) == 0 &&
        (section[8] == ' ' || section[8] == '\t' || !section[8])) {
        if (apply_pipeline_section(st->cfg, section, key, value, why,
                                   sizeof why) == 0)
            return 1;
        note_error(st, why);
        return 0;
    }
    const cfg_option *o = find_option(section, key);
    size_t row = o ? (size_t)(o - options) : 0;
    if (o && o->type != CFG_STRING_LIST && st->seen[row]) {
        snprintf(why, sizeof why, "%s.%s is given twice (lines %d and %d)",
                 o->section, o->key, st->seen[row], st->line);
        note_error(st, why);
        return 0;
    }
    if (apply(st->cfg, section, key, value, why, sizeof why) == 0) {
        if (o)
            st->cfg->origin_line[row] = st->seen[row] = st->line;
        if (o && o->type == CFG_STRING_LIST)
            st->cfg->endpoint_line[st->cfg->n_endpoints - 1] = st->line;
        return 1;
    }
    note_error(st, why);
    return 0;
}

/* fopen for reading a regular file only (see regfile.h). */
static int open_regular(const char *path, FILE **out, char *err, size_t errlen)
{
    uint64_t size;
    int fd = rf_open(path, &size, err, errlen);
    if (fd < 0)
        return -1;
    *out = fdopen(fd, "r");
    if (!*out) {
        fmt(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
}

int cfg_load_file(cfg_config *cfg, const char *path, char *err, size_t errlen)
{
    load_state st = {.cfg = cfg};
    if (open_regular(path, &st.f, err, errlen) < 0)
        return MIXUP_EIO;
    snprintf(cfg->origin_file, sizeof cfg->origin_file, "%s", path);
    int rc = ini_parse_stream(read_line, &st, on_pair, &st);
    int io_failed = ferror(st.f);
    fclose(st.f);
    if (io_failed) {
        fmt(err, errlen, "%s: read error", path);
        return MIXUP_EIO;
    }
    if (rc > 0 && (!st.err_line || rc < st.err_line)) {
        /* inih's own complaint: neither [section] nor key = value. */
        fmt(err, errlen, "%s:%d: syntax error (expected [section], "
            "key = value or a comment)", path, rc);
        return MIXUP_ECONFIG;
    }
    if (st.err_line) {
        fmt(err, errlen, "%s:%d: %s", path, st.err_line, st.why);
        return MIXUP_ECONFIG;
    }
    if (rc < 0) {
        fmt(err, errlen, "%s: inih failed (%d)", path, rc);
        return MIXUP_EIO;
    }
    return 0;
}

/* ------------------------------------------------------------- --set */

static char *trim(char *s)
{
    s += strspn(s, " \t");
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = 0;
    return s;
}

void cfg_overrides_begin(cfg_config *cfg)
{
    cfg->endpoints_given = 0;
}

int cfg_set(cfg_config *cfg, const char *assignment, char *err, size_t errlen)
{
    char *copy = strdup(assignment);
    if (!copy) {
        fmt(err, errlen, "out of memory");
        return MIXUP_ENOMEM;
    }
    int rc = MIXUP_ECONFIG;
    char *eq = strchr(copy, '=');
    char *dot = eq ? memchr(copy, '.', (size_t)(eq - copy)) : NULL;
    if (!dot) {
        fmt(err, errlen, "expected section.key=value");
    } else {
        *eq = 0;
        *dot = 0;
        char *section = trim(copy), *key = trim(dot + 1), *value = trim(eq + 1);
        if (!strcmp(section, "pipeline")) {
            /* pipeline.NAME.section.key=value */
            char *kdot = strchr(key, '.');
            cfg_pipeline *p = NULL;
            if (!kdot)
                fmt(err, errlen, "expected pipeline.NAME.section.key=value");
            else if ((*kdot = 0, p = pipeline_get(cfg, key, err, errlen)) &&
                     pipeline_add(p, kdot + 1, value, err, errlen) == 0)
                rc = 0;
        } else if (apply(cfg, section, key, value, err, errlen) == 0) {
            const cfg_option *o = find_option(section, key);
            cfg->origin_line[o - options] = -1;
            if (o->type == CFG_STRING_LIST)
                cfg->endpoint_line[cfg->n_endpoints - 1] = -1;
            rc = 0;
        }
    }
    free(copy);
    return rc;
}
