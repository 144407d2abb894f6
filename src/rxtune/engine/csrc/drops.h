/* Why packets die: a BPF program on the kfree_skb raw tracepoint counts every dropped
 * packet by its drop reason (enum skb_drop_reason, 5.17+, the tracepoint's third
 * argument), per CPU. The reasons' names come from the kernel's BTF (Python side). */
#ifndef RXTUNE_DROPS_H
#define RXTUNE_DROPS_H

#include <stddef.h>
#include <stdint.h>

/* Reasons at or past the last slot (a subsystem's reasons carry its id from bit 16 up)
 * are counted together in it. */
#define RXT_DROP_SLOTS 1024

struct rxt_drops;

int rxt_drops_open(int ncpus, struct rxt_drops **out, char *log, size_t log_size);
/* The counts so far, summed over CPUs, into out[RXT_DROP_SLOTS]. */
int rxt_drops_read(struct rxt_drops *drops, uint64_t *out);
void rxt_drops_close(struct rxt_drops *drops);

#endif
