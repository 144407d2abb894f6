#ifndef RXTUNE_PINGPONG_H
#define RXTUNE_PINGPONG_H

#include "common.h"
#include <stddef.h>

struct rxt_loop {
    int fd;               /* a connected (client) or bound (reflector) UDP socket */
    int epfd;             /* for RXT_WAIT_EPOLL: an epoll fd watching fd, params already set */
    enum rxt_wait wait;
    int64_t deadline_ns;  /* CLOCK_MONOTONIC: stop waiting after this */
};

/* Preallocated by the caller. The client fills one_way with round-trip times and, when
 * given, kernel_to_app with the echo's wait from the kernel's RX stamp to the application. */
struct rxt_samples {
    int64_t *one_way, *to_kernel, *kernel_to_app;
    size_t capacity;
};

struct rxt_counts {
    uint64_t sent, received, reordered, timeouts, send_errors, highest_seq;
};

int rxt_reflect(const struct rxt_loop *loop, struct rxt_samples *out, struct rxt_counts *counts);
/* warmup: packets are echoed but not recorded by the reflector, and no stop is sent */
int rxt_ping(const struct rxt_loop *loop, size_t message_size, uint64_t count, int warmup,
             int64_t reply_timeout_ns, struct rxt_samples *out, struct rxt_counts *counts);

#endif
