#include "drops.h"
#include "bpf.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct rxt_drops {
    int map_fd, prog_fd, link_fd, ncpus;
    uint64_t *values; /* ncpus x RXT_DROP_SLOTS, as a per-CPU lookup returns them */
};

void rxt_drops_close(struct rxt_drops *d)
{
    if (!d)
        return;
    if (d->link_fd >= 0)
        close(d->link_fd);
    if (d->prog_fd >= 0)
        close(d->prog_fd);
    if (d->map_fd >= 0)
        close(d->map_fd);
    free(d->values);
    free(d);
}

int rxt_drops_open(int ncpus, struct rxt_drops **out, char *log, size_t log_size)
{
    if (ncpus < 1 || ncpus > 8192)
        return -EINVAL;
    struct rxt_drops *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->ncpus = ncpus;
    d->prog_fd = d->link_fd = -1;
    d->values = calloc((size_t)ncpus * RXT_DROP_SLOTS, sizeof(uint64_t));
    /* one entry whose value is every reason's counter: one lookup reads them all */
    struct attr_map_create create = {MAP_TYPE_PERCPU_ARRAY, 4,
                                     RXT_DROP_SLOTS * sizeof(uint64_t), 1, 0};
    d->map_fd = (int)rxt_bpf(CMD_MAP_CREATE, &create, sizeof(create));
    int rc = !d->values ? -ENOMEM : d->map_fd < 0 ? -errno : 0;
    if (!rc) {
        int m = d->map_fd;
        /* kfree_skb(skb, location, reason, rx_sk): slot[min(reason, last)] += 1 */
        const struct bpf_insn count[] = {
            LDX(BPF_DW, 6, 1, 16), JLE_K(6, RXT_DROP_SLOTS - 1, 1),
            MOV_K(6, RXT_DROP_SLOTS - 1), LOOKUP(m, 6), LSH_K(6, 3), ADD_X(7, 6),
            LDX(BPF_DW, 1, 7, 0), ADD_K(1, 1), STX(7, 1, 0), EXIT_0,
        };
        rc = rxt_bpf_raw_tracepoint(count, sizeof(count) / sizeof(count[0]), "rxt_drops",
                                    "kfree_skb", &d->prog_fd, &d->link_fd, log, log_size);
    }
    if (rc) {
        rxt_drops_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

int rxt_drops_read(struct rxt_drops *d, uint64_t *out)
{
    uint32_t key = 0;
    struct attr_lookup lookup = {.map_fd = (uint32_t)d->map_fd,
                                 .key = (uint64_t)(uintptr_t)&key,
                                 .value = (uint64_t)(uintptr_t)d->values};
    if (rxt_bpf(CMD_MAP_LOOKUP_ELEM, &lookup, sizeof(lookup)) < 0)
        return -errno;
    for (int slot = 0; slot < RXT_DROP_SLOTS; slot++) {
        uint64_t sum = 0;
        for (int c = 0; c < d->ncpus; c++)
            sum += d->values[(size_t)c * RXT_DROP_SLOTS + (size_t)slot];
        out[slot] = sum;
    }
    return 0;
}
