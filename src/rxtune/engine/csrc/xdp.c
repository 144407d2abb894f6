/* AF_XDP in copy mode: a minimal XDP program redirects every frame of the queue into an
 * XSK socket; the loop takes frames off the RX ring and gives them back to the fill ring. */
#include "xdp.h"
#include "rx.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_xdp.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#define FRAME_SIZE 2048
#define RING_SIZE 2048
#define BPF_FUNC_REDIRECT_MAP 51

/* include/uapi/linux/if_xdp.h, 6.8: tx_metadata_len fills what was padding */
struct rxt_xdp_umem_reg {
    uint64_t addr, len;
    uint32_t chunk_size, headroom, flags, tx_metadata_len;
};

struct ring {
    uint32_t *producer, *consumer, *flags;
    void *desc;
    void *map;
    size_t map_len;
};

struct rxt_xsk {
    int fd;
    char *umem;
    size_t umem_len;
    unsigned frames;
    struct ring rx, fill;
};

static long bpf(int cmd, union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

int rxt_xdp_prog_load(int *prog_fd, int *map_fd, char *log, size_t log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_XSKMAP;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 64; /* one slot per RX queue */
    *map_fd = (int)bpf(BPF_MAP_CREATE, &attr);
    if (*map_fd < 0)
        return -errno;
    /* r2 = ctx->rx_queue_index; r1 = xskmap; r3 = XDP_PASS; return bpf_redirect_map() */
    struct bpf_insn insns[] = {
        {.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = 2, .src_reg = 1, .off = 16},
        {.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = *map_fd},
        {.code = 0},
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 3, .imm = 2 /* XDP_PASS */},
        {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_REDIRECT_MAP},
        {.code = BPF_JMP | BPF_EXIT},
    };
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_XDP;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
    attr.license = (uint64_t)(uintptr_t)"GPL";
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = (uint32_t)log_size;
    attr.log_level = log_size ? 1 : 0;
    memcpy(attr.prog_name, "rxtune_xsk", 11);
    *prog_fd = (int)bpf(BPF_PROG_LOAD, &attr);
    if (*prog_fd < 0) {
        int err = errno;
        close(*map_fd);
        return -err;
    }
    return 0;
}

int rxt_xdp_drop_prog_load(int *prog_fd)
{
    /* return XDP_DROP: a null receiver, whose cost is what reaching the receiver costs */
    struct bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 1 /* XDP_DROP */},
        {.code = BPF_JMP | BPF_EXIT},
    };
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_XDP;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
    attr.license = (uint64_t)(uintptr_t)"GPL";
    memcpy(attr.prog_name, "rxtune_drop", 12);
    *prog_fd = (int)bpf(BPF_PROG_LOAD, &attr);
    return *prog_fd < 0 ? -errno : 0;
}

static int map_ring(int fd, struct ring *ring, const struct xdp_ring_offset *off, size_t entry,
                    unsigned count, uint64_t pgoff)
{
    ring->map_len = off->desc + count * entry;
    ring->map = mmap(NULL, ring->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                     (off_t)pgoff);
    if (ring->map == MAP_FAILED) {
        ring->map = NULL;
        return -errno;
    }
    ring->producer = (uint32_t *)((char *)ring->map + off->producer);
    ring->consumer = (uint32_t *)((char *)ring->map + off->consumer);
    ring->flags = (uint32_t *)((char *)ring->map + off->flags);
    ring->desc = (char *)ring->map + off->desc;
    return 0;
}

void rxt_xsk_close(struct rxt_xsk *xsk)
{
    if (!xsk)
        return;
    if (xsk->rx.map)
        munmap(xsk->rx.map, xsk->rx.map_len);
    if (xsk->fill.map)
        munmap(xsk->fill.map, xsk->fill.map_len);
    if (xsk->fd >= 0)
        close(xsk->fd);
    if (xsk->umem)
        munmap(xsk->umem, xsk->umem_len);
    free(xsk);
}

int rxt_xsk_open(int ifindex, unsigned queue, int map_fd, unsigned frames, struct rxt_xsk **out)
{
    int rc;
    struct rxt_xsk *xsk = calloc(1, sizeof(*xsk));
    if (!xsk)
        return -ENOMEM;
    xsk->frames = frames;
    xsk->fd = socket(AF_XDP, SOCK_RAW, 0);
    if (xsk->fd < 0) {
        rc = -errno;
        goto fail;
    }
    xsk->umem_len = (size_t)frames * FRAME_SIZE;
    xsk->umem = mmap(NULL, xsk->umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (xsk->umem == MAP_FAILED) {
        xsk->umem = NULL;
        rc = -errno;
        goto fail;
    }
    struct rxt_xdp_umem_reg reg = {.addr = (uint64_t)(uintptr_t)xsk->umem, .len = xsk->umem_len,
                                   .chunk_size = FRAME_SIZE};
    unsigned ring_size = RING_SIZE, completion = RING_SIZE;
    if (setsockopt(xsk->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0 ||
        setsockopt(xsk->fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring_size, sizeof(ring_size)) < 0 ||
        setsockopt(xsk->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &completion, sizeof(completion)) < 0 ||
        setsockopt(xsk->fd, SOL_XDP, XDP_RX_RING, &ring_size, sizeof(ring_size)) < 0) {
        rc = -errno;
        goto fail;
    }
    struct xdp_mmap_offsets off;
    socklen_t optlen = sizeof(off);
    if (getsockopt(xsk->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = map_ring(xsk->fd, &xsk->rx, &off.rx, sizeof(struct xdp_desc), RING_SIZE, XDP_PGOFF_RX_RING)) < 0 ||
        (rc = map_ring(xsk->fd, &xsk->fill, &off.fr, sizeof(uint64_t), RING_SIZE, XDP_UMEM_PGOFF_FILL_RING)) < 0)
        goto fail;
    unsigned fill = frames < RING_SIZE ? frames : RING_SIZE;
    uint64_t *addrs = xsk->fill.desc;
    for (unsigned i = 0; i < fill; i++)
        addrs[i] = (uint64_t)i * FRAME_SIZE;
    __atomic_store_n(xsk->fill.producer, fill, __ATOMIC_RELEASE);
    struct sockaddr_xdp sxdp = {.sxdp_family = AF_XDP, .sxdp_ifindex = (uint32_t)ifindex,
                                .sxdp_queue_id = queue,
                                .sxdp_flags = XDP_COPY | XDP_USE_NEED_WAKEUP};
    if (bind(xsk->fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) < 0) {
        rc = -errno;
        goto fail;
    }
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    uint32_t key = queue, value = (uint32_t)xsk->fd;
    attr.map_fd = (uint32_t)map_fd;
    attr.key = (uint64_t)(uintptr_t)&key;
    attr.value = (uint64_t)(uintptr_t)&value;
    if (bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
        rc = -errno;
        goto fail;
    }
    *out = xsk;
    return 0;
fail:
    rxt_xsk_close(xsk);
    return rc;
}

/* AF_XDP as a receiver: frames come off the RX ring into the batch and go back to the fill
 * ring when it is released. */
struct xdp_rx {
    struct rxt_xsk *xsk;
    int poll_mode;
    uint16_t port;
    uint64_t *held; /* UMEM chunks of the current batch */
    unsigned nheld;
};

static void xdp_release(struct rxt_rx *rx);

static int xdp_next(struct rxt_rx *rx, int64_t deadline_ns, unsigned max)
{
    struct xdp_rx *x = rx->impl;
    struct rxt_xsk *xsk = x->xsk;
    struct xdp_desc *descs = xsk->rx.desc;
    int64_t slice_end = rxt_now(CLOCK_MONOTONIC) + RXT_SLICE_NS;
    if (slice_end > deadline_ns)
        slice_end = deadline_ns;
    unsigned spins = 0;
    for (int waited = 0;;) {
        uint32_t prod = __atomic_load_n(xsk->rx.producer, __ATOMIC_ACQUIRE);
        uint32_t cons = *xsk->rx.consumer;
        unsigned n = 0;
        /* the chunks held go back at release: a batch takes no more than the fill ring
         * can take back */
        for (; cons != prod && n < max && x->nheld < rx->capacity; cons++) {
            struct xdp_desc *d = &descs[cons & (RING_SIZE - 1)];
            x->held[x->nheld++] = d->addr & ~(uint64_t)(FRAME_SIZE - 1);
            struct rxt_packet *p = &rx->pkts[n];
            if (rxt_parse_udp(xsk->umem + d->addr, d->len, x->port, p)) {
                p->stamp_real = -1;
                n++;
            } else {
                rx->foreign++;
            }
        }
        __atomic_store_n(xsk->rx.consumer, cons, __ATOMIC_RELEASE);
        if (n > 0)
            return (int)n;
        if (x->nheld) /* foreign frames only: give them back now */
            xdp_release(rx);
        if (cons != prod)
            continue;
        if (*xsk->fill.flags & XDP_RING_NEED_WAKEUP)
            recvfrom(xsk->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
        if (x->poll_mode) {
            if (waited)
                return 0;
            struct pollfd p = {.fd = xsk->fd, .events = POLLIN};
            if (poll(&p, 1, rxt_slice_ms(deadline_ns)) < 0 && errno != EINTR)
                return -errno;
            waited = 1;
        } else if ((++spins & RXT_SPIN_CHECK_MASK) == 0 && rxt_now(CLOCK_MONOTONIC) >= slice_end) {
            return 0;
        }
    }
}

static void xdp_release(struct rxt_rx *rx)
{
    struct xdp_rx *x = rx->impl;
    uint64_t *fill = x->xsk->fill.desc;
    uint32_t prod = *x->xsk->fill.producer;
    for (unsigned i = 0; i < x->nheld; i++)
        fill[prod++ & (RING_SIZE - 1)] = x->held[i];
    __atomic_store_n(x->xsk->fill.producer, prod, __ATOMIC_RELEASE);
    x->nheld = 0;
}

static void xdp_read_drops(struct rxt_rx *rx)
{
    struct xdp_rx *x = rx->impl;
    struct xdp_statistics stats; /* totals since the socket was made */
    socklen_t len = sizeof(stats);
    if (getsockopt(x->xsk->fd, SOL_XDP, XDP_STATISTICS, &stats, &len) == 0)
        rx->ring_drops = stats.rx_dropped + stats.rx_ring_full;
}

static int xdp_fd(struct rxt_rx *rx) { return ((struct xdp_rx *)rx->impl)->xsk->fd; }

static void xdp_close(struct rxt_rx *rx)
{
    struct xdp_rx *x = rx->impl;
    rxt_xsk_close(x->xsk);
    free(x->held);
}

static const struct rxt_rx_ops xdp_ops = {xdp_next, xdp_release, xdp_read_drops, xdp_fd,
                                          xdp_close};

int rxt_rx_open_xdp(struct rxt_xsk *xsk, unsigned capacity, int poll_mode, uint16_t port,
                    struct rxt_rx **out)
{
    if (capacity > RING_SIZE)
        return -EINVAL;
    struct rxt_rx *rx = rxt_rx_alloc(&xdp_ops, capacity, sizeof(struct xdp_rx));
    if (!rx)
        return -EINVAL;
    struct xdp_rx *x = rx->impl;
    x->held = calloc(capacity, sizeof(*x->held));
    if (!x->held) {
        rxt_rx_free(rx);
        return -ENOMEM;
    }
    x->xsk = xsk;
    x->poll_mode = poll_mode;
    x->port = port;
    *out = rx;
    return 0;
}

int rxt_xdp_link(int prog_fd, int ifindex, unsigned flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.link_create.prog_fd = (uint32_t)prog_fd;
    attr.link_create.target_ifindex = (uint32_t)ifindex;
    attr.link_create.attach_type = BPF_XDP;
    attr.link_create.flags = flags;
    int fd = (int)bpf(BPF_LINK_CREATE, &attr);
    return fd < 0 ? -errno : fd;
}
