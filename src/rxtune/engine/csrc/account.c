#include "account.h"
#include "common.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

/* bpf(2) commands, types and helpers by number (include/uapi/linux/bpf.h), so that old
 * system headers do not matter. */
#define CMD_MAP_CREATE 0
#define CMD_MAP_LOOKUP_ELEM 1
#define CMD_PROG_LOAD 5
#define CMD_OBJ_GET_INFO_BY_FD 15
#define CMD_RAW_TRACEPOINT_OPEN 17 /* 4.17 */
#define CMD_ENABLE_STATS 32        /* 5.8 */
#define MAP_TYPE_PERCPU_ARRAY 6
#define PROG_TYPE_RAW_TRACEPOINT 17
#define STATS_RUN_TIME 0
#define HELPER_MAP_LOOKUP_ELEM 1
#define HELPER_KTIME_GET_NS 5
#define HELPER_GET_CURRENT_COMM 16
#define NET_RX_SOFTIRQ 3
#define COMM_NAPI 0x6970616e /* "napi" read as a little-endian u32: kthreads "napi/DEV-ID" */

#define OFF(field) ((short)offsetof(struct rxt_cpu_account, field))

/* The attr layouts of the commands used here (a prefix of union bpf_attr each). */
struct attr_map_create {
    uint32_t map_type, key_size, value_size, max_entries, map_flags;
};
struct attr_lookup {
    uint32_t map_fd, pad;
    uint64_t key, value, flags;
};
struct attr_prog_load {
    uint32_t prog_type, insn_cnt;
    uint64_t insns, license;
    uint32_t log_level, log_size;
    uint64_t log_buf;
    uint32_t kern_version, prog_flags;
    char prog_name[16];
};
struct attr_raw_tracepoint {
    uint64_t name;
    uint32_t prog_fd, pad;
};
struct attr_info {
    uint32_t bpf_fd, info_len;
    uint64_t info;
};
/* struct bpf_prog_info up to run_cnt (5.1): the kernel fills what info_len allows */
struct prog_info {
    uint32_t type, id;
    uint8_t tag[8];
    uint32_t jited_prog_len, xlated_prog_len;
    uint64_t jited_prog_insns, xlated_prog_insns, load_time;
    uint32_t created_by_uid, nr_map_ids;
    uint64_t map_ids;
    char name[16];
    uint32_t ifindex, gpl_compatible;
    uint64_t netns_dev, netns_ino;
    uint32_t nr_jited_ksyms, nr_jited_func_lens;
    uint64_t jited_ksyms, jited_func_lens;
    uint32_t btf_id, func_info_rec_size;
    uint64_t func_info;
    uint32_t nr_func_info, nr_line_info;
    uint64_t line_info, jited_line_info;
    uint32_t nr_jited_line_info, line_info_rec_size, jited_line_info_rec_size, nr_prog_tags;
    uint64_t prog_tags, run_time_ns, run_cnt;
};

#define MAX_PROGS 4

struct rxt_account {
    int map_fd, stats_fd, ncpus, nprogs;
    int prog_fds[MAX_PROGS], link_fds[MAX_PROGS];
    struct rxt_cpu_account *values;
};

static long sys_bpf(int cmd, void *attr, size_t size)
{
    return syscall(__NR_bpf, cmd, attr, size);
}

/* Instruction builders, after the kernel's filter.h macros. */
#define I(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define MOV_K(d, i) I(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV32_K(d, i) I(BPF_ALU | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_X(d, s) I(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD_K(d, i) I(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define ADD_X(d, s) I(BPF_ALU64 | BPF_ADD | BPF_X, d, s, 0, 0)
#define SUB_X(d, s) I(BPF_ALU64 | BPF_SUB | BPF_X, d, s, 0, 0)
#define LDX(size, d, s, o) I(BPF_LDX | BPF_MEM | (size), d, s, o, 0)
#define STX(d, s, o) I(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define ST0(d, o) I(BPF_ST | BPF_MEM | BPF_DW, d, 0, o, 0)
#define STW_K(d, o, i) I(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define JNE_K(d, i, o) I(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JEQ_K(d, i, o) I(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define JEQ_X(d, s, o) I(BPF_JMP | BPF_JEQ | BPF_X, d, s, o, 0)
#define JA(o) I(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define CALL(h) I(BPF_JMP | BPF_CALL, 0, 0, 0, h)
#define EXIT_0 MOV_K(0, 0), I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP(d, fd) I(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), I(0, 0, 0, 0, 0)
/* r7 = this CPU's slot of the map (key 0), or jump to_exit from the 7th of its 8
 * instructions. Jump offsets count from the next instruction. */
#define LOOKUP(fd, to_exit)                                                                   \
    STW_K(10, -4, 0), MOV_X(2, 10), ADD_K(2, -4), LD_MAP(1, fd), CALL(HELPER_MAP_LOOKUP_ELEM), \
        JEQ_K(0, 0, to_exit), MOV_X(7, 0)
#define ADD_TO(field, s) LDX(BPF_DW, 2, 7, OFF(field)), ADD_X(2, s), STX(7, 2, OFF(field))

static int load(struct rxt_account *a, const struct bpf_insn *insns, size_t count,
                const char *name, const char *tracepoint, char *log, size_t log_size)
{
    struct attr_prog_load load = {
        .prog_type = PROG_TYPE_RAW_TRACEPOINT,
        .insn_cnt = (uint32_t)count,
        .insns = (uint64_t)(uintptr_t)insns,
        .license = (uint64_t)(uintptr_t)"GPL",
        .log_level = log_size ? 1 : 0,
        .log_size = (uint32_t)log_size,
        .log_buf = (uint64_t)(uintptr_t)log,
    };
    strncpy(load.prog_name, name, sizeof(load.prog_name) - 1);
    int prog = (int)sys_bpf(CMD_PROG_LOAD, &load, sizeof(load));
    if (prog < 0)
        return -errno;
    a->prog_fds[a->nprogs] = prog;
    struct attr_raw_tracepoint open = {.name = (uint64_t)(uintptr_t)tracepoint,
                                       .prog_fd = (uint32_t)prog};
    int link = (int)sys_bpf(CMD_RAW_TRACEPOINT_OPEN, &open, sizeof(open));
    if (link < 0) {
        int err = errno;
        close(prog);
        return -err;
    }
    a->link_fds[a->nprogs++] = link;
    return 0;
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
    a->map_fd = (int)sys_bpf(CMD_MAP_CREATE, &create, sizeof(create));
    int rc = !a->values ? -ENOMEM : a->map_fd < 0 ? -errno : 0;
    if (!rc)
        rc = load_programs(a, napi_threads, log, log_size);
    if (!rc && stats) {
        uint32_t type = STATS_RUN_TIME;
        a->stats_fd = (int)sys_bpf(CMD_ENABLE_STATS, &type, sizeof(type));
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
    if (sys_bpf(CMD_MAP_LOOKUP_ELEM, &lookup, sizeof(lookup)) < 0)
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
        if (sys_bpf(CMD_OBJ_GET_INFO_BY_FD, &get, sizeof(get)) < 0)
            return -errno;
        *run_time_ns += info.run_time_ns;
        *run_count += info.run_cnt;
    }
    return 0;
}
