#include "bpf.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

long rxt_bpf(int cmd, void *attr, size_t size)
{
    return syscall(__NR_bpf, cmd, attr, size);
}

int rxt_bpf_raw_tracepoint(const struct bpf_insn *insns, size_t count, const char *name,
                           const char *tracepoint, int *prog, int *link, char *log,
                           size_t log_size)
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
    *prog = (int)rxt_bpf(CMD_PROG_LOAD, &load, sizeof(load));
    if (*prog < 0)
        return -errno;
    struct attr_raw_tracepoint open = {.name = (uint64_t)(uintptr_t)tracepoint,
                                       .prog_fd = (uint32_t)*prog};
    *link = (int)rxt_bpf(CMD_RAW_TRACEPOINT_OPEN, &open, sizeof(open));
    if (*link < 0) {
        int err = errno;
        close(*prog);
        return -err;
    }
    return 0;
}
