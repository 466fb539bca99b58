/*
 * conncap.h — a bound on client connections, and survival at the
 * descriptor limit, under nanomsg.
 *
 * nanomsg 1.1.5 accepts connections in its own worker thread and offers
 * no way to see or refuse one; at EMFILE its accept state machine retries
 * at once, forever, and that worker (which also moves every other
 * connection's bytes) serves nobody. It accepts through libc's accept4()
 * (or accept()), so the daemon's executable defines both: a connection
 * past the cap, or one whose descriptor would eat into the reserve kept
 * for everything else (files, the log, new shared memory), is accepted and
 * closed at once (the peer sees a reset; a nanomsg client reconnects after
 * its reconnect interval), and nanomsg is told ECONNABORTED (a peer that
 * left early, which it waits out calmly). An EMFILE from the
 * kernel is handled the same way with a spare descriptor held for it (the
 * peer is taken off the backlog and closed), so nanomsg never sees EMFILE
 * and never spins.
 *
 * nanomsg also listens with a fixed backlog of 100: a burst of connects
 * larger than that loses SYNs, and those clients wait for the kernel's
 * retransmission (1 s). listen() is defined here too, to ask for
 * server.listen_backlog instead.
 *
 * Connections are counted at accept; closes are not seen (nanomsg closes
 * them), so when the count reaches the cap the accepted descriptors are
 * checked again (still open, still the same socket) before refusing.
 */
#ifndef SRV_CONNCAP_H
#define SRV_CONNCAP_H

#include <stdint.h>

/* Descriptors kept free for everything but connections. */
#define CONN_FD_RESERVE 16

/* Start enforcing: at most @max_connections accepted connections at once,
 * and none whose descriptor is within CONN_FD_RESERVE of the soft
 * descriptor limit; sockets nanomsg starts listening on from now get a
 * backlog of @backlog (nanomsg asks for 100; the kernel caps it at
 * net.core.somaxconn). Return the effective cap (the smaller of the two). */
uint32_t conn_cap_start(uint32_t max_connections, uint32_t backlog);

/* Stop enforcing (accept behaves as libc's again). */
void conn_cap_stop(void);

typedef struct conn_cap_stats {
    uint64_t refused_cap;   /* over server.max_connections */
    uint64_t refused_fds;   /* at or near the descriptor limit */
    uint32_t open;          /* accepted and still open, as last counted */
    uint32_t cap;
} conn_cap_stats;

/* Counters so far (any thread). */
void conn_cap_get(conn_cap_stats *out);

#endif
