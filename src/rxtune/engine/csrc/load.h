/* Loads: a paced or flooding sender, and the per-packet record every receiver (rx.h)
 * fills. */
#ifndef RXTUNE_LOAD_H
#define RXTUNE_LOAD_H

#include "common.h"
#include <stddef.h>

/* The load's payload, 16 bytes, so an 18-byte payload carries it. A packet's latency runs
 * from its intended send time (its slot at the offered rate, as wrk2 does), so a stalled
 * sender shows; how late it actually left is the first part of that latency. */
struct rxt_load_payload {
    uint32_t seq;
    uint32_t send_delay_ns; /* left this long after its slot (saturates at 4.29 s) */
    int64_t intended_mono_ns;
};
#define RXT_MAX_SEQ UINT32_MAX

struct rxt_send_stats {
    uint64_t sent, errors, late; /* late: a paced packet left more than 10 µs behind its slot */
    int64_t started_ns, elapsed_ns;
};

/* A stall injected into the sender at stall_at_ns from its start, for the known-answer
 * check of latency under load (0: none). */
struct rxt_stall {
    int64_t at_ns, length_ns;
};

/* fds: one connected UDP socket per flow. rate 0 floods with sendmmsg batches. */
int rxt_send_load(const int *fds, int nfds, size_t message_size, uint64_t rate_pps,
                  int64_t duration_ns, int batch, struct rxt_stall stall,
                  struct rxt_send_stats *out);

struct rxt_rx_stats {
    uint64_t packets, calls, duplicates, reordered, foreign, highest_seq, ring_drops;
    uint64_t socket_overflows; /* SO_RXQ_OVFL: the kernel's drop counter of the socket */
    int64_t first_ns, last_ns; /* when the first and the last test packet reached the loop */
};

/* Per-packet figures in arrival order (NULL arrays: count only), and a bitmap of seen
 * sequence numbers for duplicates. latency = send_delay + to_stamp + stamp_to_app, from
 * the intended send time to the loop; to_stamp ends at the kernel's RX stamp (-1 without
 * one). Kernel stamps are CLOCK_REALTIME; real_minus_mono turns them into CLOCK_MONOTONIC,
 * the sender's clock. */
struct rxt_rx_record {
    int64_t *latency, *send_delay, *to_stamp, *stamp_to_app;
    size_t capacity;
    uint8_t *seen;
    uint64_t seen_bits;
    int64_t real_minus_mono;
};

void rxt_record_packet(struct rxt_rx_record *rec, struct rxt_rx_stats *st, const char *payload,
                       size_t len, int64_t app_mono, int64_t kstamp_real);

/* Setup flags (5.19, 6.0, 6.1): a completion must not interrupt a busy-polling waiter. With
 * no flags the kernel sends an IPI per completion (task work, TWA_SIGNAL), which also ends
 * io_napi_busy_loop; COOP_TASKRUN drops the IPI but still sets TIF_NOTIFY_SIGNAL;
 * SINGLE_ISSUER with DEFER_TASKRUN leaves the task work to the waiter itself. */
#define RXT_IORING_SETUP_COOP_TASKRUN (1U << 8)
#define RXT_IORING_SETUP_SINGLE_ISSUER (1U << 12)
#define RXT_IORING_SETUP_DEFER_TASKRUN (1U << 13)

#endif
