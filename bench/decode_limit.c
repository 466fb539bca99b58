/*
 * decode_limit — the bare decoder limit for bench/images.py: every file of
 * a folder (recursively: .jpg/.jpeg with libjpeg-turbo's tjDecompress2 to
 * RGB at scale 1, .png with libpng's simplified API to RGB), decoded whole,
 * nothing else, on T threads, over and over for at least S seconds.
 * Files are read into memory first. Prints the images decoded, the CPU
 * time per image (thread CPU clocks: meaningful on a loaded machine) and
 * images/s (wall clock, all threads).
 *
 *     decode_limit DIR THREADS [SECONDS]
 */
#include <dirent.h>
#include <png.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <turbojpeg.h>

typedef struct file {
    unsigned char *buf;
    unsigned long len;
    int png;
} file;

static file *files;
static size_t n_files, cap_files;
static double seconds = 3.0;
static int n_threads;

static void add(const char *path, int png)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    fclose(f);
    if (n_files == cap_files) {
        cap_files = cap_files ? 2 * cap_files : 256;
        files = realloc(files, cap_files * sizeof *files);
    }
    files[n_files++] = (file){b, (unsigned long)n, png};
}

static void walk(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        const char *dot = strrchr(e->d_name, '.');
        if (e->d_type == DT_DIR)
            walk(p);
        else if (dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")))
            add(p, 0);
        else if (dot && !strcasecmp(dot, ".png"))
            add(p, 1);
    }
    closedir(d);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct result {
    unsigned long images, jpegs, pngs;
    double t, cpu;
} result;

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
    result *r = arg;
    tjhandle tj = tjInitDecompress();
    unsigned char *out = NULL;
    size_t out_cap = 0;
    double t0 = now(), c0 = thread_cpu();
    size_t i = (size_t)r->t; /* the thread's first file */
    r->t = 0;
    while (now() - t0 < seconds) {
        for (int k = 0; k < 16; k++, i = (i + n_threads) % n_files) {
            file *f = &files[i];
            if (!f->png) {
                int w, h, sub, cs;
                if (tjDecompressHeader3(tj, f->buf, f->len, &w, &h, &sub, &cs))
                    exit(2);
                size_t need = (size_t)w * h * 3;
                if (need > out_cap)
                    out = realloc(out, out_cap = need);
                tjDecompress2(tj, f->buf, f->len, out, w, 0, h, TJPF_RGB, 0);
                r->jpegs++;
            } else {
                png_image im = {.version = PNG_IMAGE_VERSION};
                if (!png_image_begin_read_from_memory(&im, f->buf, f->len))
                    exit(3);
                im.format = PNG_FORMAT_RGB;
                size_t need = PNG_IMAGE_SIZE(im);
                if (need > out_cap)
                    out = realloc(out, out_cap = need);
                png_image_finish_read(&im, NULL, out, 0, NULL);
                r->pngs++;
            }
            r->images++;
        }
    }
    r->t = now() - t0;
    r->cpu = thread_cpu() - c0;
    tjDestroy(tj);
    free(out);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: decode_limit DIR THREADS [SECONDS]\n");
        return 1;
    }
    walk(argv[1]);
    n_threads = atoi(argv[2]);
    if (argc > 3)
        seconds = atof(argv[3]);
    if (!n_files || n_threads < 1)
        return 1;
    pthread_t th[64];
    result r[64] = {{0}};
    for (int t = 0; t < n_threads && t < 64; t++) {
        r[t].t = t % n_files;
        pthread_create(&th[t], NULL, run, &r[t]);
    }
    unsigned long images = 0, jpegs = 0, pngs = 0;
    double rate = 0, cpu = 0;
    for (int t = 0; t < n_threads && t < 64; t++) {
        pthread_join(th[t], NULL);
        images += r[t].images;
        jpegs += r[t].jpegs;
        pngs += r[t].pngs;
        rate += r[t].images / r[t].t;
        cpu += r[t].cpu;
    }
    printf("files %zu threads %d images %lu jpegs %lu pngs %lu "
           "cpu_us_per_image %.1f images/s %.1f\n",
           n_files, n_threads, images, jpegs, pngs, cpu / images * 1e6, rate);
    return 0;
}
