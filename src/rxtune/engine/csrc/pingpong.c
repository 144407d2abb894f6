/* The ping-pong loops: a client that stamps and sends one packet at a time and waits for
 * its echo, and a reflector that receives with the strategy under test, records one-way
 * latency and its two parts, and echoes. Both record into buffers the caller preallocated. */
#include "pingpong.h"

#include <errno.h>
#include <string.h>
#include <linux/errqueue.h>


struct rxt_rx {
    struct msghdr msg;
    struct iovec iov;
    struct sockaddr_storage from;
    char control[256];
};

static void rx_prepare(struct rxt_rx *rx, char *buf, size_t len)
{
    memset(&rx->msg, 0, sizeof(rx->msg));
    rx->iov.iov_base = buf;
    rx->iov.iov_len = len;
    rx->msg.msg_iov = &rx->iov;
    rx->msg.msg_iovlen = 1;
    rx->msg.msg_name = &rx->from;
    rx->msg.msg_namelen = sizeof(rx->from);
    rx->msg.msg_control = rx->control;
    rx->msg.msg_controllen = sizeof(rx->control);
}

/* The kernel's software RX stamp (SO_TIMESTAMPNS, CLOCK_REALTIME), or -1 when absent. */
static int64_t rx_kernel_stamp(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            return rxt_ns(&ts);
        }
    }
    return -1;
}

/* Wait for and receive one datagram. Returns its length, 0 when the deadline passed,
 * -errno on error. */
static ssize_t rx_one(int fd, int epfd, enum rxt_wait wait, struct rxt_rx *rx, char *buf,
                      size_t len, int64_t deadline)
{
    unsigned spins = 0;
    for (;;) {
        rx_prepare(rx, buf, len);
        int ready = rxt_wait_readable(fd, epfd, wait, RXT_SLICE_MS);
        if (ready < 0 && errno != EINTR)
            return -errno;
        if (ready <= 0) {
            if (rxt_now(CLOCK_MONOTONIC) > deadline)
                return 0;
            continue;
        }
        ssize_t got = recvmsg(fd, &rx->msg, wait == RXT_WAIT_BLOCK ? 0 : MSG_DONTWAIT);
        if (got >= 0)
            return got;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        /* spin: retry at once; blocking: SO_RCVTIMEO expired; poll/epoll: spurious */
        if (wait != RXT_WAIT_SPIN || (++spins & RXT_SPIN_CHECK_MASK) == 0) {
            if (rxt_now(CLOCK_MONOTONIC) > deadline)
                return 0;
        }
    }
}

/* Whether a received packet is the run's: its cookie, from the rule's address. */
static int is_runs(const struct rxt_loop *loop, const struct rxt_echo_rule *rule,
                   const struct rxt_rx *rx, const struct rxt_payload *head)
{
    if (head->cookie != loop->cookie)
        return 0;
    if (!rule || rule->from.sin_family == 0)
        return 1;
    const struct sockaddr_in *from = (const struct sockaddr_in *)&rx->from;
    return rx->msg.msg_namelen >= sizeof(*from) && from->sin_family == AF_INET &&
           from->sin_addr.s_addr == rule->from.sin_addr.s_addr &&
           (rule->from.sin_port == 0 || from->sin_port == rule->from.sin_port);
}

#define ECHO_BURST 64.0

/* A token bucket at the rule's rate: whether one more echo fits. */
static int within_rate(const struct rxt_echo_rule *rule, double *tokens, int64_t *last,
                       int64_t now)
{
    if (!rule || !rule->max_pps)
        return 1;
    *tokens += (double)(now - *last) * (double)rule->max_pps / 1e9;
    if (*tokens > ECHO_BURST)
        *tokens = ECHO_BURST;
    *last = now;
    if (*tokens < 1.0)
        return 0;
    *tokens -= 1.0;
    return 1;
}

int rxt_reflect(const struct rxt_loop *loop, const struct rxt_echo_rule *rule,
                struct rxt_samples *out, struct rxt_counts *counts)
{
    char buf[65536];
    struct rxt_rx rx;
    uint64_t next_seq = 0;
    double tokens = ECHO_BURST;
    int64_t refilled = rxt_now(CLOCK_MONOTONIC);
    memset(counts, 0, sizeof(*counts));
    for (;;) {
        ssize_t got = rx_one(loop->fd, loop->epfd, loop->wait, &rx, buf, sizeof(buf),
                             loop->deadline_ns);
        if (got == 0)
            return 0; /* deadline */
        if (got < 0)
            return (int)got;
        int64_t app_mono = rxt_now(CLOCK_MONOTONIC);
        int64_t app_real = rxt_now(CLOCK_REALTIME);
        struct rxt_payload head;
        if (got < RXT_MIN_MESSAGE) {
            counts->foreign++;
            continue;
        }
        memcpy(&head, buf, sizeof(head));
        if (!is_runs(loop, rule, &rx, &head)) {
            counts->foreign++;
            continue;
        }
        if (head.seq == RXT_SEQ_STOP)
            return 0;
        int echo = within_rate(rule, &tokens, &refilled, app_mono);
        if (!echo)
            counts->over_rate++;
        if (head.seq & RXT_SEQ_WARMUP) {
            if (echo)
                sendto(loop->fd, buf, (size_t)got, 0, (struct sockaddr *)&rx.from,
                       rx.msg.msg_namelen);
            continue;
        }
        if (head.seq < next_seq)
            counts->reordered++;
        else
            next_seq = head.seq + 1;
        counts->highest_seq = next_seq;
        if (counts->received < out->capacity) {
            size_t i = counts->received;
            int64_t kstamp = rx_kernel_stamp(&rx.msg);
            out->one_way[i] = app_mono - head.send_mono_ns;
            out->to_kernel[i] = kstamp < 0 ? -1 : kstamp - head.send_real_ns;
            out->kernel_to_app[i] = kstamp < 0 ? -1 : app_real - kstamp;
        }
        counts->received++;
        if (echo && sendto(loop->fd, buf, (size_t)got, 0, (struct sockaddr *)&rx.from,
                           rx.msg.msg_namelen) < 0)
            counts->send_errors++;
    }
}

int rxt_ping(const struct rxt_loop *loop, size_t message_size, uint64_t count, int warmup,
             int64_t reply_timeout_ns, struct rxt_samples *out, struct rxt_counts *counts)
{
    char buf[65536], reply[65536];
    struct rxt_rx rx;
    memset(counts, 0, sizeof(*counts));
    memset(buf, 0xa5, message_size);
    for (uint64_t seq = 0; seq < count; seq++) {
        int64_t now = rxt_now(CLOCK_MONOTONIC);
        if (now > loop->deadline_ns)
            break;
        struct rxt_payload head = {.seq = warmup ? seq | RXT_SEQ_WARMUP : seq, .send_mono_ns = now,
                                   .send_real_ns = rxt_now(CLOCK_REALTIME),
                                   .cookie = loop->cookie};
        memcpy(buf, &head, sizeof(head));
        if (send(loop->fd, buf, message_size, 0) < 0) {
            counts->send_errors++;
            continue;
        }
        counts->sent++;
        int64_t give_up = now + reply_timeout_ns;
        for (;;) { /* drain late echoes of earlier packets until ours arrives */
            ssize_t got = rx_one(loop->fd, loop->epfd, loop->wait, &rx, reply, sizeof(reply),
                                 give_up);
            if (got < 0)
                return (int)got;
            if (got == 0) {
                counts->timeouts++;
                break;
            }
            struct rxt_payload echo;
            if (got < RXT_MIN_MESSAGE)
                continue;
            memcpy(&echo, reply, sizeof(echo));
            if (echo.seq != head.seq)
                continue;
            if (counts->received < out->capacity) {
                out->one_way[counts->received] = rxt_now(CLOCK_MONOTONIC) - head.send_mono_ns;
                if (out->kernel_to_app) {
                    int64_t kstamp = rx_kernel_stamp(&rx.msg);
                    out->kernel_to_app[counts->received] =
                        kstamp < 0 ? -1 : rxt_now(CLOCK_REALTIME) - kstamp;
                }
            }
            counts->received++;
            break;
        }
    }
    if (warmup)
        return 0;
    struct rxt_payload stop = {.seq = RXT_SEQ_STOP, .cookie = loop->cookie};
    memcpy(buf, &stop, sizeof(stop));
    for (int i = 0; i < 3; i++)
        send(loop->fd, buf, message_size, 0);
    return 0;
}
