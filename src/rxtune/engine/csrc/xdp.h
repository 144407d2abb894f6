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
/* poll_mode 0: spin on the RX ring; 1: sleep in poll() until it has packets. */
int rxt_rx_xdp(struct rxt_xsk *xsk, int poll_mode, int64_t deadline_ns,
               struct rxt_rx_record *rec, struct rxt_rx_stats *st);
void rxt_xsk_close(struct rxt_xsk *xsk);

#endif
