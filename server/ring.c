/*
 * ring.c — see ring.h.
 */
#include "ring.h"

#include <nanomsg/nn.h>
#include <stdlib.h>

#include "mixup.h"

int ring_init(ring *r, uint32_t n, size_t msg_size, size_t scratch_size)
{
    *r = (ring){.n = n, .msg_size = msg_size};
    r->slots = calloc(n, sizeof *r->slots);
    if (!r->slots)
        return MIXUP_ENOMEM;
    size_t room = (scratch_size + 63) & ~(size_t)63;
    for (uint32_t i = 0; i < n; i++) {
        r->slots[i].scratch = room ? aligned_alloc(64, room) : NULL;
        if (room && !r->slots[i].scratch) {
            ring_destroy(r);
            return MIXUP_ENOMEM;
        }
    }
    for (uint32_t i = n; i-- > 0;) {
        r->slots[i].next_free = r->free_list;
        r->free_list = &r->slots[i];
    }
    r->n_free = n;
    return 0;
}

ring_slot *ring_acquire(ring *r)
{
    ring_slot *s = r->free_list;
    if (!s)
        return NULL;
    if (!s->msg) {
        s->msg = nn_allocmsg(r->msg_size, 0);
        if (!s->msg)
            return NULL;
    }
    r->free_list = s->next_free;
    r->n_free--;
    s->next_free = NULL;
    s->state = RING_FILLING;
    s->size = r->msg_size;
    return s;
}

void ring_release(ring *r, ring_slot *s)
{
    /* A buffer that was not sent is kept for the next batch: no
     * allocation on the common path of an abandoned prefetch. */
    smp_order_unref(s->order);
    s->order = NULL;
    s->owner = NULL;
    s->state = RING_FREE;
    s->next_free = r->free_list;
    r->free_list = s;
    r->n_free++;
}

void ring_destroy(ring *r)
{
    for (uint32_t i = 0; i < r->n; i++) {
        ring_slot *s = &r->slots[i];
        smp_order_unref(s->order);
        if (s->msg)
            nn_freemsg(s->msg);
        free(s->scratch);
    }
    free(r->slots);
    r->slots = NULL;
}
