#ifndef RXTUNE_XDP_H
#define RXTUNE_XDP_H

#include "load.h"

/* An AF_XDP socket with its UMEM and rings, in copy mode. */
struct rxt_xsk;

/* Load the redirect program and its XSKMAP by bpf(2), without libbpf. */
int rxt_xdp_prog_load(int *prog_fd, int *map_fd, char *log, size_t log_size);
/* A program that drops every frame: the null receiver that calibrates the cost of the path
 * up to the receiver. */
int rxt_xdp_drop_prog_load(int *prog_fd);
/* Create the socket, bind it to ifindex/queue (copy mode, need-wakeup on) and enter it in
 * the map. *out is freed by rxt_xsk_close. */
int rxt_xsk_open(int ifindex, unsigned queue, int map_fd, unsigned frames, struct rxt_xsk **out);
/* Attach an XDP program to a device through a BPF link (5.9): it stays attached while the
 * link fd is open, so it is gone when the process exits, however it exits. Returns the
 * link fd or -errno; flags as IFLA_XDP_FLAGS (XDP_FLAGS_DRV_MODE). */
int rxt_xdp_link(int prog_fd, int ifindex, unsigned flags);
void rxt_xsk_close(struct rxt_xsk *xsk);

#endif
