"""Host and namespace knobs: sysctls under net.core (and the one under kernel that decides
whether io_uring receivers can run). Ranges are the kernel's where it has a tighter one
than an int's: probed on 6.18 (a refused write changes nothing) and read from
net/core/sysctl_net_core.c."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

from ..backends.files import Sysctl
from .model import INT, Knob, Range, Scope

_SYSCTL = Sysctl()


@cache
def kernel_hz() -> int | None:
    """CONFIG_HZ from /proc/config.gz, where the kernel exposes its configuration."""
    try:
        with gzip.open(Path("/proc/config.gz"), "rt") as config:
            for line in config:
                if line.startswith("CONFIG_HZ="):
                    return int(line.split("=")[1])
    except (OSError, ValueError):
        pass
    return None


def _budget_usecs_range() -> Range:
    """The kernel refuses less than 2 jiffies (2 * USEC_PER_SEC / HZ)."""
    hz = kernel_hz()
    if hz is None:  # the smallest minimum of any HZ; the kernel refuses what is below its own
        return Range(2000, INT.high, "at least 2 jiffies: 8000 at HZ=250, 2000 at HZ=1000")
    return Range(2_000_000 // hz, INT.high, f"at least 2 jiffies at HZ={hz}")


def _sysctl(
    name: str,
    scope: Scope,
    unit: str,
    default: int | None,
    since: tuple[int, int],
    doc: str,
    valid: Range = INT,
    default_note: str = "",
) -> Knob:
    return Knob(
        name=name,
        scope=scope,
        unit=unit,
        default=default,
        since=since,
        backend=_SYSCTL,
        where=name,
        doc=doc,
        valid=valid,
        default_note=default_note,
        group="sysctl",
    )


_AT_LEAST_ONE = Range(1, INT.high)
# SOCK_MIN_RCVBUF: 2048 + sizeof(struct sk_buff), 2304 on 6.18 x86_64
_MIN_RCVBUF = Range(2304, INT.high, "the kernel's SOCK_MIN_RCVBUF")

KNOBS = (
    _sysctl(
        "net.core.busy_poll",
        Scope.HOST,
        "µs",
        0,
        (3, 11),
        "busy-poll time for poll/select/epoll on every socket of the host (0: off)",
    ),
    _sysctl(
        "net.core.busy_read",
        Scope.HOST,
        "µs",
        0,
        (3, 11),
        "busy-poll time for blocking reads; the SO_BUSY_POLL a new socket gets (0: off)",
    ),
    _sysctl(
        "net.core.netdev_budget",
        Scope.HOST,
        "packets",
        300,
        (2, 6),
        "packets one NET_RX softirq run may take from all NAPIs before it yields",
    ),
    _sysctl(
        "net.core.netdev_budget_usecs",
        Scope.HOST,
        "µs",
        None,
        (4, 12),
        "time one NET_RX softirq run may take before it yields (time_squeeze)",
        valid=_budget_usecs_range(),
        default_note="2 jiffies: 8000 at HZ=250, 2000 at HZ=1000",
    ),
    _sysctl(
        "net.core.dev_weight",
        Scope.HOST,
        "packets",
        64,
        (2, 6),
        "packets the backlog NAPI (RPS, non-NAPI devices) takes per poll",
        valid=_AT_LEAST_ONE,
    ),
    _sysctl(
        "net.core.netdev_max_backlog",
        Scope.HOST,
        "packets",
        1000,
        (2, 6),
        "per-CPU backlog queue length; overflow is counted as softnet 'dropped'",
    ),
    _sysctl(
        "net.core.gro_normal_batch",
        Scope.HOST,
        "packets",
        8,
        (5, 4),
        "packets GRO batches before passing them up the stack",
        valid=_AT_LEAST_ONE,
    ),
    _sysctl(
        "net.core.rps_sock_flow_entries",
        Scope.HOST,
        "flows",
        0,
        (2, 6),
        "Receive Flow Steering's global flow table: with a queue's rps_flow_cnt, steers a "
        "flow's packets to the CPU its reader last ran on (0: RFS off)",
    ),
    # other namespaces show these read-only: one value for the host
    _sysctl(
        "net.core.rmem_default",
        Scope.HOST,
        "bytes",
        212992,
        (2, 6),
        "receive buffer a new socket gets",
        valid=_MIN_RCVBUF,
        default_note="x86_64 and arm64",
    ),
    _sysctl(
        "net.core.rmem_max",
        Scope.HOST,
        "bytes",
        212992,
        (2, 6),
        "largest receive buffer SO_RCVBUF may ask for",
        valid=_MIN_RCVBUF,
        default_note="x86_64 and arm64",
    ),
    _sysctl(
        "kernel.io_uring_disabled",
        Scope.HOST,
        "mode",
        0,
        (6, 6),
        "0: io_uring for all; 1: only for the io_uring_group; 2: for no one "
        "(the io_uring receivers need 0)",
        valid=Range(0, 2),
    ),
)
