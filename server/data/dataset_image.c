/*
 * dataset_image.c — format = folder | list: JPEG and PNG files.
 *
 * folder: ImageFolder's layout. Every subfolder of `images` is a class;
 * classes are sorted by name (byte order, as Python sorts str for UTF-8
 * names) and numbered from 0. The files directly in a class folder whose
 * names end in .jpg, .jpeg or .png (any case) are its samples, sorted by
 * name; other files and nested folders are skipped and counted in the log.
 * A class folder without images is an error (as torchvision's).
 * list: `path label` lines (dsi_parse_list()), in the file's order.
 *
 * Storage:
 *   encoded — one segment [labels int32 [n] | ds_file [n] | packed bytes]:
 *     everything in it is an offset from its start, so the same layout can
 *     later be a file on disk mapped read-only (page cache shared between
 *     daemons) instead of /dev/shm, whose size is today's limit.
 *   decoded — every image decoded once and stored as uint8 [n, h, w, c]
 *     like the array formats; resized (antialiased bilinear, resize.h) to
 *     dataset.height x width when given, else all must share one size.
 *
 * Every file's header is checked at load (img_probe(): magic bytes, the
 * decoder's header parse, a complete stream, size <= max_pixels and
 * sides <= 65535): a bad file is an error naming it, or with skip_bad it
 * is left out, counted, and the first names logged.
 */
#include "dataset.h"
#include "dataset_image.h"
#include "dataset_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"
#include "log.h"
#include "mixup_errors.h"
#include "resize.h"

#define ALIGN64(n) (((n) + 63) & ~(uint64_t)63)
#define BAD_NAMES_LOGGED 10

/* ------------------------------------------------------------- entries */

typedef struct entry {
    size_t path;     /* offset in the names buffer */
    int32_t label;
    uint64_t size;   /* bytes of the file */
    img_info info;
    int bad;
} entry;

typedef struct scan {
    entry *e;
    size_t n, cap;
    char *names;     /* paths, NUL-terminated */
    size_t names_len, names_cap;
    char *classes;   /* class names, NUL-terminated, in index order */
    size_t classes_len;
    uint32_t n_classes;
    uint64_t skipped; /* not images (folder), bad files */
} scan;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int add_name(scan *s, const char *a, size_t alen, const char *b,
                    size_t blen, size_t *off)
{
    size_t need = s->names_len + alen + 1 + blen + 1;
    if (grow((void **)&s->names, &s->names_cap, need, 1) < 0)
        return MIXUP_ENOMEM;
    *off = s->names_len;
    char *d = s->names + s->names_len;
    memcpy(d, a, alen);
    if (blen) {
        d[alen] = '/';
        memcpy(d + alen + 1, b, blen);
        d[alen + 1 + blen] = 0;
        s->names_len += alen + 1 + blen + 1;
    } else {
        d[alen] = 0;
        s->names_len += alen + 1;
    }
    return 0;
}

static int add_entry(scan *s, size_t path, int32_t label)
{
    if (grow((void **)&s->e, &s->cap, s->n + 1, sizeof *s->e) < 0)
        return MIXUP_ENOMEM;
    s->e[s->n++] = (entry){.path = path, .label = label};
    return 0;
}

static void scan_free(scan *s)
{
    free(s->e);
    free(s->names);
    free(s->classes);
    memset(s, 0, sizeof *s);
}

int dsi_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name && (strcasecmp(dot, ".jpg") == 0 ||
                                  strcasecmp(dot, ".jpeg") == 0 ||
                                  strcasecmp(dot, ".png") == 0);
}

/* ------------------------------------------------------------- folder */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* The entries of @dir that are folders (@want_dirs) or not, sorted. */
static int list_dir(const char *dir, int want_dirs, name_list *out,
                    uint64_t *others, char *err, size_t errlen)
{
    *out = (name_list){0};
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the folder: %s", dir,
                 strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? MIXUP_EDATASET : MIXUP_EIO;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        if (is_dir != want_dirs) {
            (*others)++;
            continue;
        }
        if (grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v) < 0 ||
            !(out->v[out->n] = strdup(de->d_name)))
            rc = MIXUP_ENOMEM;
        else
            out->n++;
    }
    closedir(d);
    if (rc < 0) {
        names_free(out);
        snprintf(err, errlen, "out of memory listing %s", dir);
        return rc;
    }
    if (out->n > 1) /* qsort(NULL, 0) is undefined */
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return 0;
}

/* Append @root and every folder below it (symbolic links followed, as
 * torchvision does; a depth bound stops link loops) to @all. */
static int collect_dirs(const char *root, name_list *all, int depth,
                        char *err, size_t errlen)
{
    if (depth > 32) {
        snprintf(err, errlen, "%s: folders nested more than 32 deep (a "
                 "symbolic link loop?)", root);
        return MIXUP_EDATASET;
    }
    if (grow((void **)&all->v, &all->cap, all->n + 1, sizeof *all->v) < 0 ||
        !(all->v[all->n] = strdup(root)))
        return MIXUP_ENOMEM;
    all->n++;
    name_list sub;
    uint64_t files = 0;
    int rc = list_dir(root, 1, &sub, &files, err, errlen);
    for (size_t i = 0; i < sub.n && rc == 0; i++) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/%s", root, sub.v[i]);
        if (len < 0 || (size_t)len >= sizeof path) {
            snprintf(err, errlen, "%s/%s: path too long", root, sub.v[i]);
            rc = MIXUP_EDATASET;
        } else {
            rc = collect_dirs(path, all, depth + 1, err, errlen);
        }
    }
    names_free(&sub);
    return rc;
}

/* A class's samples in torchvision ImageFolder's order: every folder
 * below the class folder (itself included), sorted by path, and in each
 * its image files sorted by name (`sorted(os.walk(...))`). */
static int scan_class(scan *s, const char *dir, const char *cls,
                      int32_t label, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, cls);
    name_list dirs = {0};
    int rc = collect_dirs(path, &dirs, 0, err, errlen);
    if (rc == 0 && dirs.n > 1)
        qsort(dirs.v, dirs.n, sizeof *dirs.v, cmp_str);
    size_t before = s->n;
    uint64_t other = 0;
    for (size_t d = 0; d < dirs.n && rc == 0; d++) {
        name_list files;
        uint64_t subdirs = 0; /* walked above */
        rc = list_dir(dirs.v[d], 0, &files, &subdirs, err, errlen);
        for (size_t i = 0; i < files.n && rc == 0; i++) {
            size_t off;
            if (!dsi_image_name(files.v[i])) {
                other++;
                continue;
            }
            rc = add_name(s, dirs.v[d], strlen(dirs.v[d]), files.v[i],
                          strlen(files.v[i]), &off);
            if (rc == 0)
                rc = add_entry(s, off, label);
        }
        names_free(&files); /* zeroed by list_dir() when it failed */
    }
    names_free(&dirs);
    s->skipped += other;
    if (rc == 0 && s->n == before) {
        snprintf(err, errlen, "%s: class folder '%s' has no .jpg, .jpeg or "
                 ".png file", path, cls);
        return MIXUP_EDATASET;
    }
    if (rc < 0 && !*err)
        snprintf(err, errlen, "out of memory scanning %s", path);
    return rc;
}

static int scan_folder(scan *s, const char *dir, char *err, size_t errlen)
{
    name_list cls;
    uint64_t files_at_top = 0;
    int rc = list_dir(dir, 1, &cls, &files_at_top, err, errlen);
    if (rc < 0)
        return rc;
    if (cls.n == 0) {
        snprintf(err, errlen, "%s: no class folders (expected one subfolder "
                 "of images per class)", dir);
        names_free(&cls);
        return MIXUP_EDATASET;
    }
    if (cls.n > DS_MAX_CLASSES) {
        snprintf(err, errlen, "%s: %zu class folders, at most %u", dir, cls.n,
                 DS_MAX_CLASSES);
        names_free(&cls);
        return MIXUP_EDATASET;
    }
    s->skipped += files_at_top;
    size_t total = 0;
    for (size_t i = 0; i < cls.n; i++)
        total += strlen(cls.v[i]) + 1;
    s->classes = malloc(total);
    rc = s->classes ? 0 : MIXUP_ENOMEM;
    for (size_t i = 0; i < cls.n && rc == 0; i++) {
        size_t l = strlen(cls.v[i]) + 1;
        memcpy(s->classes + s->classes_len, cls.v[i], l);
        s->classes_len += l;
        rc = scan_class(s, dir, cls.v[i], (int32_t)i, err, errlen);
    }
    s->n_classes = (uint32_t)cls.n;
    names_free(&cls);
    if (rc == MIXUP_ENOMEM && !*err)
        snprintf(err, errlen, "out of memory scanning %s", dir);
    return rc;
}

/* ------------------------------------------------------------- list */

int dsi_parse_list(const char *text, size_t len, const char *name,
                   dsi_entry_fn fn, void *ctx, char *err, size_t errlen)
{
    size_t pos = 0;
    unsigned line = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' ||
                         text[b - 1] == '\r'))
            b--;
        if (a == b || text[a] == '#')
            continue;
        if (memchr(text + a, 0, b - a) || memchr(text + a, '\r', b - a)) {
            snprintf(err, errlen, "%s:%u: a NUL or carriage return inside "
                     "the line", name, line);
            return MIXUP_EDATASET;
        }
        size_t l = b; /* the label: the last word */
        while (l > a && text[l - 1] != ' ' && text[l - 1] != '\t')
            l--;
        size_t pe = l;
        while (pe > a && (text[pe - 1] == ' ' || text[pe - 1] == '\t'))
            pe--;
        if (pe == a) {
            snprintf(err, errlen, "%s:%u: expected 'path label', found one "
                     "word", name, line);
            return MIXUP_EDATASET;
        }
        int64_t v = 0;
        size_t i = l;
        for (; i < b && isdigit((unsigned char)text[i]) && v <= INT32_MAX; i++)
            v = v * 10 + (text[i] - '0');
        if (i != b || v > INT32_MAX) {
            snprintf(err, errlen, "%s:%u: label '%.*s', expected an integer "
                     ">= 0", name, line, (int)(b - l > 32 ? 32 : b - l),
                     text + l);
            return MIXUP_EDATASET;
        }
        int rc = fn(ctx, text + a, pe - a, (int32_t)v, line);
        if (rc < 0)
            return rc;
    }
    return 0;
}

typedef struct list_ctx {
    scan *s;
    const char *root;
} list_ctx;

static int list_add(void *ctx, const char *path, size_t plen, int32_t label,
                    unsigned line)
{
    list_ctx *c = ctx;
    size_t off;
    (void)line;
    int rc = path[0] == '/' ? add_name(c->s, path, plen, "", 0, &off)
                            : add_name(c->s, c->root, strlen(c->root), path,
                                       plen, &off);
    return rc < 0 ? rc : add_entry(c->s, off, label);
}

static int read_whole(const char *path, char **buf, size_t *len, char *err,
                      size_t errlen);

static int scan_list(scan *s, const ds_source *src, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = read_whole(src->images, &text, &len, err, errlen);
    if (rc < 0)
        return rc;
    char root[4096];
    if (src->root && *src->root) {
        snprintf(root, sizeof root, "%s", src->root);
    } else {
        const char *slash = strrchr(src->images, '/');
        snprintf(root, sizeof root, "%.*s",
                 slash ? (int)(slash - src->images) : 1,
                 slash ? src->images : ".");
        if (slash == src->images)
            snprintf(root, sizeof root, "/");
    }
    list_ctx c = {s, root};
    rc = dsi_parse_list(text, len, src->images, list_add, &c, err, errlen);
    free(text);
    if (rc == MIXUP_ENOMEM)
        snprintf(err, errlen, "out of memory reading %s", src->images);
    if (rc == 0 && s->n == 0) {
        snprintf(err, errlen, "%s: no entries (expected 'path label' lines)",
                 src->images);
        rc = MIXUP_EDATASET;
    }
    return rc;
}

/* ------------------------------------------------------------- files */

static int read_fd(int fd, uint8_t *dst, uint64_t size)
{
    uint64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, dst + got, size - got > (1u << 30)
                                            ? (1u << 30) : size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (uint64_t)r;
    }
    return 0;
}

static int read_whole(const char *path, char **buf, size_t *len, char *err,
                      size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return MIXUP_EDATASET;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len + 1);
    if (!*buf || read_fd(fd, (uint8_t *)*buf, *len) < 0) {
        snprintf(err, errlen, "%s: cannot read %zu bytes", path, *len);
        free(*buf);
        close(fd);
        return *buf ? MIXUP_EIO : MIXUP_ENOMEM;
    }
    close(fd);
    return 0;
}

typedef struct bad_log {
    const ds_source *src;
    uint64_t count;
} bad_log;

/* A bad file: the error, or (skip_bad) counted and maybe logged. */
static int bad_file(bad_log *b, entry *e, const char *path, const char *why,
                    char *err, size_t errlen)
{
    if (!b->src->skip_bad) {
        snprintf(err, errlen, "%s: %s", path, why);
        return MIXUP_EDATASET;
    }
    e->bad = 1;
    if (b->count++ < BAD_NAMES_LOGGED)
        log_warn("dataset: skipping %s: %s", path, why);
    return 0;
}

/* Size and readability of every file (before the segment is sized). */
static int stat_files(scan *s, bad_log *b, uint64_t *total, char *err,
                      size_t errlen)
{
    *total = 0;
    for (size_t i = 0; i < s->n; i++) {
        entry *e = &s->e[i];
        const char *path = s->names + e->path;
        struct stat st;
        int rc = 0;
        if (stat(path, &st) < 0)
            rc = bad_file(b, e, path, strerror(errno), err, errlen);
        else if (!S_ISREG(st.st_mode))
            rc = bad_file(b, e, path, "not a regular file", err, errlen);
        else if (access(path, R_OK) < 0)
            rc = bad_file(b, e, path, strerror(errno), err, errlen);
        else if (st.st_size == 0)
            rc = bad_file(b, e, path, "empty file (0 bytes)", err, errlen);
        else if ((uint64_t)st.st_size > UINT32_MAX)
            rc = bad_file(b, e, path, "larger than 4 GiB", err, errlen);
        if (rc < 0)
            return rc;
        e->size = e->bad ? 0 : (uint64_t)st.st_size;
        *total += e->size;
    }
    return 0;
}

/* verify = full: the whole file decodes (header checks do not see a
 * stream cut inside the data, or corrupt entropy-coded segments). */
typedef struct verify_buf {
    uint8_t *p;
    size_t cap;
} verify_buf;

/* Read file @e into @dst and check its header (and with @vb, decode it
 * once). Return 0; 1 with @why when the file is bad; MIXUP_ENOMEM. Touches
 * nothing shared but @e and @dst: loading threads call it in parallel. */
static int probe_one(const ds_source *src, const scan *s, entry *e,
                     uint8_t *dst, verify_buf *vb, char *why, size_t whylen)
{
    const char *path = s->names + e->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return 1;
    }
    int r = read_fd(fd, dst, e->size);
    close(fd);
    if (r < 0) {
        snprintf(why, whylen, "cannot read it (changed while loading?)");
        return 1;
    }
    if (img_probe(dst, e->size, &e->info, why, whylen) < 0)
        return 1;
    uint64_t px = (uint64_t)e->info.h * e->info.w;
    if (px > src->max_pixels || e->info.h > 65535 || e->info.w > 65535) {
        snprintf(why, whylen, "%ux%u pixels, more than dataset.max_pixels "
                 "= %llu or a side over 65535", e->info.w, e->info.h,
                 (unsigned long long)src->max_pixels);
        return 1;
    }
    if (!vb)
        return 0;
    size_t need = img_decode_bytes(&e->info);
    if (need > vb->cap) {
        uint8_t *p = realloc(vb->p, need);
        if (!p)
            return MIXUP_ENOMEM;
        vb->p = p;
        vb->cap = need;
    }
    int rc = img_decode(dst, e->size, &e->info, 1, src->channels, vb->p, why,
                        whylen);
    if (rc < 0)
        return 1;
    /* A JPEG warning is damage the decoder papered over ("corrupt JPEG
     * data", "premature end"); libpng's warnings are about ancillary
     * chunks (colour profiles and the like), not the pixels. */
    if (rc > 0 && e->info.kind == IMG_JPEG) {
        snprintf(why, whylen, "the image data is damaged (the JPEG decoder "
                 "warned)");
        return 1;
    }
    return 0;
}

/* Read file @e into @dst and check its header; a bad file as bad_file(). */
static int read_check(const ds_source *src, bad_log *b, scan *s, entry *e,
                      uint8_t *dst, char *err, size_t errlen)
{
    char why[256];
    int rc = probe_one(src, s, e, dst, NULL, why, sizeof why);
    if (rc == 1)
        return bad_file(b, e, s->names + e->path, why, err, errlen);
    if (rc < 0)
        snprintf(err, errlen, "out of memory reading %s", s->names + e->path);
    return rc;
}

/* ------------------------------------------------------------- stores */

static int check_labels(const scan *s, const ds_source *src, uint32_t *classes,
                        char *err, size_t errlen)
{
    uint32_t bound = src->classes ? src->classes : s->n_classes;
    int32_t max = -1;
    for (size_t i = 0; i < s->n; i++) {
        const entry *e = &s->e[i];
        if (e->bad)
            continue;
        if (bound && (uint32_t)e->label >= bound) {
            snprintf(err, errlen, "%s: label %d, expected 0 <= label < %u",
                     s->names + e->path, e->label, bound);
            return MIXUP_EDATASET;
        }
        max = e->label > max ? e->label : max;
    }
    if (!bound && (uint32_t)max >= DS_MAX_CLASSES) {
        snprintf(err, errlen, "%s: largest label %d, at most %u classes",
                 src->images, max, DS_MAX_CLASSES);
        return MIXUP_EDATASET;
    }
    *classes = bound ? bound : (uint32_t)max + 1;
    return 0;
}

/* The heap side of the dataset: names, paths of the kept files. */
static int keep_names(ds_dataset *ds, scan *s)
{
    ds->class_names = s->classes;
    ds->n_class_names = s->n_classes;
    s->classes = NULL;
    ds->paths = s->names;
    s->names = NULL;
    return 0;
}

/* Files read and checked by several threads at once (each into its own
 * place in the segment); what they found is then judged in file order,
 * so messages and skips are those of a reading in order. */
typedef struct load_job {
    const ds_source *src;
    const scan *s;
    uint8_t *packed;
    const uint64_t *off; /* where each file goes */
    char **why;          /* per file: NULL, or why it is bad (heap) */
    atomic_size_t next, done;
    atomic_int enomem;
} load_job;

static void *load_thread(void *arg)
{
    load_job *j = arg;
    verify_buf vb = {0};
    char why[256];
    while (!ds_stop_requested) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->s->n)
            break;
        entry *e = &j->s->e[i];
        int rc = e->bad ? 0
                        : probe_one(j->src, j->s, e, j->packed + j->off[i],
                                    j->src->verify_full ? &vb : NULL, why,
                                    sizeof why);
        if (rc == 1 && !(j->why[i] = strdup(why)))
            rc = MIXUP_ENOMEM;
        if (rc < 0)
            atomic_store(&j->enomem, 1);
        atomic_fetch_add(&j->done, 1);
    }
    free(vb.p);
    return NULL;
}

/* Run the loading threads; on a terminal, a progress line meanwhile. */
static int read_parallel(load_job *j, uint32_t threads)
{
    pthread_t t[16];
    uint32_t n = threads < 1 ? 1 : threads > 16 ? 16 : threads, started = 0;
    for (; started < n; started++)
        if (pthread_create(&t[started], NULL, load_thread, j) != 0)
            break;
    if (started == 0)
        load_thread(j); /* no thread to be had: this one reads */
    int tty = isatty(2);
    const struct timespec tick = {0, 100 * 1000 * 1000};
    while (started && tty && !ds_stop_requested &&
           atomic_load(&j->done) < j->s->n) {
        fprintf(stderr, "\rloading images: %zu / %zu files",
                atomic_load(&j->done), j->s->n);
        nanosleep(&tick, NULL);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    if (tty && started)
        fprintf(stderr, "\rloading images: %zu / %zu files\n",
                atomic_load(&j->done), j->s->n);
    return atomic_load(&j->enomem) ? MIXUP_ENOMEM : 0;
}

static int load_encoded(ds_dataset *ds, scan *s, const ds_source *src,
                        const char *instance, bad_log *b, uint64_t bytes,
                        char *err, size_t errlen)
{
    uint64_t lab = ALIGN64((uint64_t)s->n * 4);
    uint64_t idx = ALIGN64((uint64_t)s->n * sizeof(ds_file));
    uint64_t total = lab + idx + bytes;
    int rc = shm_segment_create(&ds->seg, instance,
                                src->segment ? src->segment : "dataset",
                                (size_t)(total ? total : 1), err, errlen);
    if (rc < 0)
        return rc;
    uint8_t *base = ds->seg.addr;
    int32_t *labels = (int32_t *)(void *)base;
    ds_file *files = (ds_file *)(void *)(base + lab);
    uint8_t *packed = base + lab + idx;
    uint64_t *off = calloc(s->n ? s->n : 1, sizeof *off);
    char **why = calloc(s->n ? s->n : 1, sizeof *why);
    if (!off || !why) {
        free(off);
        free(why);
        snprintf(err, errlen, "out of memory loading %s", src->images);
        return MIXUP_ENOMEM;
    }
    for (size_t i = 0, at = 0; i < s->n; i++) {
        off[i] = at;
        at += s->e[i].bad ? 0 : s->e[i].size;
    }
    load_job j = {.src = src, .s = s, .packed = packed, .off = off,
                  .why = why};
    rc = read_parallel(&j, src->load_threads);
    if (rc < 0)
        snprintf(err, errlen, "out of memory loading %s", src->images);
    if (rc == 0)
        rc = ds_check_stop(src->images, err, errlen);
    /* In file order: the bad ones judged, the good ones packed (moved down
     * over the room of files found bad). */
    uint64_t at = 0, n = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        entry *e = &s->e[i];
        if (!e->bad && why[i])
            rc = bad_file(b, e, s->names + e->path, why[i], err, errlen);
        if (rc < 0 || e->bad)
            continue;
        if (at != off[i])
            memmove(packed + at, packed + off[i], e->size);
        files[n] = (ds_file){.offset = at, .length = (uint32_t)e->size,
                             .path = (uint32_t)e->path,
                             .h = (uint16_t)e->info.h,
                             .w = (uint16_t)e->info.w,
                             .kind = (uint8_t)e->info.kind,
                             .cmyk = e->info.cmyk, .adobe = e->info.adobe};
        labels[n++] = e->label;
        at += e->size;
        ds->max_h = e->info.h > ds->max_h ? e->info.h : ds->max_h;
        ds->max_w = e->info.w > ds->max_w ? e->info.w : ds->max_w;
    }
    for (size_t i = 0; i < s->n; i++)
        free(why[i]);
    free(why);
    free(off);
    if (rc < 0)
        return rc;
    ds->n = n;
    ds->encoded = 1;
    ds->c = src->channels;
    ds->dtype = DS_U8;
    ds->labels = labels;
    ds->files = files;
    ds->packed = packed;
    ds->bytes = total;
    return 0;
}

/* Decode @e (read again from its file) into @dst as h x w x c. */
static int decode_into(const ds_source *src, bad_log *b, scan *s, entry *e,
                       uint8_t *file, uint8_t *pix, float *work,
                       uint8_t *dst, uint32_t h, uint32_t w, char *err,
                       size_t errlen)
{
    int rc = read_check(src, b, s, e, file, err, errlen);
    if (rc < 0 || e->bad)
        return rc;
    char why[256];
    uint32_t c = src->channels;
    if (img_decode(file, e->size, &e->info, 1, c, pix, why, sizeof why) < 0)
        return bad_file(b, e, s->names + e->path, why, err, errlen);
    size_t n = (size_t)h * w * c;
    if (e->info.h == h && e->info.w == w) {
        memcpy(dst, pix, n);
        return 0;
    }
    rsz_axis ax = {.first = (uint32_t *)(void *)work, .count = NULL};
    rsz_axis ay;
    /* work: [first/count x, first/count y, weights x, weights y, rows]. */
    uint32_t *u = (uint32_t *)(void *)work;
    ax.first = u;
    ax.count = u + w;
    ay.first = u + 2 * w;
    ay.count = u + 2 * w + h;
    float *fw = work + 2 * (w + h);
    ax.w = fw;
    ay.w = fw + rsz_axis_floats(e->info.w, w);
    float *rows = ay.w + rsz_axis_floats(e->info.h, h);
    float *out = rows + (size_t)w * e->info.h * c;
    rsz_axis_init(&ax, e->info.w, 0, e->info.w, w);
    rsz_axis_init(&ay, e->info.h, 0, e->info.h, h);
    rsz_resample_u8(out, pix, (size_t)e->info.w * c, e->info.h, c, &ax, &ay,
                    1.0f, rows);
    for (size_t i = 0; i < n; i++) {
        float v = nearbyintf(out[i]);
        dst[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return 0;
}

static int load_decoded(ds_dataset *ds, scan *s, const ds_source *src,
                        const char *instance, bad_log *b, char *err,
                        size_t errlen)
{
    /* Pass 1: headers, for the sizes. */
    uint64_t big = 0, n = 0;
    uint32_t h = src->height, w = src->width, mh = 0, mw = 0;
    for (size_t i = 0; i < s->n; i++)
        big = s->e[i].size > big ? s->e[i].size : big;
    uint8_t *file = malloc(big ? big : 1);
    if (!file)
        return MIXUP_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        entry *e = &s->e[i];
        if (e->bad || (rc = read_check(src, b, s, e, file, err, errlen)) < 0 ||
            e->bad)
            continue;
        if (!src->height && n && (e->info.h != h || e->info.w != w)) {
            snprintf(err, errlen, "%s: %ux%u, but %s is %ux%u: set "
                     "dataset.height and width to resize them all",
                     s->names + e->path, e->info.w, e->info.h,
                     s->names + s->e[0].path, w, h);
            rc = MIXUP_EDATASET;
        }
        if (!src->height) {
            h = e->info.h;
            w = e->info.w;
        }
        mh = e->info.h > mh ? e->info.h : mh;
        mw = e->info.w > mw ? e->info.w : mw;
        n++;
    }
    uint64_t per = (uint64_t)h * w * src->channels;
    uint64_t img = ALIGN64(per * n), total = img + (uint64_t)n * 4;
    uint8_t *pix = NULL;
    float *work = NULL;
    if (rc == 0 && n) {
        pix = malloc((size_t)mh * mw * 4);
        work = malloc(4 * (2 * ((size_t)w + h) + rsz_axis_floats(mw, w) +
                           rsz_axis_floats(mh, h) +
                           (size_t)w * mh * src->channels + per));
        rc = pix && work ? 0 : MIXUP_ENOMEM;
    }
    if (rc == 0 && n)
        rc = shm_segment_create(&ds->seg, instance,
                                src->segment ? src->segment : "dataset",
                                (size_t)total, err, errlen);
    uint64_t j = 0;
    for (size_t i = 0; i < s->n && rc == 0 && n; i++) {
        entry *e = &s->e[i];
        if (e->bad)
            continue;
        uint8_t *dst = (uint8_t *)ds->seg.addr + j * per;
        rc = decode_into(src, b, s, e, file, pix, work, dst, h, w, err, errlen);
        if (rc == 0 && !e->bad)
            ((int32_t *)(void *)((uint8_t *)ds->seg.addr + img))[j++] = e->label;
    }
    free(file);
    free(pix);
    free(work);
    if (rc == MIXUP_ENOMEM && !*err)
        snprintf(err, errlen, "out of memory decoding %s", src->images);
    if (rc < 0)
        return rc;
    ds->n = j;
    ds->h = h;
    ds->w = w;
    ds->c = src->channels;
    ds->dtype = DS_U8;
    ds->images = ds->seg.addr;
    ds->labels = (int32_t *)(void *)((uint8_t *)ds->seg.addr + img);
    ds->bytes = total;
    return 0;
}

/* The dataset digest of an image dataset: what makes its batches, not
 * where its files lie (the same folder under another root on another
 * node digests the same): shape, storage and class count, the labels,
 * then every file's bytes (encoded) or the decoded pixels. */
uint64_t ds_digest_images(const ds_dataset *ds)
{
    uint64_t head[6] = {ds->n, ds->h, ds->w, ds->c,
                        (uint64_t)ds->encoded << 16 | (uint64_t)ds->dtype,
                        ds->classes};
    dg_state st;
    dg_init(&st);
    dg_update(&st, head, sizeof head);
    dg_update(&st, ds->labels, (size_t)ds->n * sizeof *ds->labels);
    if (ds->encoded) {
        for (uint64_t i = 0; i < ds->n; i++) {
            const ds_file *f = &ds->files[i];
            uint64_t len = f->length;
            dg_update(&st, &len, sizeof len);
            dg_update(&st, ds->packed + f->offset, f->length);
        }
    } else {
        dg_update(&st, ds->images, (size_t)ds->n * ds->h * ds->w * ds->c);
    }
    return dg_final(&st);
}

static void digest_images(ds_dataset *ds)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ds->digest = ds_digest_images(ds);
    ds->digest_images = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ds->digest_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

int ds_load_images(ds_dataset *ds, const ds_source *src, const char *instance,
                   char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    if (err && errlen)
        err[0] = 0;
    if (src->channels != 1 && src->channels != 3) {
        snprintf(err, errlen, "dataset.channels = %u: expected 1 or 3",
                 src->channels);
        return MIXUP_EINVAL;
    }
    if (!src->images || !*src->images) {
        snprintf(err, errlen, "dataset.images: a folder or list file is "
                 "needed");
        return MIXUP_EINVAL;
    }
    scan s = {0};
    bad_log b = {.src = src};
    uint64_t bytes = 0;
    int rc = src->format == DS_FOLDER ? scan_folder(&s, src->images, err, errlen)
                                      : scan_list(&s, src, err, errlen);
    if (rc == 0)
        rc = stat_files(&s, &b, &bytes, err, errlen);
    if (rc == 0)
        rc = check_labels(&s, src, &ds->classes, err, errlen);
    if (rc == 0)
        rc = src->decoded ? load_decoded(ds, &s, src, instance, &b, err, errlen)
                          : load_encoded(ds, &s, src, instance, &b, bytes,
                                         err, errlen);
    if (rc == 0 && ds->n == 0) {
        snprintf(err, errlen, "%s: no readable images (%llu bad files "
                 "skipped)", src->images, (unsigned long long)b.count);
        rc = MIXUP_EDATASET;
    }
    if (rc == 0) {
        digest_images(ds);
        rc = shm_segment_seal(&ds->seg, err, errlen);
        ds->origin = "shared memory";
    }
    if (rc == 0 && ds->encoded) {
        ds->faults = calloc(1, sizeof *ds->faults);
        if (ds->faults)
            ds->faults->logged = calloc(ds->n, 1);
        rc = ds->faults && ds->faults->logged ? 0 : MIXUP_ENOMEM;
    }
    if (rc == 0) {
        keep_names(ds, &s);
        log_info("dataset %s: %llu images (%s), %u classes, %llu bytes, "
                 "%llu other files skipped, %llu bad files skipped",
                 src->images, (unsigned long long)ds->n,
                 src->decoded ? "decoded" : "encoded", ds->classes,
                 (unsigned long long)ds->bytes,
                 (unsigned long long)(s.skipped),
                 (unsigned long long)b.count);
    } else if (rc == MIXUP_ENOMEM && !*err) {
        snprintf(err, errlen, "out of memory loading %s", src->images);
    }
    scan_free(&s);
    if (rc < 0)
        ds_unload(ds);
    return rc;
}

static void json_string(FILE *out, const char *v)
{
    fputc('"', out);
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

void ds_describe_images_json(const ds_dataset *ds, FILE *out)
{
    if (ds->class_names) {
        fputs(", \"class_names\": [", out);
        const char *c = ds->class_names;
        for (uint32_t i = 0; i < ds->n_class_names; i++, c += strlen(c) + 1) {
            fputs(i ? ", " : "", out);
            json_string(out, c);
        }
        fputc(']', out);
    }
    if (ds->encoded)
        fprintf(out, ", \"storage\": \"encoded\", \"decode_errors\": %llu, "
                "\"decode_warnings\": %llu",
                (unsigned long long)__atomic_load_n(&ds->faults->decode_errors,
                                                    __ATOMIC_RELAXED),
                (unsigned long long)__atomic_load_n(
                    &ds->faults->decode_warnings, __ATOMIC_RELAXED));
}

void ds_describe_images_text(const ds_dataset *ds, FILE *out)
{
    if (!ds->encoded && !ds->class_names)
        return;
    if (ds->encoded) {
        uint64_t jpeg = 0, png = 0, cmyk = 0, bytes = 0;
        uint32_t min_h = UINT32_MAX, min_w = UINT32_MAX, max_h = 0, max_w = 0;
        for (uint64_t i = 0; i < ds->n; i++) {
            const ds_file *f = &ds->files[i];
            jpeg += f->kind == IMG_JPEG;
            png += f->kind == IMG_PNG;
            cmyk += f->cmyk;
            bytes += f->length;
            min_h = f->h < min_h ? f->h : min_h;
            min_w = f->w < min_w ? f->w : min_w;
            max_h = f->h > max_h ? f->h : max_h;
            max_w = f->w > max_w ? f->w : max_w;
        }
        fprintf(out, "  %llu files: %llu JPEG (%llu CMYK), %llu PNG; "
                "%llu bytes packed; sizes %ux%u to %ux%u (h x w)\n",
                (unsigned long long)ds->n, (unsigned long long)jpeg,
                (unsigned long long)cmyk, (unsigned long long)png,
                (unsigned long long)bytes, ds->n ? min_h : 0,
                ds->n ? min_w : 0, max_h, max_w);
    } else {
        fprintf(out, "  %llu images decoded at load, %ux%ux%u\n",
                (unsigned long long)ds->n, ds->h, ds->w, ds->c);
    }
    if (!ds->class_names || !ds->labels)
        return;
    fprintf(out, "  %u classes, samples per class:", ds->n_class_names);
    const char *c = ds->class_names;
    for (uint32_t k = 0; k < ds->n_class_names; k++, c += strlen(c) + 1) {
        if (k == 20) {
            fprintf(out, " ... (%u more)", ds->n_class_names - 20);
            break;
        }
        uint64_t count = 0;
        for (uint64_t i = 0; i < ds->n; i++)
            count += ds->labels[i] == (int32_t)k;
        fprintf(out, "%s %s %llu", k ? "," : "", c,
                (unsigned long long)count);
    }
    fputc('\n', out);
}
