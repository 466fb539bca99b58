/*
 * mixupctl.h — what mixupctl.c (options, help, the small commands) shares
 * with the commands in files of their own (cmd_bench.c, cmd_preview.c).
 */
#ifndef CTL_MIXUPCTL_H
#define CTL_MIXUPCTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mixup.h"

#define MAX_ENDPOINTS 16
#define DEFAULT_TIMEOUT_MS MIXUP_DEFAULT_TIMEOUT_MS /* libmixup's and Python's */
#define PING_TIMEOUT_MS 2000 /* unless --timeout says otherwise */
#define PREVIEW_MAX_BATCHES 64
#define CTL_STR_(x) #x
#define CTL_STR(x) CTL_STR_(x)

typedef struct ctl {
    const char *endpoints[MAX_ENDPOINTS];
    size_t n_endpoints;
    int timeout_ms;
    int timeout_given; /* --timeout was on the command line */
    mixup_stream_options stream;
    mixup_transport transport;
    int spread;        /* --spread: stripe the stream over the endpoints */
    const char *token_file; /* NULL: $MIXUPD_TOKEN_FILE (libmixup) */
    mixup_client *client;
} ctl;

/* The value of the option at argv[*i] for command @cmd, or NULL after
 * saying that it is missing. */
const char *opt_value(const char *cmd, int argc, char **argv, int *i);
/* A decimal without sign; 0, or -1 when @s is not one. */
int parse_u64(const char *s, uint64_t *out);
/* Say what failed (the client's message, or @rc's), and return 1. */
int fail(ctl *c, int rc, const char *what);
/* The client options the global options give. */
void client_options(const ctl *c, mixup_client_options *o);
/* Connect, and open the stream when @open_stream. 0, or 1 after fail(). */
int connect_and_open(ctl *c, int open_stream);
/* Connect and ask for the chosen pipeline's INFO. 0, or 1 after fail(). */
int connect_and_info(ctl *c, mixup_info *info);

/* The commands that have a file of their own; exit status as main's. */
int cmd_bench(ctl *c, int argc, char **argv);
int cmd_preview(ctl *c, int argc, char **argv);

#endif
