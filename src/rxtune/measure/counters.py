"""The kernel's own counters, snapshotted before and after a run: per CPU (interrupts by
kind, NET_RX softirqs raised), per process (context switches) and per namespace (busy-poll
packets, UDP drops). CPU time comes from machine.py, not from /proc/stat's tick samples."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends import procfs
from ..host import Host

# /proc/interrupts rows by kind: numbered rows are devices; on veth none of them is ours,
# and what moves are the IPIs that wake a CPU and the local timer.
IPI_ROWS = frozenset({"RES", "CAL", "TLB", "IWI", "PIN", "NPI", "PIW", "PMN"})
TIMER_ROWS = frozenset({"LOC"})
INTERRUPT_KINDS = ("device", "ipi", "timer", "other")


def interrupt_kind(irq: str) -> str:
    if irq.isdigit():
        return "device"
    if irq in IPI_ROWS:
        return "ipi"
    return "timer" if irq in TIMER_ROWS else "other"


NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")  # /proc/stat counts USER_HZ ticks


@dataclass(frozen=True)
class CpuCounts:
    interrupts: dict[str, tuple[int, ...]]  # kind -> per CPU
    net_rx: tuple[int, ...]
    time_squeeze: dict[int, int]  # CPU -> NET_RX runs that ended with work left (softnet_stat)
    steal: dict[int, int]  # CPU -> USER_HZ ticks a hypervisor ran something else (/proc/stat)
    idle_states: dict[int, dict[str, int]]  # CPU -> cpuidle state -> µs spent in it so far


def cpu_counts(host: Host = Host()) -> CpuCounts:
    lines = procfs.read_interrupts(host)
    ncpu = max((len(line.per_cpu) for line in lines), default=0)
    by_kind = {kind: [0] * ncpu for kind in INTERRUPT_KINDS}
    for line in lines:
        row = by_kind[interrupt_kind(line.irq)]
        for cpu, count in enumerate(line.per_cpu):
            row[cpu] += count
    return CpuCounts(
        {kind: tuple(row) for kind, row in by_kind.items()},
        procfs.read_softirqs(host).get("NET_RX", ()),
        {row["cpu"]: row["time_squeeze"] for row in procfs.read_softnet(host)},
        {
            cpu: row.get("steal", 0)
            for cpu, row in procfs.parse_stat_cpus(procfs.read(host, "stat")).items()
        },
        idle_state_time(host),
    )


def idle_state_time(host: Host = Host()) -> dict[int, dict[str, int]]:
    """Per CPU, the µs each cpuidle state has been in since boot (sysfs stateN/time); a CPU
    without a cpuidle driver has none (it idles in the architecture's default way)."""
    out: dict[int, dict[str, int]] = {}
    for cpu in (host.sys / "devices/system/cpu").glob("cpu[0-9]*"):
        states = {}
        for state in sorted((cpu / "cpuidle").glob("state[0-9]*")):
            try:
                states[(state / "name").read_text().strip()] = int((state / "time").read_text())
            except (OSError, ValueError):
                continue
        out[int(cpu.name[3:])] = states
    return out


def counts_delta(before: CpuCounts, after: CpuCounts) -> list[dict[str, Any]]:
    """Per CPU: interrupts by kind, NET_RX softirqs raised, time squeezes, steal time and
    the time in each cpuidle state, over the window."""
    return [
        {
            "cpu": cpu,
            "interrupts": {
                kind: after.interrupts[kind][cpu] - before.interrupts[kind][cpu]
                for kind in INTERRUPT_KINDS
            },
            "net_rx_softirqs": after.net_rx[cpu] - before.net_rx[cpu],
            "time_squeeze": after.time_squeeze.get(cpu, 0) - before.time_squeeze.get(cpu, 0),
            "steal_ns": (after.steal.get(cpu, 0) - before.steal.get(cpu, 0)) * NS_PER_TICK,
            "idle_state_us": {
                name: us - before.idle_states.get(cpu, {}).get(name, 0)
                for name, us in after.idle_states.get(cpu, {}).items()
            },
        }
        for cpu in range(len(after.net_rx))
    ]


def interrupts_per_kpkt(rows: list[dict[str, Any]], packets: int) -> dict[str, float]:
    per = max(packets, 1)
    return {
        kind: round(1000 * sum(r["interrupts"][kind] for r in rows) / per, 2)
        for kind in INTERRUPT_KINDS
    }


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


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of process pid's main thread so far."""
    status = procfs.parse_task_status(Path(f"/proc/{pid}/status").read_text())
    return status["voluntary_ctxt_switches"], status["nonvoluntary_ctxt_switches"]


def thread_delta(before: ThreadSnapshot, after: ThreadSnapshot) -> dict[str, int]:
    return {
        "ctx_voluntary": after.voluntary - before.voluntary,
        "ctx_involuntary": after.involuntary - before.involuntary,
        "cpu_user_ns": after.user_ns - before.user_ns,
        "cpu_system_ns": after.system_ns - before.system_ns,
        "cpu_ns": after.runtime_ns - before.runtime_ns,
    }


NETNS_COUNTERS = (
    "TcpExt BusyPollRxPackets",
    "Udp RcvbufErrors",
    "Udp InErrors",
    "Udp InDatagrams",
    "Udp NoPorts",
)


def netns_snapshot(pid: int | str = "self") -> dict[str, int]:
    """Counters of the network namespace process pid is in, by their names in the MIB."""
    counts = procfs.read_mib(Host(proc=Path(f"/proc/{pid}")), NETNS_COUNTERS)
    return {name.split(" ")[1]: value for name, value in counts.items()}


def netns_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


def add_idle(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {name: a.get(name, 0) + b.get(name, 0) for name in {**a, **b}}


def polling_in_idle_ns(cpus: list[dict[str, Any]]) -> int | None:
    """ns the CPUs spent in the POLL idle state (spinning in the idle loop, which /proc/stat
    and busy time count as idle): the hidden cost of a CPU latency PM QoS limit, which holds
    every CPU there. None where no CPU has a cpuidle POLL state to measure."""
    found = [row["idle_state_us"]["POLL"] for row in cpus if "POLL" in row.get("idle_state_us", {})]
    return 1000 * int(sum(found)) if found else None
