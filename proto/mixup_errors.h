/*
 * mixup_errors.h — the MIXUP_E* error codes, shared by the wire protocol
 * (error replies carry them), the daemon and the client library. Included
 * by mixup.h; other layers include this alone, as zstd's zstd_errors.h.
 */
#ifndef MIXUP_ERRORS_H
#define MIXUP_ERRORS_H

#include "mixup_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One list generates the codes and their texts. The same codes travel on
 * the wire in error replies, so client and daemon speak of failures alike.
 * Codes never change meaning once released; new ones are appended. */
#define MIXUP_ERRNO_MAP(X)                                                   \
    X(EINVAL, 1, "invalid argument")                                         \
    X(ENOMEM, 2, "out of memory")                                            \
    X(ETIMEDOUT, 3, "timed out waiting for the daemon")                      \
    X(ECONNECT, 4, "cannot use endpoint")                                    \
    X(EPROTO, 5, "malformed message")                                        \
    X(EVERSION, 6, "protocol version mismatch")                              \
    X(ETOOBIG, 7, "message larger than the configured limit")                \
    X(ENOSTREAM, 8, "no such stream")                                        \
    X(ELIMIT, 9, "too many streams")                                         \
    X(EDATASET, 10, "invalid dataset")                                       \
    X(ECONFIG, 11, "invalid configuration")                                  \
    X(EIO, 12, "input/output error")                                         \
    X(ENOSPC, 13, "no space left for shared memory")                         \
    X(EINTR, 14, "interrupted")                                              \
    X(ESTATE, 15, "operation not valid in this state")                       \
    X(EPOSITION, 16, "start position out of range")                          \
    X(EMODE, 17, "stream mode not supported")                                \
    X(EINTERNAL, 18, "internal error")                                       \
    X(ESYS, 19, "system call failed")                                        \
    X(ESTALE, 20, "stale batch reference: the slot was reused")              \
    X(EHELD, 21, "too many batches held: release some")                      \
    X(EAUTH, 22, "not authorised")                                           \
    X(EMISMATCH, 23, "daemons are not interchangeable")                     \
    X(ESEQUENCE, 24, "the stream skipped batches: another client took them")

/** Error codes: always negative when returned. */
typedef enum mixup_errno {
    MIXUP_OK = 0,
#define MIXUP_ERR_ENUM_(name, num, text) MIXUP_##name = -(num),
    MIXUP_ERRNO_MAP(MIXUP_ERR_ENUM_)
#undef MIXUP_ERR_ENUM_
} mixup_errno;

/**
 * mixup_strerror() - describe an error code.
 * @code: a MIXUP_E* value (negative) or 0.
 * Return: a static string; "unknown error" for a code not in the list.
 */
MIXUP_API const char *mixup_strerror(int code);

/**
 * mixup_err_name() - the symbolic name of an error code ("MIXUP_EPROTO").
 * Return: a static string; "MIXUP_UNKNOWN" for a code not in the list.
 */
MIXUP_API const char *mixup_err_name(int code);

#ifdef __cplusplus
}
#endif

#endif /* MIXUP_ERRORS_H */
