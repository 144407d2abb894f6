/* The receive path as batches: the common part, the UDP socket family and the engine's own
 * recording loop. io_uring, TPACKET_V3 and AF_XDP live in uring.c, tpacket.c and xdp.c. */
#include "rx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <net/ethernet.h>
#include <sys/time.h>

#define CONTROL_SIZE 128

struct rxt_rx *rxt_rx_alloc(const struct rxt_rx_ops *ops, unsigned capacity, size_t impl_size)
{
    if (capacity < 1 || capacity > RXT_MAX_BATCH)
        return NULL;
    struct rxt_rx *rx = calloc(1, sizeof(*rx));
    if (!rx)
        return NULL;
    rx->ops = ops;
    rx->capacity = capacity;
    rx->pkts = calloc(capacity, sizeof(*rx->pkts));
    rx->impl = calloc(1, impl_size);
    if (!rx->pkts || !rx->impl) {
        rxt_rx_free(rx);
        return NULL;
    }
    return rx;
}

void rxt_rx_free(struct rxt_rx *rx)
{
    if (!rx)
        return;
    free(rx->pkts);
    free(rx->impl);
    free(rx);
}

void rxt_rx_close(struct rxt_rx *rx)
{
    if (!rx)
        return;
    rxt_rx_release(rx);
    rx->ops->close(rx);
    rxt_rx_free(rx);
}

int rxt_slice_ms(int64_t deadline_ns)
{
    if (deadline_ns == INT64_MAX)
        return RXT_SLICE_MS;
    int64_t left = deadline_ns - rxt_now(CLOCK_MONOTONIC);
    if (left <= 0)
        return 0;
    if (left >= RXT_SLICE_NS)
        return RXT_SLICE_MS;
    return (int)((left + 999999) / 1000000);
}

int rxt_parse_udp(const char *frame, size_t len, uint16_t port, struct rxt_packet *out)
{
    if (len < sizeof(struct ether_header) + sizeof(struct iphdr) + sizeof(struct udphdr))
        return 0;
    const struct ether_header *eth = (const struct ether_header *)frame;
    if (eth->ether_type != htons(ETHERTYPE_IP))
        return 0;
    const struct iphdr *ip = (const struct iphdr *)(frame + sizeof(*eth));
    size_t ihl = (size_t)ip->ihl * 4;
    if (ip->protocol != IPPROTO_UDP || ihl < sizeof(*ip) || len < sizeof(*eth) + ihl + 8)
        return 0;
    const struct udphdr *udp = (const struct udphdr *)(frame + sizeof(*eth) + ihl);
    if (ntohs(udp->dest) != port)
        return 0;
    size_t udp_len = ntohs(udp->len);
    size_t offset = sizeof(*eth) + ihl + sizeof(*udp);
    if (udp_len < sizeof(*udp) || offset + udp_len - sizeof(*udp) > len)
        return 0;
    out->data = frame + offset;
    out->len = (uint32_t)(udp_len - sizeof(*udp));
    out->src_ip = ip->saddr;
    out->src_port = ntohs(udp->source);
    return 1;
}

int rxt_rx_run(struct rxt_rx *rx, int64_t deadline_ns, struct rxt_rx_record *rec,
               struct rxt_rx_stats *st)
{
    memset(st, 0, sizeof(*st));
    uint64_t foreign = rx->foreign;
    rx->ops->read_drops(rx); /* counters of TPACKET reset on read: start from here */
    uint64_t drops = rx->ring_drops;
    int rc = 0;
    for (;;) {
        int n = rxt_rx_next(rx, deadline_ns, rx->capacity);
        if (n < 0) {
            rc = n;
            break;
        }
        int64_t app = rxt_now(CLOCK_MONOTONIC);
        if (n > 0) {
            st->calls++;
            for (int i = 0; i < n; i++) {
                const struct rxt_packet *p = &rx->pkts[i];
                rxt_record_packet(rec, st, p->data, p->len, app, p->stamp_real);
            }
            rxt_rx_release(rx);
        }
        if (app > deadline_ns)
            break;
    }
    rx->ops->read_drops(rx);
    st->ring_drops = rx->ring_drops - drops;
    st->foreign += rx->foreign - foreign;
    st->socket_overflows = rx->socket_overflows;
    return rc;
}

/* The UDP socket family: recvmsg for one packet, recvmmsg for more, after the strategy's
 * wait. Batches land in buffers of the receiver's own. */
struct socket_rx {
    int fd, epfd;
    enum rxt_wait wait;
    size_t buffer_size;
    int64_t rcvtimeo_ns; /* SO_RCVTIMEO as last set: a blocking read's longest wait */
    char *bufs;
    char (*controls)[CONTROL_SIZE];
    struct mmsghdr *msgs;
    struct iovec *iovs;
    struct sockaddr_in *names;
};

/* cmsgs of one message: the RX software stamp and the socket's drop counter */
static int64_t scan_cmsgs(struct msghdr *msg, struct rxt_rx *rx)
{
    int64_t stamp = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SO_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            stamp = rxt_ns(&ts);
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t dropped;
            memcpy(&dropped, CMSG_DATA(c), sizeof(dropped));
            if (dropped > rx->socket_overflows)
                rx->socket_overflows = dropped;
        }
    }
    return stamp;
}

/* A blocking read waits at most one slice (SO_RCVTIMEO, as open_udp set it), shorter when
 * the deadline is nearer; set again only to shorten it or to go back to the slice. */
static int bound_blocking_read(struct socket_rx *s, int64_t left)
{
    int64_t want = left > RXT_SLICE_NS ? RXT_SLICE_NS : left;
    if (want < 1000)
        want = 1000; /* a zero timeval would mean no timeout at all */
    int shorten = want < s->rcvtimeo_ns, back = want == RXT_SLICE_NS && s->rcvtimeo_ns != want;
    if (!shorten && !back)
        return 0;
    struct timeval tv = {.tv_sec = want / 1000000000LL, .tv_usec = (want % 1000000000LL) / 1000};
    if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    s->rcvtimeo_ns = want;
    return 0;
}

static int socket_next(struct rxt_rx *rx, int64_t deadline_ns, unsigned max)
{
    struct socket_rx *s = rx->impl;
    /* no deadline (no timeout) needs no clock: a blocking read waits one slice at most */
    int64_t left = deadline_ns == INT64_MAX ? INT64_MAX : deadline_ns - rxt_now(CLOCK_MONOTONIC);
    int blocking = s->wait == RXT_WAIT_BLOCK && left > 0;
    if (blocking) {
        int rc = bound_blocking_read(s, left);
        if (rc < 0)
            return rc;
    } else if (s->wait == RXT_WAIT_POLL || s->wait == RXT_WAIT_EPOLL) {
        int ready = rxt_wait_readable(s->fd, s->epfd, s->wait, rxt_slice_ms(deadline_ns));
        if (ready < 0 && errno != EINTR)
            return -errno;
        if (ready <= 0)
            return 0;
    }
    int64_t slice_end = 0; /* spinning: read when the first spin comes back empty */
    unsigned spins = 0;
    for (;;) {
        for (unsigned i = 0; i < max; i++) {
            s->msgs[i].msg_hdr.msg_controllen = sizeof(s->controls[i]);
            s->msgs[i].msg_hdr.msg_namelen = sizeof(s->names[i]);
            s->msgs[i].msg_hdr.msg_flags = 0;
        }
        int got;
        if (max == 1) {
            ssize_t n = recvmsg(s->fd, &s->msgs[0].msg_hdr, blocking ? 0 : MSG_DONTWAIT);
            got = n < 0 ? -1 : 1;
            if (n >= 0)
                s->msgs[0].msg_len = (unsigned)n;
        } else {
            got = recvmmsg(s->fd, s->msgs, max, blocking ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
        }
        if (got > 0) {
            for (int i = 0; i < got; i++) {
                struct msghdr *h = &s->msgs[i].msg_hdr;
                struct rxt_packet *p = &rx->pkts[i];
                p->data = h->msg_iov->iov_base;
                p->len = s->msgs[i].msg_len;
                if (h->msg_flags & MSG_TRUNC) {
                    rx->truncated++;
                    if (p->len > s->buffer_size)
                        p->len = (uint32_t)s->buffer_size;
                }
                p->src_ip = h->msg_namelen >= sizeof(struct sockaddr_in) ? s->names[i].sin_addr.s_addr : 0;
                p->src_port = ntohs(s->names[i].sin_port);
                p->stamp_real = scan_cmsgs(h, rx);
            }
            return got;
        }
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return got == 0 ? 0 : -errno;
        if (s->wait != RXT_WAIT_SPIN)
            return 0;
        if (!slice_end) {
            slice_end = rxt_now(CLOCK_MONOTONIC) + RXT_SLICE_NS;
            if (slice_end > deadline_ns)
                slice_end = deadline_ns;
        }
        if ((++spins & RXT_SPIN_CHECK_MASK) == 0 && rxt_now(CLOCK_MONOTONIC) >= slice_end)
            return 0;
    }
}

static void socket_release(struct rxt_rx *rx) {} /* the next call overwrites the buffers */
static void socket_read_drops(struct rxt_rx *rx) {}
static int socket_fd(struct rxt_rx *rx) { return ((struct socket_rx *)rx->impl)->fd; }

static void socket_close(struct rxt_rx *rx)
{
    struct socket_rx *s = rx->impl;
    free(s->bufs);
    free(s->controls);
    free(s->msgs);
    free(s->iovs);
    free(s->names);
}

static const struct rxt_rx_ops socket_ops = {socket_next, socket_release, socket_read_drops,
                                             socket_fd, socket_close};

int rxt_rx_open_socket(int fd, int epfd, enum rxt_wait wait, unsigned capacity,
                       size_t buffer_size, struct rxt_rx **out)
{
    if (buffer_size < 1 || buffer_size > 65536 || wait > RXT_WAIT_SPIN)
        return -EINVAL;
    struct rxt_rx *rx = rxt_rx_alloc(&socket_ops, capacity, sizeof(struct socket_rx));
    if (!rx)
        return -EINVAL;
    struct socket_rx *s = rx->impl;
    s->fd = fd;
    s->epfd = epfd;
    s->wait = wait;
    s->buffer_size = buffer_size;
    s->rcvtimeo_ns = RXT_SLICE_NS; /* as the socket was set up */
    s->bufs = malloc(capacity * buffer_size);
    s->controls = calloc(capacity, sizeof(*s->controls));
    s->msgs = calloc(capacity, sizeof(*s->msgs));
    s->iovs = calloc(capacity, sizeof(*s->iovs));
    s->names = calloc(capacity, sizeof(*s->names));
    if (!s->bufs || !s->controls || !s->msgs || !s->iovs || !s->names) {
        socket_close(rx);
        rxt_rx_free(rx);
        return -ENOMEM;
    }
    memset(s->bufs, 0, capacity * buffer_size); /* faulted in before the first packet */
    for (unsigned i = 0; i < capacity; i++) {
        s->iovs[i].iov_base = s->bufs + i * buffer_size;
        s->iovs[i].iov_len = buffer_size;
        s->msgs[i].msg_hdr.msg_iov = &s->iovs[i];
        s->msgs[i].msg_hdr.msg_iovlen = 1;
        s->msgs[i].msg_hdr.msg_control = s->controls[i];
        s->msgs[i].msg_hdr.msg_name = &s->names[i];
    }
    *out = rx;
    return 0;
}
