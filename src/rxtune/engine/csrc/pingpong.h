#ifndef RXTUNE_PINGPONG_H
#define RXTUNE_PINGPONG_H

#include "common.h"
#include <stddef.h>
#include <netinet/in.h>

struct rxt_loop {
    int fd;               /* a connected (client) or bound (reflector) UDP socket */
    int epfd;             /* for RXT_WAIT_EPOLL: an epoll fd watching fd, params already set */
    enum rxt_wait wait;
    int64_t deadline_ns;  /* CLOCK_MONOTONIC: stop waiting after this */
    uint64_t cookie;      /* carried by the client's packets; the reflector echoes only these */
};

/* What a reflector serving another host may echo: packets from one address only (port 0:
 * any port of it; family 0: anyone, the testbed), at most max_pps (0: no bound). A
 * reflector that echoes anything to anyone is an amplifier a spoofed source can aim. */
struct rxt_echo_rule {
    struct sockaddr_in from;
    uint64_t max_pps;
};

/* Preallocated by the caller. The client fills one_way with round-trip times and, when
 * given, kernel_to_app with the echo's wait from the kernel's RX stamp to the application. */
struct rxt_samples {
    int64_t *one_way, *to_kernel, *kernel_to_app;
    size_t capacity;
};

struct rxt_counts {
    uint64_t sent, received, reordered, timeouts, send_errors, highest_seq;
    uint64_t foreign;  /* reflector: not the run's cookie, or not from its address: ignored */
    uint64_t over_rate; /* reflector: the run's, past its agreed rate: not echoed */
};

int rxt_reflect(const struct rxt_loop *loop, const struct rxt_echo_rule *rule,
                struct rxt_samples *out, struct rxt_counts *counts);
/* warmup: packets are echoed but not recorded by the reflector, and no stop is sent */
int rxt_ping(const struct rxt_loop *loop, size_t message_size, uint64_t count, int warmup,
             int64_t reply_timeout_ns, struct rxt_samples *out, struct rxt_counts *counts);

#endif
