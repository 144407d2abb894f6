/* Shared by the engine's loops: clocks, the payload header, kernel definitions newer than
 * old system headers (Debian 12's predate epoll busy-poll params and io_uring NAPI). */
#ifndef RXTUNE_COMMON_H
#define RXTUNE_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

/* include/uapi/linux/eventpoll.h, 6.9 */
struct rxt_epoll_params {
    uint32_t busy_poll_usecs;
    uint16_t busy_poll_budget;
    uint8_t prefer_busy_poll;
    uint8_t pad;
};
#define RXT_EPIOCSPARAMS _IOW(0x8A, 0x01, struct rxt_epoll_params)
#define RXT_EPIOCGPARAMS _IOR(0x8A, 0x02, struct rxt_epoll_params)

/* Every test packet starts with this header; the rest is padding to the message size. */
struct rxt_payload {
    uint64_t seq;
    int64_t send_mono_ns; /* CLOCK_MONOTONIC: both namespaces share it, so one-way is exact */
    int64_t send_real_ns; /* CLOCK_REALTIME: the clock of the kernel's RX software stamp */
    uint64_t cookie;      /* the run's, agreed on the control channel (0 on the testbed) */
};
#define RXT_SEQ_STOP UINT64_MAX
#define RXT_SEQ_WARMUP (1ULL << 62) /* echoed, never recorded */
#define RXT_MIN_MESSAGE ((int)sizeof(struct rxt_payload))

/* How often a waiting loop wakes to look at its deadline, and how many spins a spinning
 * loop makes between two looks at the clock (a power of two, minus one). */
#define RXT_SLICE_MS 100
#define RXT_SLICE_NS (RXT_SLICE_MS * 1000000LL)
#define RXT_SPIN_CHECK_MASK 0x3ffu

static inline int64_t rxt_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static inline int64_t rxt_now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return rxt_ns(&ts);
}

/* How a loop waits for the next packet. The socket options that make the kernel busy poll
 * (SO_BUSY_POLL, prefer, budget, the sysctls, EPIOCSPARAMS) are set before the loop. */
enum rxt_wait {
    RXT_WAIT_BLOCK = 0, /* blocking recvmsg */
    RXT_WAIT_POLL = 1,  /* poll() then recvmsg */
    RXT_WAIT_EPOLL = 2, /* epoll_wait() then recvmsg */
    RXT_WAIT_SPIN = 3,  /* non-blocking recvmsg in a user-space loop */
};

/* For RXT_WAIT_POLL / RXT_WAIT_EPOLL: wait up to slice_ms for fd to become readable
 * (poll() or epoll_wait() on epfd); 1 at once for the other modes. As poll(2) returns. */
int rxt_wait_readable(int fd, int epfd, enum rxt_wait wait, int slice_ms);

#endif
