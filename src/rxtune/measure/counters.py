"""The kernel's own counters, snapshotted before and after a run: per CPU (hard IRQs,
NET_RX softirqs, user/system/softirq time), per thread (context switches, CPU time) and
per namespace (busy-poll packets, UDP drops)."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from ..backends import procfs
from ..host import Host

TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    hardirqs: tuple[int, ...]
    net_rx: tuple[int, ...]
    ticks: dict[int, dict[str, int]]


def cpu_snapshot(host: Host = Host()) -> CpuSnapshot:
    lines = procfs.read_interrupts(host)
    ncpu = max((len(line.per_cpu) for line in lines), default=0)
    hardirqs = tuple(
        sum(line.per_cpu[c] for line in lines if len(line.per_cpu) > c) for c in range(ncpu)
    )
    return CpuSnapshot(
        hardirqs,
        procfs.read_softirqs(host).get("NET_RX", ()),
        procfs.parse_stat_cpus(procfs.read(host, "stat")),
    )


def cpu_delta(before: CpuSnapshot, after: CpuSnapshot) -> list[dict[str, int]]:
    rows = []
    for cpu in sorted(after.ticks):
        ticks = {
            k: (after.ticks[cpu][k] - before.ticks[cpu][k]) * TICK_NS
            for k in ("user", "system", "softirq", "irq", "idle")
        }
        rows.append(
            {
                "cpu": cpu,
                "hardirqs": after.hardirqs[cpu] - before.hardirqs[cpu],
                "net_rx_softirqs": after.net_rx[cpu] - before.net_rx[cpu],
                **{f"{k}_ns": v for k, v in ticks.items()},
            }
        )
    return rows


@dataclass(frozen=True)
class ThreadSnapshot:
    voluntary: int
    involuntary: int
    user_ns: int
    system_ns: int
    runtime_ns: int


def thread_snapshot() -> ThreadSnapshot:
    """This thread's context switches (/proc/thread-self/status), its CPU time as the
    scheduler counts it (schedstat, ns) and the user/system split (getrusage)."""
    status = procfs.parse_task_status(Path("/proc/thread-self/status").read_text())
    runtime = int(Path("/proc/thread-self/schedstat").read_text().split()[0])
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return ThreadSnapshot(
        status["voluntary_ctxt_switches"],
        status["nonvoluntary_ctxt_switches"],
        int(usage.ru_utime * 1e9),
        int(usage.ru_stime * 1e9),
        runtime,
    )


def thread_delta(before: ThreadSnapshot, after: ThreadSnapshot) -> dict[str, int]:
    return {
        "ctx_voluntary": after.voluntary - before.voluntary,
        "ctx_involuntary": after.involuntary - before.involuntary,
        "cpu_user_ns": after.user_ns - before.user_ns,
        "cpu_system_ns": after.system_ns - before.system_ns,
        "cpu_ns": after.runtime_ns - before.runtime_ns,
    }


NETNS_COUNTERS = (
    ("TcpExt", "BusyPollRxPackets"),
    ("Udp", "RcvbufErrors"),
    ("Udp", "InErrors"),
    ("Udp", "InDatagrams"),
)


def netns_snapshot() -> dict[str, int]:
    """Counters of this process's network namespace."""
    tables = procfs.parse_netstat(Path("/proc/self/net/netstat").read_text())
    tables.update(procfs.parse_netstat(Path("/proc/self/net/snmp").read_text()))
    return {name: tables.get(proto, {}).get(name, 0) for proto, name in NETNS_COUNTERS}


def netns_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}
