#include "load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH 256
#define LATE_NS 10000
#define BUF_SIZE 2048

static int send_load(const int *fds, int nfds, size_t message_size, uint64_t rate_pps,
                     int64_t duration_ns, int batch, struct rxt_stall stall,
                     struct rxt_send_stats *out, char (*bufs)[BUF_SIZE])
{
    struct mmsghdr msgs[MAX_BATCH];
    struct iovec iovs[MAX_BATCH];
    if (batch < 1 || batch > MAX_BATCH || message_size < sizeof(struct rxt_load_payload) ||
        message_size > BUF_SIZE || nfds < 1)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < batch; i++) {
        memset(bufs[i], 0x5a, message_size);
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = message_size;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int64_t start = rxt_now(CLOCK_MONOTONIC), end = start + duration_ns;
    out->started_ns = start;
    int stalled = stall.length_ns <= 0;
    uint64_t seq = 0;
    int flow = 0;
    double interval = rate_pps ? 1e9 / (double)rate_pps : 0;
    int per_call = rate_pps ? 1 : batch;
    for (;;) {
        int64_t now = rxt_now(CLOCK_MONOTONIC);
        if (now >= end || seq + (uint64_t)per_call > RXT_MAX_SEQ)
            break;
        if (!stalled && now - start >= stall.at_ns) {
            while (rxt_now(CLOCK_MONOTONIC) < now + stall.length_ns)
                ;
            stalled = 1;
        }
        int64_t intended = now;
        if (rate_pps) { /* open loop: each packet has its slot, whatever the receiver does */
            int64_t slot = start + (int64_t)(seq * interval);
            if (slot >= end)
                break;
            while ((now = rxt_now(CLOCK_MONOTONIC)) < slot)
                ;
            if (now - slot > LATE_NS)
                out->late++;
            intended = slot;
        }
        int64_t delay = now - intended;
        for (int i = 0; i < per_call; i++) {
            struct rxt_load_payload head = {
                .seq = (uint32_t)(seq + (uint64_t)i),
                .send_delay_ns = delay > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)delay,
                .intended_mono_ns = intended,
            };
            memcpy(bufs[i], &head, sizeof(head));
        }
        int sent = sendmmsg(fds[flow], msgs, (unsigned)per_call, 0);
        flow = (flow + 1) % nfds;
        if (sent < 0) {
            out->errors += (uint64_t)per_call; /* ENOBUFS, EAGAIN: dropped at the sender */
            seq += (uint64_t)per_call;
            continue;
        }
        out->sent += (uint64_t)sent;
        out->errors += (uint64_t)(per_call - sent);
        seq += (uint64_t)per_call;
    }
    out->elapsed_ns = rxt_now(CLOCK_MONOTONIC) - start;
    return 0;
}

void rxt_record_packet(struct rxt_rx_record *rec, struct rxt_rx_stats *st, const char *payload,
                       size_t len, int64_t app_mono, int64_t kstamp_real)
{
    if (len < sizeof(struct rxt_load_payload)) {
        st->foreign++;
        return;
    }
    struct rxt_load_payload head;
    memcpy(&head, payload, sizeof(head));
    if (head.seq < rec->seen_bits) {
        uint8_t bit = (uint8_t)(1u << (head.seq & 7));
        if (rec->seen[head.seq >> 3] & bit) {
            st->duplicates++;
            return;
        }
        rec->seen[head.seq >> 3] |= bit;
    }
    if (head.seq + 1 < st->highest_seq)
        st->reordered++;
    else
        st->highest_seq = head.seq + 1;
    if (st->packets < rec->capacity && rec->latency) {
        size_t i = st->packets;
        int64_t sent = head.intended_mono_ns + head.send_delay_ns;
        rec->latency[i] = app_mono - head.intended_mono_ns;
        rec->send_delay[i] = head.send_delay_ns;
        if (kstamp_real > 0) {
            int64_t kmono = kstamp_real - rec->real_minus_mono;
            rec->to_stamp[i] = kmono - sent;
            rec->stamp_to_app[i] = app_mono - kmono;
        } else {
            rec->to_stamp[i] = rec->stamp_to_app[i] = -1;
        }
    }
    if (!st->packets)
        st->first_ns = app_mono;
    st->last_ns = app_mono;
    st->packets++;
}

/* Buffers per call, not static: loops run without the GIL, so two threads of one process
 * may receive at once. */
int rxt_send_load(const int *fds, int nfds, size_t message_size, uint64_t rate_pps,
                  int64_t duration_ns, int batch, struct rxt_stall stall,
                  struct rxt_send_stats *out)
{
    char (*bufs)[BUF_SIZE] = malloc(MAX_BATCH * sizeof(*bufs));
    if (!bufs)
        return -ENOMEM;
    int rc = send_load(fds, nfds, message_size, rate_pps, duration_ns, batch, stall, out, bufs);
    free(bufs);
    return rc;
}
