/* PACKET_MMAP with a TPACKET_V3 ring: the kernel fills blocks of frames and hands a block
 * over when it is full or its timeout (tp_retire_blk_tov, ms) expires, so at a low rate a
 * packet waits up to the timeout: latency is bounded by it, not by the wakeup. */
#include "load.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/if_packet.h>

int rxt_rx_tpacket(int fd, unsigned block_size, unsigned block_count, unsigned timeout_ms,
                   int64_t deadline_ns, struct rxt_rx_record *rec, struct rxt_rx_stats *st)
{
    memset(st, 0, sizeof(*st));
    int version = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0)
        return -errno;
    struct tpacket_req3 req;
    memset(&req, 0, sizeof(req));
    req.tp_block_size = block_size;
    req.tp_block_nr = block_count;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = (block_size / req.tp_frame_size) * block_count;
    req.tp_retire_blk_tov = timeout_ms;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
        return -errno;
    size_t len = (size_t)block_size * block_count;
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    if (map == MAP_FAILED)
        map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return -errno;
    unsigned current = 0;
    for (;;) {
        if (rxt_now(CLOCK_MONOTONIC) > deadline_ns)
            break;
        struct tpacket_block_desc *block = (struct tpacket_block_desc *)(map + (size_t)current * block_size);
        if (!(__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
            struct pollfd p = {.fd = fd, .events = POLLIN | POLLERR};
            if (poll(&p, 1, 100) < 0 && errno != EINTR) {
                munmap(map, len);
                return -errno;
            }
            continue;
        }
        st->calls++;
        int64_t app = rxt_now(CLOCK_MONOTONIC);
        struct tpacket3_hdr *frame = (struct tpacket3_hdr *)((char *)block + block->hdr.bh1.offset_to_first_pkt);
        for (unsigned i = 0; i < block->hdr.bh1.num_pkts; i++) {
            size_t payload_len;
            const char *payload = rxt_udp_payload(rec, (char *)frame + frame->tp_mac,
                                                  frame->tp_snaplen, &payload_len);
            if (payload) {
                int64_t stamp = (int64_t)frame->tp_sec * 1000000000LL + frame->tp_nsec;
                rxt_record_packet(rec, st, payload, payload_len, app, stamp);
            }
            frame = (struct tpacket3_hdr *)((char *)frame + frame->tp_next_offset);
        }
        __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        current = (current + 1) % block_count;
    }
    struct tpacket_stats_v3 stats;
    socklen_t slen = sizeof(stats);
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &slen) == 0)
        st->ring_drops = stats.tp_drops;
    munmap(map, len);
    return 0;
}
