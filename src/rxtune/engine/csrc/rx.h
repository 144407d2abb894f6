/* A strategy's receive path, opened once and read batch by batch. Every receiver family
 * (UDP socket, io_uring, TPACKET_V3, AF_XDP) fills the same packet array and holds its
 * buffers until the batch is released, so one loop records for the bench (rxt_rx_run) and
 * the Python API hands the same batches to Python, zero-copy where a ring allows. */
#ifndef RXTUNE_RX_H
#define RXTUNE_RX_H

#include "load.h"

#define RXT_MAX_BATCH 1024 /* recvmmsg takes at most UIO_MAXIOV */

struct rxt_packet {
    const char *data;    /* the UDP payload, valid until the batch is released */
    uint32_t len;
    uint32_t src_ip;     /* network order; 0: the family does not say (io_uring recv) */
    uint16_t src_port;   /* host order */
    int64_t stamp_real;  /* the kernel's RX software stamp, CLOCK_REALTIME; -1: none */
};

struct rxt_rx;
struct rxt_xsk; /* xdp.h */

/* One family's way of waiting, taking a batch and giving its buffers back. */
struct rxt_rx_ops {
    /* Wait at most one slice (RXT_SLICE_NS, never past deadline_ns) for packets; fill
     * rx->pkts with up to max. Returns the count (0: none in this slice) or -errno. */
    int (*next)(struct rxt_rx *rx, int64_t deadline_ns, unsigned max);
    void (*release)(struct rxt_rx *rx); /* the last batch's buffers go back */
    void (*read_drops)(struct rxt_rx *rx); /* add the ring's drop counters to ring_drops */
    int (*fd)(struct rxt_rx *rx); /* what poll() waits on, made on first ask; or -errno */
    void (*close)(struct rxt_rx *rx);
};

struct rxt_rx {
    const struct rxt_rx_ops *ops;
    void *impl;
    unsigned capacity;           /* most packets in one batch */
    unsigned count;              /* packets in the current batch */
    struct rxt_packet *pkts;
    uint64_t foreign;            /* raw frames not to our port */
    uint64_t truncated;          /* datagrams longer than a buffer */
    uint64_t socket_overflows;   /* SO_RXQ_OVFL: the socket's drop counter, latest value */
    uint64_t ring_drops;         /* TPACKET / XDP ring statistics, summed over reads */
};

/* Openers: on success *out is ready for rxt_rx_next and freed by rxt_rx_close. */
int rxt_rx_open_socket(int fd, int epfd, enum rxt_wait wait, unsigned capacity,
                       size_t buffer_size, struct rxt_rx **out);
int rxt_rx_open_uring(int fd, unsigned capacity, unsigned entries, unsigned buffers,
                      size_t buffer_size, unsigned napi_busy_poll_us, int prefer_busy_poll,
                      unsigned wait_nr, unsigned min_wait_us, unsigned setup_flags,
                      struct rxt_rx **out);
int rxt_rx_open_tpacket(int fd, unsigned capacity, unsigned block_size, unsigned block_count,
                        unsigned timeout_ms, uint16_t port, struct rxt_rx **out);
/* Takes ownership of xsk. */
int rxt_rx_open_xdp(struct rxt_xsk *xsk, unsigned capacity, int poll_mode, uint16_t port,
                    struct rxt_rx **out);

/* The common part of every opener: the struct and its packet array. */
struct rxt_rx *rxt_rx_alloc(const struct rxt_rx_ops *ops, unsigned capacity, size_t impl_size);
void rxt_rx_free(struct rxt_rx *rx);

static inline int rxt_rx_next(struct rxt_rx *rx, int64_t deadline_ns, unsigned max)
{
    if (max < 1 || max > rx->capacity)
        max = rx->capacity;
    int n = rx->ops->next(rx, deadline_ns, max);
    rx->count = n > 0 ? (unsigned)n : 0;
    return n;
}

static inline void rxt_rx_release(struct rxt_rx *rx)
{
    if (rx->count)
        rx->ops->release(rx);
    rx->count = 0;
}

void rxt_rx_close(struct rxt_rx *rx);

/* The engine's own loop: batches until deadline_ns, each packet recorded. */
int rxt_rx_run(struct rxt_rx *rx, int64_t deadline_ns, struct rxt_rx_record *rec,
               struct rxt_rx_stats *st);

/* For raw frames: the UDP payload of an IPv4 Ethernet frame to `port`, with its source;
 * 0 if the frame is not ours. */
int rxt_parse_udp(const char *frame, size_t len, uint16_t port, struct rxt_packet *out);

/* Milliseconds to wait in one slice before deadline_ns: 0..RXT_SLICE_MS, rounded up. */
int rxt_slice_ms(int64_t deadline_ns);

#endif
