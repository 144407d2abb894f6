#include "account.h"
#include "bpf.h"
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NET_RX_SOFTIRQ 3
#define COMM_NAPI 0x6970616e /* "napi" read as a little-endian u32: kthreads "napi/DEV-ID" */

#define OFF(field) ((short)offsetof(struct rxt_cpu_account, field))

#define MAX_PROGS 4

struct rxt_account {
    int map_fd, stats_fd, ncpus, nprogs;
    int prog_fds[MAX_PROGS], link_fds[MAX_PROGS];
    struct rxt_cpu_account *values;
};

#define ADD_TO(field, s) LDX(BPF_DW, 2, 7, OFF(field)), ADD_X(2, s), STX(7, 2, OFF(field))

static int load(struct rxt_account *a, const struct bpf_insn *insns, size_t count,
                const char *name, const char *tracepoint, char *log, size_t log_size)
{
    int rc = rxt_bpf_raw_tracepoint(insns, count, name, tracepoint, &a->prog_fds[a->nprogs],
                                    &a->link_fds[a->nprogs], log, log_size);
    if (!rc)
        a->nprogs++;
    return rc;
}

static int load_programs(struct rxt_account *a, int napi_threads, char *log, size_t log_size)
{
    int m = a->map_fd;
    /* softirq_entry(vec): note when a NET_RX softirq starts */
    const struct bpf_insn entry[] = {
        LDX(BPF_DW, 6, 1, 0), JNE_K(6, NET_RX_SOFTIRQ, 10), LOOKUP(m, 3),
        CALL(HELPER_KTIME_GET_NS), STX(7, 0, OFF(softirq_since)), EXIT_0,
    };
    /* softirq_exit(vec): add its time and count it */
    const struct bpf_insn exit_[] = {
        LDX(BPF_DW, 6, 1, 0), JNE_K(6, NET_RX_SOFTIRQ, 20), LOOKUP(m, 13),
        CALL(HELPER_KTIME_GET_NS), LDX(BPF_DW, 1, 7, OFF(softirq_since)), JEQ_K(1, 0, 9),
        ST0(7, OFF(softirq_since)), SUB_X(0, 1), ADD_TO(net_rx_ns, 0),
        MOV_K(3, 1), ADD_TO(net_rx_count, 3), EXIT_0,
    };
    /* cpu_idle(state, cpu): state (u32)-1 is the exit from idle */
    const struct bpf_insn idle[] = {
        LDX(BPF_DW, 6, 1, 0), LOOKUP(m, 13), CALL(HELPER_KTIME_GET_NS), MOV32_K(1, -1),
        JEQ_X(6, 1, 2), STX(7, 0, OFF(idle_since)), JA(7),
        LDX(BPF_DW, 1, 7, OFF(idle_since)), JEQ_K(1, 0, 5), ST0(7, OFF(idle_since)),
        SUB_X(0, 1), ADD_TO(idle_ns, 0), EXIT_0,
    };
    /* sched_switch: the task leaving is current; the time since the CPU's last switch was
     * its run, added when it is a NAPI kthread */
    const struct bpf_insn sched[] = {
        LOOKUP(m, 18), CALL(HELPER_KTIME_GET_NS), MOV_X(8, 0), MOV_X(1, 10), ADD_K(1, -24),
        MOV_K(2, 16), CALL(HELPER_GET_CURRENT_COMM), LDX(BPF_DW, 9, 7, OFF(last_switch)),
        STX(7, 8, OFF(last_switch)), LDX(BPF_W, 1, 10, -24), JNE_K(1, COMM_NAPI, 7),
        LDX(BPF_B, 1, 10, -20), JNE_K(1, '/', 5), JEQ_K(9, 0, 4), SUB_X(8, 9),
        ADD_TO(napi_thread_ns, 8), EXIT_0,
    };
#define LOAD(p, name, tp) load(a, p, sizeof(p) / sizeof(p[0]), name, tp, log, log_size)
    int rc = LOAD(entry, "rxt_net_rx_in", "softirq_entry");
    if (!rc)
        rc = LOAD(exit_, "rxt_net_rx_out", "softirq_exit");
    if (!rc)
        rc = LOAD(idle, "rxt_idle", "cpu_idle");
    if (!rc && napi_threads)
        rc = LOAD(sched, "rxt_napi_thread", "sched_switch");
    return rc;
}

void rxt_account_close(struct rxt_account *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->nprogs; i++) {
        close(a->link_fds[i]);
        close(a->prog_fds[i]);
    }
    if (a->map_fd >= 0)
        close(a->map_fd);
    if (a->stats_fd >= 0)
        close(a->stats_fd);
    free(a->values);
    free(a);
}

int rxt_account_open(int ncpus, int napi_threads, int stats, struct rxt_account **out,
                     char *log, size_t log_size)
{
    if (ncpus < 1 || ncpus > 8192)
        return -EINVAL;
    struct rxt_account *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->ncpus = ncpus;
    a->stats_fd = -1;
    a->values = calloc((size_t)ncpus, sizeof(*a->values));
    struct attr_map_create create = {MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct rxt_cpu_account),
                                     1, 0};
    a->map_fd = (int)rxt_bpf(CMD_MAP_CREATE, &create, sizeof(create));
    int rc = !a->values ? -ENOMEM : a->map_fd < 0 ? -errno : 0;
    if (!rc)
        rc = load_programs(a, napi_threads, log, log_size);
    if (!rc && stats) {
        uint32_t type = STATS_RUN_TIME;
        a->stats_fd = (int)rxt_bpf(CMD_ENABLE_STATS, &type, sizeof(type));
        if (a->stats_fd < 0)
            rc = -errno;
    }
    if (rc) {
        rxt_account_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

int rxt_account_read(struct rxt_account *a, struct rxt_cpu_account *out, int64_t *now_ns)
{
    uint32_t key = 0;
    struct attr_lookup lookup = {.map_fd = (uint32_t)a->map_fd,
                                 .key = (uint64_t)(uintptr_t)&key,
                                 .value = (uint64_t)(uintptr_t)a->values};
    if (rxt_bpf(CMD_MAP_LOOKUP_ELEM, &lookup, sizeof(lookup)) < 0)
        return -errno;
    int64_t now = rxt_now(CLOCK_MONOTONIC);
    for (int c = 0; c < a->ncpus; c++) {
        struct rxt_cpu_account v = a->values[c];
        if (v.idle_since && (int64_t)v.idle_since < now)
            v.idle_ns += (uint64_t)now - v.idle_since;
        if (v.softirq_since && (int64_t)v.softirq_since < now)
            v.net_rx_ns += (uint64_t)now - v.softirq_since;
        out[c] = v;
    }
    *now_ns = now;
    return 0;
}

int rxt_account_overhead(struct rxt_account *a, uint64_t *run_time_ns, uint64_t *run_count)
{
    *run_time_ns = *run_count = 0;
    for (int i = 0; i < a->nprogs; i++) {
        struct prog_info info;
        memset(&info, 0, sizeof(info));
        struct attr_info get = {.bpf_fd = (uint32_t)a->prog_fds[i], .info_len = sizeof(info),
                                .info = (uint64_t)(uintptr_t)&info};
        if (rxt_bpf(CMD_OBJ_GET_INFO_BY_FD, &get, sizeof(get)) < 0)
            return -errno;
        *run_time_ns += info.run_time_ns;
        *run_count += info.run_cnt;
    }
    return 0;
}
