/*
 * lend.c — see lend.h.
 */
#include "lend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct cl_ring {
    pthread_mutex_t mu;
    uint32_t refs;          /* the client's and each held batch's */
    const uint8_t *base;    /* PROT_READ mapping */
    size_t size;
    mxp_ring_head head;
    char name[MXP_RING_NAME_MAX];
    cl_batch *held;         /* held batches, a list */
    int retired;            /* some slots replaced by private copies */
    uint32_t n_held;
    uint32_t n_rel;         /* releases queued for the next request */
    uint32_t rel_slot[MXP_RELEASE_MAX], rel_gen[MXP_RELEASE_MAX];
};

int cl_ring_map(cl_ring **out, const mxp_open_rep *rep, char *err,
                size_t errlen)
{
    *out = NULL;
    int fd = shm_open(rep->ring_name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the daemon's ring %s: %s",
                 rep->ring_name, strerror(errno));
        return MIXUP_ECONNECT;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != rep->ring_bytes) {
        snprintf(err, errlen, "ring %s has %lld bytes, the daemon said %llu "
                 "(another host's segment of that name?)", rep->ring_name,
                 (long long)st.st_size, (unsigned long long)rep->ring_bytes);
        close(fd);
        return MIXUP_ECONNECT;
    }
    void *p = mmap(NULL, rep->ring_bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the ring %s: %s", rep->ring_name,
                 strerror(errno));
        return MIXUP_ECONNECT;
    }
    cl_ring *r = calloc(1, sizeof *r);
    mxp_ring_head head;
    int rc = r ? mxp_ring_head_decode(p, rep->ring_bytes, &head, err, errlen)
               : MIXUP_ENOMEM;
    if (rc == 0 && memcmp(head.token, rep->ring_token, MXP_RING_TOKEN) != 0) {
        snprintf(err, errlen, "ring %s is not the daemon's (its token "
                 "differs: another host's segment of that name?)",
                 rep->ring_name);
        rc = MIXUP_EPROTO;
    }
    if (rc < 0) {
        if (rc == MIXUP_ENOMEM)
            snprintf(err, errlen, "out of memory");
        munmap(p, rep->ring_bytes);
        free(r);
        return rc;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->refs = 1;
    r->base = p;
    r->size = rep->ring_bytes;
    r->head = head;
    memcpy(r->name, rep->ring_name, sizeof r->name);
    *out = r;
    return 0;
}

int cl_ring_is(const cl_ring *r, const mxp_open_rep *rep)
{
    return r && !r->retired && strcmp(r->name, rep->ring_name) == 0 &&
           r->size == rep->ring_bytes &&
           memcmp(r->head.token, rep->ring_token, MXP_RING_TOKEN) == 0;
}

void cl_ring_unref(cl_ring *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    uint32_t left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left)
        return;
    munmap((void *)r->base, r->size);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int cl_ring_locate(cl_ring *r, const mxp_batch_ref *ref, const uint8_t **msg,
                   char *err, size_t errlen)
{
    int rc = mxp_batch_ref_check(ref, &r->head, err, errlen);
    if (rc < 0)
        return rc;
    if (mxp_ring_gen_load(r->base, ref->slot) != ref->generation) {
        snprintf(err, errlen, "slot %u of the ring is no longer at "
                 "generation %u", ref->slot, ref->generation);
        return MIXUP_ESTALE;
    }
    *msg = r->base + ref->offset;
    return 0;
}

static void queue_release(cl_ring *r, uint32_t slot, uint32_t generation)
{
    /* At most max_held (<= 256) slots are lent at once, far below the
     * queue's room; a full queue would only leave slots to expire. */
    if (r->n_rel < MXP_RELEASE_MAX) {
        r->rel_slot[r->n_rel] = slot;
        r->rel_gen[r->n_rel] = generation;
        r->n_rel++;
    }
}

void cl_ring_hold(cl_ring *r, cl_batch *b, const mxp_batch_ref *ref)
{
    pthread_mutex_lock(&r->mu);
    r->refs++;
    b->ring = r;
    b->slot = ref->slot;
    b->generation = ref->generation;
    b->detached = 0;
    b->prev = NULL;
    b->next = r->held;
    if (r->held)
        r->held->prev = b;
    r->held = b;
    r->n_held++;
    pthread_mutex_unlock(&r->mu);
}

void cl_ring_give_back(cl_ring *r, uint32_t slot, uint32_t generation)
{
    pthread_mutex_lock(&r->mu);
    queue_release(r, slot, generation);
    pthread_mutex_unlock(&r->mu);
}

static void unlink_held(cl_ring *r, cl_batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        r->held = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->prev = b->next = NULL;
    r->n_held--;
}

void cl_ring_release(cl_batch *b)
{
    cl_ring *r = b->ring;
    pthread_mutex_lock(&r->mu);
    if (!b->detached) {
        unlink_held(r, b);
        queue_release(r, b->slot, b->generation);
    }
    pthread_mutex_unlock(&r->mu);
    cl_ring_unref(r);
}

uint32_t cl_ring_take_releases(cl_ring *r, uint32_t *slots, uint32_t *gens,
                               uint32_t max)
{
    pthread_mutex_lock(&r->mu);
    uint32_t n = r->n_rel < max ? r->n_rel : max;
    memcpy(slots, r->rel_slot, n * sizeof *slots);
    memcpy(gens, r->rel_gen, n * sizeof *gens);
    memmove(r->rel_slot, r->rel_slot + n, (r->n_rel - n) * sizeof *slots);
    memmove(r->rel_gen, r->rel_gen + n, (r->n_rel - n) * sizeof *gens);
    r->n_rel -= n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Point @b's arrays into @copy instead of the slot at @from. */
static void repoint(mixup_batch *b, const uint8_t *from, size_t size,
                    uint8_t *copy)
{
    const void **fields[] = {
        (const void **)&b->x,      (const void **)&b->y,
        (const void **)&b->index1, (const void **)&b->index2,
        (const void **)&b->lam,    (const void **)&b->x_half,
        (const void **)&b->label1, (const void **)&b->label2,
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const uint8_t *p = *fields[i];
        if (p >= from && p < from + size)
            *fields[i] = copy + (p - from);
    }
}

/* Copy @b's bytes into memory of its own and point it there (r->mu held;
 * @b held, or already detached in place). */
static int copy_out(cl_ring *r, cl_batch *b)
{
    const uint8_t *from = r->base + r->head.data_offset +
                          (size_t)b->slot * r->head.slot_size;
    size_t size = b->pub.message_size_;
    uint8_t *copy = aligned_alloc(64, (size + 63) & ~(size_t)63);
    if (!copy)
        return MIXUP_ENOMEM;
    memcpy(copy, from, size);
    /* Copied before the daemon could reuse the slot? The fence keeps the
     * copy's reads before the generation's (a seqlock's reader). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (!b->detached && mxp_ring_gen_load(r->base, b->slot) != b->generation)
        b->generation = 0; /* cl_batch_check() says stale */
    repoint(&b->pub, from, size, copy);
    b->pub.message_ = copy;
    b->own = copy;
    return 0;
}

/* Copy held @b into memory of its own (r->mu held). */
static int detach_one(cl_ring *r, cl_batch *b)
{
    int rc = copy_out(r, b);
    unlink_held(r, b);
    b->detached = 1;
    if (rc < 0)
        b->generation = 0; /* left pointing at the slot: stale soon */
    return rc;
}

/* Turn held @b's slot, in this mapping, into private memory holding the
 * same bytes, at the same address: every pointer into it (the batch's,
 * and any array made from them) stays valid, and the daemon may reuse the
 * slot. mremap() moves the copy over the slot in one step, so a reader in
 * another thread never sees a hole. The mapping then no longer shows that
 * slot: it is retired (r->mu held). */
static int detach_in_place(cl_ring *r, cl_batch *b)
{
    size_t size = r->head.slot_size;
    uint8_t *slot = (uint8_t *)r->base + r->head.data_offset +
                    (size_t)b->slot * size;
    void *anon = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anon == MAP_FAILED)
        return MIXUP_ENOMEM;
    memcpy(anon, slot, b->pub.message_size_);
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* as in copy_out() */
    if (mxp_ring_gen_load(r->base, b->slot) != b->generation)
        b->generation = 0; /* reused before we copied: cl_batch_check() */
    if (mprotect(anon, size, PROT_READ) < 0 ||
        mremap(anon, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, slot) ==
            MAP_FAILED) {
        munmap(anon, size);
        return MIXUP_ENOMEM;
    }
    unlink_held(r, b);
    b->detached = 1;
    return 0;
}

int cl_ring_detach_all(cl_ring *r)
{
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    r->retired = 1;
    while (r->held) {
        cl_batch *b = r->held;
        if (detach_in_place(r, b) < 0 && detach_one(r, b) < 0)
            rc = MIXUP_ENOMEM;
    }
    r->n_rel = 0;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int cl_ring_keep(cl_batch *b)
{
    cl_ring *r = b->ring;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    if (b->own) {
        /* kept already */
    } else if (b->detached) {
        rc = copy_out(r, b); /* its private copy in the ring's place */
    } else {
        uint32_t generation = b->generation; /* as lent: what to release */
        if ((rc = copy_out(r, b)) == 0) {
            unlink_held(r, b);
            b->detached = 1;
            queue_release(r, b->slot, generation);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int cl_batch_check(const cl_batch *b)
{
    if (!b->ring)
        return 0;
    if (b->detached)
        return b->generation ? 0 : MIXUP_ESTALE;
    /* The caller read the batch's bytes before this call: those reads
     * must be done before the generation is loaded, or a read that saw
     * the daemon's next batch could pass (a seqlock's reader, as in
     * copy_out()). An acquire load orders only what comes after it; the
     * fence orders the earlier reads too. On x86 both compile to plain
     * loads; on AArch64 the fence is a dmb ishld. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return mxp_ring_gen_load(b->ring->base, b->slot) == b->generation
               ? 0
               : MIXUP_ESTALE;
}
