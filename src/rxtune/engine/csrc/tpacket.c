/* PACKET_MMAP with a TPACKET_V3 ring: the kernel fills blocks of frames and hands a block
 * over when it is full or its timeout (tp_retire_blk_tov, ms) expires, so at a low rate a
 * packet waits up to the timeout: latency is bounded by it, not by the wakeup. Payloads are
 * read in place; a block goes back to the kernel when the batch that emptied it is
 * released. */
#include "rx.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/if_packet.h>

#define FRAME_SIZE 2048

struct tpacket_rx {
    int fd;
    char *map;
    size_t map_len;
    unsigned block_size, block_count;
    unsigned current;  /* the block being read */
    unsigned done;     /* blocks read to the end, not yet given back (they precede current) */
    unsigned index;    /* frames of the current block already taken */
    struct tpacket3_hdr *frame; /* the next frame of the current block; NULL: not started */
    uint16_t port;
};

static struct tpacket_block_desc *block_at(struct tpacket_rx *t, unsigned i)
{
    return (struct tpacket_block_desc *)(t->map + (size_t)i * t->block_size);
}

static int tpacket_next(struct rxt_rx *rx, int64_t deadline_ns, unsigned max)
{
    struct tpacket_rx *t = rx->impl;
    unsigned n = 0;
    for (int waited = 0;;) {
        struct tpacket_block_desc *block = block_at(t, t->current);
        int ready = t->done < t->block_count &&
                    (__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER);
        if (!ready) {
            if (n > 0 || waited)
                return (int)n;
            struct pollfd p = {.fd = t->fd, .events = POLLIN | POLLERR};
            if (poll(&p, 1, rxt_slice_ms(deadline_ns)) < 0 && errno != EINTR)
                return -errno;
            waited = 1;
            continue;
        }
        if (!t->frame) {
            t->frame = (struct tpacket3_hdr *)((char *)block + block->hdr.bh1.offset_to_first_pkt);
            t->index = 0;
        }
        for (; t->index < block->hdr.bh1.num_pkts && n < max; t->index++) {
            struct tpacket3_hdr *f = t->frame;
            struct rxt_packet *p = &rx->pkts[n];
            if (rxt_parse_udp((char *)f + f->tp_mac, f->tp_snaplen, t->port, p)) {
                p->stamp_real = (int64_t)f->tp_sec * 1000000000LL + f->tp_nsec;
                n++;
            } else {
                rx->foreign++;
            }
            t->frame = (struct tpacket3_hdr *)((char *)f + f->tp_next_offset);
        }
        if (t->index == block->hdr.bh1.num_pkts) {
            t->done++;
            t->current = (t->current + 1) % t->block_count;
            t->frame = NULL;
        }
        if (n == max)
            return (int)n;
    }
}

static void tpacket_give_back(struct tpacket_rx *t)
{
    unsigned first = (t->current + t->block_count - t->done) % t->block_count;
    for (; t->done; t->done--, first = (first + 1) % t->block_count)
        __atomic_store_n(&block_at(t, first)->hdr.bh1.block_status, TP_STATUS_KERNEL,
                         __ATOMIC_RELEASE);
}

static void tpacket_release(struct rxt_rx *rx) { tpacket_give_back(rx->impl); }

static void tpacket_read_drops(struct rxt_rx *rx)
{
    struct tpacket_rx *t = rx->impl;
    struct tpacket_stats_v3 stats; /* reading resets them */
    socklen_t len = sizeof(stats);
    if (getsockopt(t->fd, SOL_PACKET, PACKET_STATISTICS, &stats, &len) == 0)
        rx->ring_drops += stats.tp_drops;
}

static int tpacket_fd(struct rxt_rx *rx) { return ((struct tpacket_rx *)rx->impl)->fd; }

static void tpacket_close(struct rxt_rx *rx)
{
    struct tpacket_rx *t = rx->impl;
    if (t->map)
        munmap(t->map, t->map_len);
}

static const struct rxt_rx_ops tpacket_ops = {tpacket_next, tpacket_release, tpacket_read_drops,
                                              tpacket_fd, tpacket_close};

int rxt_rx_open_tpacket(int fd, unsigned capacity, unsigned block_size, unsigned block_count,
                        unsigned timeout_ms, uint16_t port, struct rxt_rx **out)
{
    if (block_size < FRAME_SIZE || block_count < 2)
        return -EINVAL;
    int version = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0)
        return -errno;
    struct tpacket_req3 req;
    memset(&req, 0, sizeof(req));
    req.tp_block_size = block_size;
    req.tp_block_nr = block_count;
    req.tp_frame_size = FRAME_SIZE;
    req.tp_frame_nr = (block_size / FRAME_SIZE) * block_count;
    req.tp_retire_blk_tov = timeout_ms;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
        return -errno;
    struct rxt_rx *rx = rxt_rx_alloc(&tpacket_ops, capacity, sizeof(struct tpacket_rx));
    if (!rx)
        return -EINVAL;
    struct tpacket_rx *t = rx->impl;
    t->fd = fd;
    t->block_size = block_size;
    t->block_count = block_count;
    t->port = port;
    t->map_len = (size_t)block_size * block_count;
    t->map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    if (t->map == MAP_FAILED)
        t->map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (t->map == MAP_FAILED) {
        int rc = -errno;
        t->map = NULL;
        rxt_rx_free(rx);
        return rc;
    }
    *out = rx;
    return 0;
}
