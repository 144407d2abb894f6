"""Keep only the capabilities a process needs (capset(2), prctl PR_CAPBSET_DROP), so a
server that talks to the network cannot do what it never needs to."""

from __future__ import annotations

import ctypes
import os

from ..errors import RxtuneError

CAP_NET_ADMIN, CAP_NET_RAW, CAP_IPC_LOCK, CAP_SYS_RESOURCE = 12, 13, 14, 24
CAP_PERFMON, CAP_BPF = 38, 39
NAMES = {
    CAP_NET_ADMIN: "CAP_NET_ADMIN",
    CAP_NET_RAW: "CAP_NET_RAW",
    CAP_IPC_LOCK: "CAP_IPC_LOCK",
    CAP_SYS_RESOURCE: "CAP_SYS_RESOURCE",
    CAP_PERFMON: "CAP_PERFMON",
    CAP_BPF: "CAP_BPF",
}
LAST_CAP = 63
PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_libc = ctypes.CDLL(None, use_errno=True)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def keep_only(keep: set[int]) -> list[str]:
    """Drop every capability but `keep` from this process (and its bounding set, so no
    exec regains them); the names kept. Without CAP_SETPCAP (not root) nothing changes."""
    if os.geteuid() != 0:
        return []
    for cap in range(LAST_CAP + 1):
        if cap not in keep:
            _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last: fine
    # only what this process has: a container may have withheld some (CAP_SYS_RESOURCE)
    mask = sum(1 << cap for cap in keep) & _status("CapPrm")
    data = (_Data * 2)(
        _Data(mask & 0xFFFFFFFF, mask & 0xFFFFFFFF, 0), _Data(mask >> 32, mask >> 32, 0)
    )
    if _libc.capset(ctypes.byref(_Header(_LINUX_CAPABILITY_VERSION_3, 0)), data) != 0:
        raise RxtuneError(f"capset: {os.strerror(ctypes.get_errno())}")
    return sorted(NAMES[c] for c in keep if mask >> c & 1)


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1], 16)
    return 0


def effective() -> int:
    """This process's effective capability mask."""
    return _status("CapEff")
