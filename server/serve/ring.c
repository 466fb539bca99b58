/*
 * ring.c — see ring.h.
 */
#include "ring.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#define RING_PAGE 4096u

static size_t page_round(size_t n)
{
    return (n + RING_PAGE - 1) & ~(size_t)(RING_PAGE - 1);
}

static void make_token(uint8_t token[16])
{
    if (getrandom(token, 16, GRND_NONBLOCK) == 16)
        return;
    /* No entropy yet (early boot): the token only has to differ from
     * other segments', not to be secret. */
    uint64_t t[2] = {(uint64_t)(uintptr_t)token ^ (uint64_t)getpid(),
                     (uint64_t)time(NULL)};
    memcpy(token, t, 16);
}

size_t ring_segment_bytes(uint32_t slots, size_t msg_size)
{
    size_t head = mxp_ring_head_size(slots), slot = page_round(msg_size);
    if (slots == 0 || slot > (SIZE_MAX - head) / slots)
        return 0;
    return head + slot * slots;
}

int ring_init(ring *r, const ring_config *cfg, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (cfg->slots == 0 || cfg->msg_size == 0) {
        snprintf(err, errlen, "a ring needs at least one slot of one batch");
        return MIXUP_EINVAL;
    }
    r->n = cfg->slots;
    r->msg_size = cfg->msg_size;
    r->slot_size = page_round(cfg->msg_size);
    r->data_offset = mxp_ring_head_size(cfg->slots);
    size_t total = ring_segment_bytes(cfg->slots, cfg->msg_size);
    if (total == 0) {
        snprintf(err, errlen, "%u ring slots of %zu bytes overflow",
                 cfg->slots, r->slot_size);
        return MIXUP_ETOOBIG;
    }
    int rc = shm_segment_create_mode(&r->seg, cfg->instance,
                                     cfg->what ? cfg->what : "ring", total,
                                     cfg->mode, err, errlen);
    if (rc < 0)
        return rc;
    r->slots = calloc(cfg->slots, sizeof *r->slots);
    if (!r->slots) {
        snprintf(err, errlen, "out of memory for %u ring slots", cfg->slots);
        ring_destroy(r);
        return MIXUP_ENOMEM;
    }
    uint8_t *base = r->seg.addr;
    for (uint32_t i = 0; i < r->n; i++) {
        ring_slot *s = &r->slots[i];
        s->index = i;
        s->data = base + r->data_offset + (size_t)i * r->slot_size;
        s->next_free = i + 2 <= r->n ? i + 2 : 0;
    }
    int fd = shm_open(r->seg.name, O_RDWR | O_CLOEXEC, 0);
    r->probe_fd_plus1 = fd >= 0 ? fd + 1 : 0;
    r->free_head = 1;
    r->count[RING_FREE] = r->n;
    make_token(r->token);
    mxp_ring_head head = {
        .n_slots = r->n,
        .slot_size = r->slot_size,
        .data_offset = r->data_offset,
    };
    memcpy(head.token, r->token, sizeof head.token);
    mxp_ring_head_encode(base, r->data_offset, &head);
    return 0;
}

static void move(ring *r, ring_slot *s, ring_state to)
{
    r->count[s->state]--;
    r->count[to]++;
    s->state = to;
}

ring_slot *ring_acquire(ring *r)
{
    if (!r->free_head)
        return NULL;
    ring_slot *s = &r->slots[r->free_head - 1];
    r->free_head = s->next_free;
    s->next_free = 0;
    if (++s->generation == 0) /* 0 means "never lent" to a client */
        s->generation = 1;
    move(r, s, RING_FILLING);
    return s;
}

void ring_filled(ring *r, ring_slot *s)
{
    if (s->state == RING_FILLING)
        move(r, s, RING_READY);
}

void ring_lend(ring *r, ring_slot *s)
{
    if (s->state != RING_READY)
        return;
    mxp_ring_gen_store(r->seg.addr, s->index, s->generation);
    move(r, s, RING_LENT);
}

void ring_send(ring *r, ring_slot *s)
{
    if (s->state == RING_READY)
        move(r, s, RING_SENDING);
}

void ring_release(ring *r, ring_slot *s)
{
    if (s->state == RING_FREE || s->state == RING_FILLING)
        return;
    if (s->state == RING_LENT) /* a stale reference now fails its check */
        mxp_ring_gen_store(r->seg.addr, s->index, 0);
    move(r, s, RING_FREE);
    s->next_free = r->free_head;
    r->free_head = s->index + 1;
}

ring_slot *ring_lent_slot(ring *r, uint32_t index, uint32_t generation)
{
    if (index >= r->n)
        return NULL;
    ring_slot *s = &r->slots[index];
    return s->state == RING_LENT && s->generation == generation ? s : NULL;
}

int ring_check(const ring *r)
{
    uint32_t by_state[RING_N_STATES] = {0}, sum = 0, on_list = 0;
    for (uint32_t i = 0; i < r->n; i++)
        by_state[r->slots[i].state]++;
    for (int st = 0; st < RING_N_STATES; st++) {
        if (by_state[st] != r->count[st])
            return -1;
        sum += r->count[st];
    }
    for (uint32_t at = r->free_head; at; at = r->slots[at - 1].next_free) {
        if (at > r->n || r->slots[at - 1].state != RING_FREE ||
            ++on_list > r->n)
            return -1;
    }
    return sum == r->n && on_list == r->count[RING_FREE] ? 0 : -1;
}

const char *ring_state_name(ring_state st)
{
    static const char *const names[RING_N_STATES] = {
        "free", "filling", "ready", "lent", "sending"};
    return st < RING_N_STATES ? names[st] : "unknown";
}

int ring_slot_read_by_someone(const ring *r, const ring_slot *s)
{
    if (!r->probe_fd_plus1)
        return 0;
    struct flock fl = {
        .l_type = F_WRLCK,
        .l_whence = SEEK_SET,
        .l_start = (off_t)(r->data_offset + (size_t)s->index * r->slot_size),
        .l_len = (off_t)r->slot_size,
    };
    return fcntl(r->probe_fd_plus1 - 1, F_OFD_GETLK, &fl) == 0 &&
           fl.l_type != F_UNLCK;
}

void ring_destroy(ring *r)
{
    if (r->probe_fd_plus1)
        close(r->probe_fd_plus1 - 1);
    free(r->slots);
    shm_segment_destroy(&r->seg);
    memset(r, 0, sizeof *r);
}
