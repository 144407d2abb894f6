/* bpf(2) without libbpf: the commands' attr layouts, instruction builders after the
 * kernel's filter.h macros, and a loader for raw tracepoint programs. Numbers and layouts
 * are written out here (include/uapi/linux/bpf.h), so that old system headers do not
 * matter. */
#ifndef RXTUNE_BPF_H
#define RXTUNE_BPF_H

#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>

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

long rxt_bpf(int cmd, void *attr, size_t size);
/* Load a raw tracepoint program and attach it to `tracepoint`: its fd in *prog, the
 * attachment's in *link (closing both detaches it). Writes the verifier's log on failure.
 * Returns 0 or -errno. */
int rxt_bpf_raw_tracepoint(const struct bpf_insn *insns, size_t count, const char *name,
                           const char *tracepoint, int *prog, int *link, char *log,
                           size_t log_size);

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
#define JLE_K(d, i, o) I(BPF_JMP | BPF_JLE | BPF_K, d, 0, o, i)
#define LSH_K(d, i) I(BPF_ALU64 | BPF_LSH | BPF_K, d, 0, 0, i)
#define JA(o) I(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define CALL(h) I(BPF_JMP | BPF_CALL, 0, 0, 0, h)
#define EXIT_0 MOV_K(0, 0), I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP(d, fd) I(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), I(0, 0, 0, 0, 0)
/* r7 = this CPU's slot of the map (key 0), or jump to_exit from the 7th of its 8
 * instructions. Jump offsets count from the next instruction. */
#define LOOKUP(fd, to_exit)                                                                   \
    STW_K(10, -4, 0), MOV_X(2, 10), ADD_K(2, -4), LD_MAP(1, fd), CALL(HELPER_MAP_LOOKUP_ELEM), \
        JEQ_K(0, 0, to_exit), MOV_X(7, 0)

#endif
