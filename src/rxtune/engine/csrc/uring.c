/* io_uring multishot receive with a provided buffer ring, by raw syscalls (no liburing:
 * Debian 12's predates NAPI). With NAPI registered, waiting for completions busy polls the
 * device's NAPI instead of sleeping. Each wait asks for wait_nr completions, returning with
 * fewer after min_wait_us (6.12; 0: wait for all of them); a busy poller must wait for 1:
 * the kernel busy polls once before it sleeps. A payload stays in its provided buffer,
 * which goes back to the buffer ring when the batch is released. */
#include "rx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/io_uring.h>

/* include/uapi/linux/io_uring.h, 6.9: newer than Debian 12's headers */
#define RXT_IORING_REGISTER_NAPI 27
struct rxt_io_uring_napi {
    uint32_t busy_poll_to;
    uint8_t prefer_busy_poll;
    uint8_t opcode; /* 6.15: 0 = register with dynamic tracking, as before */
    uint8_t pad[2];
    uint32_t op_param;
    uint32_t resv;
};


/* include/uapi/linux/io_uring.h, 6.12: min_wait_usec took the place of pad */
struct rxt_getevents_arg {
    uint64_t sigmask;
    uint32_t sigmask_sz;
    uint32_t min_wait_usec;
    uint64_t ts;
};

#define BUFFER_GROUP 7

struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    struct io_uring_sqe *sqes;
    void *sq_map, *cq_map;
    size_t sq_map_len, cq_map_len, sqes_len;
};

static int uring_setup(struct ring *r, unsigned entries, unsigned flags)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    memset(r, 0, sizeof(*r));
    p.flags = flags;
    r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (r->fd < 0)
        return -errno;
    r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_map_len > r->sq_map_len)
            r->sq_map_len = r->cq_map_len;
        r->cq_map_len = 0;
    }
    r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                     r->fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED)
        return -errno;
    r->cq_map = r->sq_map;
    if (r->cq_map_len) {
        r->cq_map = mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                         r->fd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED)
            return -errno;
    }
    r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                   IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED)
        return -errno;
    char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

static void uring_teardown(struct ring *r)
{
    if (r->sqes && r->sqes != MAP_FAILED)
        munmap(r->sqes, r->sqes_len);
    if (r->cq_map_len && r->cq_map && r->cq_map != MAP_FAILED)
        munmap(r->cq_map, r->cq_map_len);
    if (r->sq_map && r->sq_map != MAP_FAILED)
        munmap(r->sq_map, r->sq_map_len);
    if (r->fd >= 0)
        close(r->fd);
}

#define RECV_TAG 1
#define CANCEL_TAG 2

static struct io_uring_sqe *next_sqe(struct ring *r)
{
    unsigned tail = *r->sq_tail, index = tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[index];
    memset(sqe, 0, sizeof(*sqe));
    r->sq_array[index] = index;
    __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
    return sqe;
}

static void arm_multishot_recv(struct ring *r, int fd)
{
    struct io_uring_sqe *sqe = next_sqe(r);
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUFFER_GROUP;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->user_data = RECV_TAG;
}

/* Cancel the multishot recv and reap its last completion. Without this the ring, torn
 * down asynchronously after close, keeps the socket (and its port) alive for a while. */
static void cancel_recv(struct ring *r)
{
    struct io_uring_sqe *sqe = next_sqe(r);
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->addr = RECV_TAG;
    sqe->user_data = CANCEL_TAG;
    int recv_done = 0, cancel_done = 0;
    int64_t give_up = rxt_now(CLOCK_MONOTONIC) + RXT_SLICE_NS;
    unsigned to_submit = 1;
    while (!(recv_done && cancel_done) && rxt_now(CLOCK_MONOTONIC) < give_up) {
        struct __kernel_timespec ts = {.tv_nsec = 10000000};
        struct io_uring_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)&ts};
        if (syscall(__NR_io_uring_enter, r->fd, to_submit, 1,
                    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg)) >= 0)
            to_submit = 0;
        else if (errno == EEXIST) /* not the ring's thread: closing the fd must do */
            return;
        unsigned head = *r->cq_head, tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
            if (cqe->user_data == CANCEL_TAG)
                cancel_done = 1;
            else if (cqe->user_data == RECV_TAG && !(cqe->flags & IORING_CQE_F_MORE))
                recv_done = 1;
        }
        __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    }
}

struct uring_rx {
    struct ring r;
    int sock_fd;
    struct io_uring_buf_ring *br;
    size_t br_len, buffer_size;
    char *data;
    unsigned buffers, wait_nr, min_wait_us, to_submit;
    int enabled; /* the ring starts disabled: the first thread to receive enables it */
    int evfd;    /* the eventfd an event loop waits on, or -1 */
    uint16_t br_tail;
    uint16_t *held; /* buffer ids of the current batch */
    unsigned nheld;
};

/* Take completions off the CQ ring into the batch: up to max packets. */
static int harvest(struct rxt_rx *rx, struct uring_rx *u, unsigned max)
{
    struct ring *r = &u->r;
    unsigned head = *r->cq_head, tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    unsigned n = 0;
    int rearm = 0, rc = 0;
    for (; head != tail && n < max; head++) {
        struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
        if (cqe->res < 0) {
            /* ENOBUFS: buffers ran out and the multishot request ended; the packets
             * wait in the socket queue (or overflow there, counted as such) */
            if (cqe->res != -ENOBUFS) {
                rc = cqe->res;
                head++;
                break;
            }
        } else if (cqe->flags & IORING_CQE_F_BUFFER) {
            unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            struct rxt_packet *p = &rx->pkts[n++];
            p->data = u->data + bid * u->buffer_size;
            p->len = (uint32_t)cqe->res;
            p->src_ip = 0;
            p->src_port = 0;
            p->stamp_real = -1;
            u->held[u->nheld++] = (uint16_t)bid;
        }
        if (cqe->user_data == RECV_TAG && !(cqe->flags & IORING_CQE_F_MORE))
            rearm = 1;
    }
    __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    if (rearm) {
        arm_multishot_recv(r, u->sock_fd);
        u->to_submit = 1;
    }
    return rc < 0 ? rc : (int)n;
}

static int uring_next(struct rxt_rx *rx, int64_t deadline_ns, unsigned max)
{
    struct uring_rx *u = rx->impl;
    /* SINGLE_ISSUER ties the ring to the task that enables it: the thread that receives,
     * which need not be the one that opened it (an asyncio program's receiving thread) */
    if (!u->enabled) {
        if (syscall(__NR_io_uring_register, u->r.fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
            return -errno;
        u->enabled = 1;
    }
    uint64_t signals;
    if (u->evfd >= 0 && read(u->evfd, &signals, sizeof(signals)) < 0 && errno != EAGAIN)
        return -errno;
    for (int waited = 0;; waited = 1) {
        int n = harvest(rx, u, max);
        if (n != 0 || (waited && !u->to_submit))
            return n;
        int64_t left = deadline_ns - rxt_now(CLOCK_MONOTONIC);
        if (left > RXT_SLICE_NS)
            left = RXT_SLICE_NS;
        /* past the deadline: submit and run what completed, without waiting */
        unsigned wait_nr = left > 0 ? u->wait_nr : 0;
        if (left < 0)
            left = 0;
        struct __kernel_timespec ts = {.tv_sec = left / 1000000000LL,
                                       .tv_nsec = left % 1000000000LL};
        struct rxt_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)&ts,
                                        .min_wait_usec = u->min_wait_us};
        long entered = syscall(__NR_io_uring_enter, u->r.fd, u->to_submit, wait_nr,
                               IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
        if (entered < 0 && errno != ETIME && errno != EINTR && errno != EBUSY)
            return -errno;
        if (entered >= 0)
            u->to_submit = 0;
        if (waited)
            return harvest(rx, u, max);
    }
}

static void uring_release(struct rxt_rx *rx)
{
    struct uring_rx *u = rx->impl;
    for (unsigned i = 0; i < u->nheld; i++) {
        struct io_uring_buf *b = &u->br->bufs[u->br_tail & (u->buffers - 1)];
        b->addr = (uint64_t)(uintptr_t)(u->data + u->held[i] * u->buffer_size);
        b->len = (uint32_t)u->buffer_size;
        b->bid = u->held[i];
        u->br_tail++;
    }
    __atomic_store_n(&u->br->tail, u->br_tail, __ATOMIC_RELEASE);
    u->nheld = 0;
}

static void uring_read_drops(struct rxt_rx *rx) {} /* drops happen at the socket */
/* With DEFER_TASKRUN a completion waits as task work of the ring's thread, and polling the
 * ring fd is not woken by it; an eventfd registered with the ring is (io_req_local_work_add
 * signals it), so that is what an event loop waits on. next() reads it empty first. */
static int uring_fd(struct rxt_rx *rx)
{
    struct uring_rx *u = rx->impl;
    if (u->evfd >= 0)
        return u->evfd;
    int evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd < 0)
        return -errno;
    if (syscall(__NR_io_uring_register, u->r.fd, IORING_REGISTER_EVENTFD, &evfd, 1) < 0) {
        int rc = -errno;
        close(evfd);
        return rc;
    }
    return u->evfd = evfd;
}

static void uring_close(struct rxt_rx *rx)
{
    struct uring_rx *u = rx->impl;
    if (u->enabled && !u->to_submit)
        cancel_recv(&u->r);
    uring_teardown(&u->r);
    if (u->evfd >= 0)
        close(u->evfd);
    if (u->br && u->br != MAP_FAILED)
        munmap(u->br, u->br_len);
    free(u->data);
    free(u->held);
}

static const struct rxt_rx_ops uring_ops = {uring_next, uring_release, uring_read_drops, uring_fd,
                                            uring_close};

int rxt_rx_open_uring(int fd, unsigned capacity, unsigned entries, unsigned buffers,
                      size_t buffer_size, unsigned napi_busy_poll_us, int prefer_busy_poll,
                      unsigned wait_nr, unsigned min_wait_us, unsigned setup_flags,
                      struct rxt_rx **out)
{
    if (buffers == 0 || (buffers & (buffers - 1)) || buffers > 32768 || wait_nr < 1 ||
        wait_nr > entries || buffer_size < 1 || buffer_size > 65536 || capacity > buffers)
        return -EINVAL;
    struct rxt_rx *rx = rxt_rx_alloc(&uring_ops, capacity, sizeof(struct uring_rx));
    if (!rx)
        return -EINVAL;
    struct uring_rx *u = rx->impl;
    u->evfd = -1;
    u->sock_fd = fd;
    u->buffers = buffers;
    u->buffer_size = buffer_size;
    u->wait_nr = wait_nr;
    u->min_wait_us = min_wait_us;
    u->br = MAP_FAILED;
    u->br_len = buffers * sizeof(struct io_uring_buf);
    int rc = uring_setup(&u->r, entries, setup_flags | IORING_SETUP_R_DISABLED);
    if (rc < 0)
        goto fail;
    u->br = mmap(NULL, u->br_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    u->data = malloc(buffers * buffer_size);
    u->held = calloc(capacity, sizeof(*u->held));
    if (u->br == MAP_FAILED || !u->data || !u->held) {
        rc = -ENOMEM;
        goto fail;
    }
    memset(u->data, 0, buffers * buffer_size); /* faulted in before the first packet */
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)u->br;
    reg.ring_entries = buffers;
    reg.bgid = BUFFER_GROUP;
    if (syscall(__NR_io_uring_register, u->r.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        rc = -errno;
        goto fail;
    }
    for (unsigned i = 0; i < buffers; i++) {
        u->br->bufs[i].addr = (uint64_t)(uintptr_t)(u->data + i * buffer_size);
        u->br->bufs[i].len = (uint32_t)buffer_size;
        u->br->bufs[i].bid = (uint16_t)i;
    }
    u->br_tail = (uint16_t)buffers;
    __atomic_store_n(&u->br->tail, u->br_tail, __ATOMIC_RELEASE);
    if (napi_busy_poll_us) {
        struct rxt_io_uring_napi napi = {.busy_poll_to = napi_busy_poll_us,
                                         .prefer_busy_poll = (uint8_t)prefer_busy_poll};
        if (syscall(__NR_io_uring_register, u->r.fd, RXT_IORING_REGISTER_NAPI, &napi, 1) < 0) {
            rc = -errno;
            goto fail;
        }
    }
    arm_multishot_recv(&u->r, fd); /* submitted by the first wait */
    u->to_submit = 1;
    *out = rx;
    return 0;
fail:
    uring_teardown(&u->r);
    if (u->br != MAP_FAILED)
        munmap(u->br, u->br_len);
    free(u->data);
    free(u->held);
    rxt_rx_free(rx);
    return rc;
}
