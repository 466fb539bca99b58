/*
 * dataset_image_scan.c — which files an image dataset holds, and their
 * labels (dataset_image_scan.h): the folder walk in ImageFolder's order
 * and the `path label` list (dsi_parse_list()).
 */
#include "dataset_image_scan.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_image.h"
#include "mixup_errors.h"

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

void dsi_scan_free(scan *s)
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

int dsi_scan_folder(scan *s, const char *dir, char *err, size_t errlen)
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

/* ------------------------------------------------------------- files */

int dsi_read_fd(int fd, uint8_t *dst, uint64_t size)
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
    if (!*buf || dsi_read_fd(fd, (uint8_t *)*buf, *len) < 0) {
        snprintf(err, errlen, "%s: cannot read %zu bytes", path, *len);
        free(*buf);
        close(fd);
        return *buf ? MIXUP_EIO : MIXUP_ENOMEM;
    }
    close(fd);
    return 0;
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

int dsi_scan_list(scan *s, const ds_source *src, char *err, size_t errlen)
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
