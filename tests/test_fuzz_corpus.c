/*
 * test_fuzz_corpus.c — replay the fuzz corpus (tests/fuzz/corpus/) through
 * the fuzz targets' own checks (tests/fuzz/fuzz_check*.c), so every build
 * re-runs what the fuzzers found, without clang or libFuzzer.
 *
 * The corpus is found under $MIXUPD_SOURCE_ROOT (meson sets it), or under
 * the current directory. An empty or missing corpus is a failure.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/fuzz_check.h"
#include "proto.h"

typedef int (*check_fn)(const uint8_t *data, size_t len, char *why,
                        size_t whylen);

/* Read @path whole; *@len gets its size. NULL on failure. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    uint8_t *buf = NULL;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        buf = malloc((size_t)st.st_size + 1); /* + 1: empty files */
        if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)st.st_size;
    }
    fclose(f);
    return buf;
}

/* Run every file of corpus/@sub through @check. Return the number of
 * files replayed; on the first inconsistency or unreadable file, fill
 * @failure and stop. */
static int replay(const char *sub, check_fn check, char *failure, size_t cap)
{
    const char *root = getenv("MIXUPD_SOURCE_ROOT");
    if (!root || !*root)
        root = ".";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", root, sub);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(failure, cap, "cannot open %s (set MIXUPD_SOURCE_ROOT)", dir);
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[sizeof dir + sizeof e->d_name + 1];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *data = slurp(path, &len);
        if (!data) {
            snprintf(failure, cap, "cannot read %s", path);
            break;
        }
        char why[512] = "";
        int rc = check(data, len, why, sizeof why);
        free(data);
        if (rc != 0) {
            snprintf(failure, cap, "corpus/%s/%s (%zu bytes): %s", sub,
                     e->d_name, len, why);
            break;
        }
        n++;
    }
    closedir(d);
    return n;
}

/* Every input of corpus/@dir passes @check, and there is at least one. */
static void replay_all(const char *dir, check_fn check)
{
    char failure[2048] = "";
    int n = replay(dir, check, failure, sizeof failure);
    cr_assert_str_empty(failure, "%s", failure);
    cr_assert_gt(n, 0, "the %s corpus is empty", dir);
}

Test(fuzz_corpus, requests_replay_consistently)
{
    replay_all("request", fz_check_request);
}

Test(fuzz_corpus, replies_replay_consistently)
{
    replay_all("reply", fz_check_reply);
}

Test(fuzz_corpus, ring_headers_replay_consistently)
{
    replay_all("ring", fz_check_ring);
}

Test(fuzz_corpus, npy_headers_replay_consistently)
{
    replay_all("npy", fz_check_npy);
}

Test(fuzz_corpus, image_inputs_replay_consistently)
{
    replay_all("images", fz_check_images);
}

Test(fuzz_corpus, json_texts_replay_consistently)
{
    replay_all("json", fz_check_json);
}

/* Without a corpus at hand: the checks pass well-formed messages and
 * well-reported rejections. */
Test(fuzz_corpus, checks_pass_valid_messages_and_clean_rejections)
{
    uint8_t buf[64];
    char why[512] = "";
    int n = mxp_encode_next_req(buf, sizeof buf, 3, 4, 0, NULL, NULL, 0);
    cr_assert_eq(fz_check_request(buf, (size_t)n, why, sizeof why), 0, "%s",
                 why);
    n = mxp_encode_close_rep(buf, sizeof buf, 3);
    cr_assert_eq(fz_check_reply(buf, (size_t)n, why, sizeof why), 0, "%s", why);
    /* Rejections are consistent too: a short message, a bad version. */
    cr_assert_eq(fz_check_request(buf, 10, why, sizeof why), 0, "%s", why);
    buf[4] = 1;
    cr_assert_eq(fz_check_reply(buf, (size_t)n, why, sizeof why), 0, "%s", why);
}

/* Version 1 messages of the corpus (the seeds of that version, kept as
 * seed-v1-*, and what the fuzzers found then): now refused, each with
 * EVERSION and a text naming both versions. Return how many were seen. */
static int v1_refused(const char *sub, int replies, char *failure, size_t cap)
{
    const char *root = getenv("MIXUPD_SOURCE_ROOT");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s",
             root && *root ? root : ".", sub);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !*failure) {
        char path[sizeof dir + sizeof e->d_name + 1];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *data = e->d_name[0] == '.' ? NULL : slurp(path, &len);
        if (data && len >= MXP_HEADER_SIZE && memcmp(data, "MIXP", 4) == 0 &&
            data[4] == 1 && data[5] == 0) {
            mxp_request req;
            mxp_reply rep;
            char err[256] = "";
            int rc = replies ? mxp_reply_decode(data, len, NULL, &rep, err, sizeof err)
                             : mxp_request_decode(data, len, NULL, &req, err, sizeof err);
            if (rc != MIXUP_EVERSION || !strstr(err, "protocol 1, this build speaks 3"))
                snprintf(failure, cap, "corpus/%s/%s: %d \"%s\"", sub, e->d_name,
                         rc, err);
            n++;
        }
        free(data);
    }
    closedir(d);
    return n;
}

Test(fuzz_corpus, version_1_messages_are_refused_with_eversion)
{
    char failure[2048] = "";
    int n = v1_refused("request", 0, failure, sizeof failure);
    cr_assert_str_empty(failure, "%s", failure);
    cr_assert_gt(n, 30, "%d version-1 requests in the corpus", n);
    n = v1_refused("reply", 1, failure, sizeof failure);
    cr_assert_str_empty(failure, "%s", failure);
    cr_assert_gt(n, 30, "%d version-1 replies in the corpus", n);
}
