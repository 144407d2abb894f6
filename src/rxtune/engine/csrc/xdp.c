/* AF_XDP in copy mode: a minimal XDP program redirects every frame of the queue into an
 * XSK socket; the loop takes frames off the RX ring and gives them back to the fill ring. */
#include "xdp.h"

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

int rxt_rx_xdp(struct rxt_xsk *xsk, int poll_mode, int64_t deadline_ns,
               struct rxt_rx_record *rec, struct rxt_rx_stats *st)
{
    memset(st, 0, sizeof(*st));
    struct xdp_desc *descs = xsk->rx.desc;
    uint64_t *fill = xsk->fill.desc;
    unsigned spins = 0;
    for (;;) {
        uint32_t prod = __atomic_load_n(xsk->rx.producer, __ATOMIC_ACQUIRE);
        uint32_t cons = *xsk->rx.consumer;
        if (prod == cons) {
            if ((++spins & RXT_SPIN_CHECK_MASK) == 0 || poll_mode) {
                if (rxt_now(CLOCK_MONOTONIC) > deadline_ns)
                    break;
            }
            if (*xsk->fill.flags & XDP_RING_NEED_WAKEUP)
                recvfrom(xsk->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
            if (poll_mode) {
                struct pollfd p = {.fd = xsk->fd, .events = POLLIN};
                if (poll(&p, 1, 100) < 0 && errno != EINTR)
                    return -errno;
            }
            continue;
        }
        st->calls++;
        int64_t app = rxt_now(CLOCK_MONOTONIC);
        uint32_t fill_prod = *xsk->fill.producer;
        for (; cons != prod; cons++) {
            struct xdp_desc *d = &descs[cons & (RING_SIZE - 1)];
            size_t payload_len;
            const char *payload = rxt_udp_payload(rec, xsk->umem + d->addr, d->len, &payload_len);
            if (payload)
                rxt_record_packet(rec, st, payload, payload_len, app, -1);
            else
                st->foreign++;
            /* copy mode: frames are whole chunks; give the chunk back */
            fill[fill_prod++ & (RING_SIZE - 1)] = d->addr & ~(uint64_t)(FRAME_SIZE - 1);
        }
        __atomic_store_n(xsk->rx.consumer, cons, __ATOMIC_RELEASE);
        __atomic_store_n(xsk->fill.producer, fill_prod, __ATOMIC_RELEASE);
    }
    struct xdp_statistics stats;
    socklen_t len = sizeof(stats);
    if (getsockopt(xsk->fd, SOL_XDP, XDP_STATISTICS, &stats, &len) == 0)
        st->ring_drops = stats.rx_dropped + stats.rx_ring_full;
    return 0;
}
