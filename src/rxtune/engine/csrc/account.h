/* Whole-machine receive accounting: tiny BPF programs on raw tracepoints add up, per CPU,
 * the time in NET_RX softirqs, in idle and (with threaded NAPI) in NAPI kthreads, so that a
 * receive cost counts the work that runs outside the receiving thread. No libbpf, no
 * tracefs: bpf(2) with instructions written out here. */
#ifndef RXTUNE_ACCOUNT_H
#define RXTUNE_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

/* One CPU's totals, as the programs keep them (the map's value; keep in step with the
 * offsets in account.c). *_since are the start of what is in progress, 0 when nothing. */
struct rxt_cpu_account {
    uint64_t softirq_since, net_rx_ns, net_rx_count;
    uint64_t idle_since, idle_ns;
    uint64_t last_switch, napi_thread_ns;
};

struct rxt_account;

/* Load and attach the programs; napi_threads adds the sched_switch program (each context
 * switch pays for it, so only when threaded NAPI is on). stats turns on the kernel's run
 * time statistics for BPF programs while the account is open. Writes the verifier's log
 * on failure. */
int rxt_account_open(int ncpus, int napi_threads, int stats, struct rxt_account **out,
                     char *log, size_t log_size);
/* Copy every CPU's totals into out[ncpus], with what is in progress counted up to *now_ns
 * (CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns). */
int rxt_account_read(struct rxt_account *acct, struct rxt_cpu_account *out, int64_t *now_ns);
/* The programs' own run time and run count so far (0 without stats). */
int rxt_account_overhead(struct rxt_account *acct, uint64_t *run_time_ns, uint64_t *run_count);
void rxt_account_close(struct rxt_account *acct);

#endif
