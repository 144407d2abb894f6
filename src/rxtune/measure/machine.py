"""What the whole machine spends on receiving, not only the receiving thread.

On veth the NAPI poll, GRO, UDP processing and the copy into a ring run in a NET_RX softirq
on the sender's CPU unless a busy poller runs them, and a sleeping receiver's CPU also pays
for wakeups, IPIs and idle exits that no thread's runtime shows. So the receive cost is:

    the receiving CPU's busy time (elapsed minus idle)
  + NET_RX softirq time on every other CPU
  + NAPI kthread runtime on every other CPU (threaded NAPI)

each from BPF programs on raw tracepoints (cpu_idle, softirq_entry/exit, sched_switch), in
nanoseconds, not from /proc/stat's tick samples (this kernel accounts CPU time by ticks,
HZ=250, and misses short bursts). The receiving thread's own figure comes from its
process's CPU clock, which is exact for a running task too."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..engine import _engine
from ..errors import Unsupported
from .stats import interval

POSSIBLE_CPUS = Path("/sys/devices/system/cpu/possible")


def possible_cpus() -> int:
    """How many per-CPU slots a BPF per-CPU map has: the highest possible CPU plus one."""
    last = 0
    for part in POSSIBLE_CPUS.read_text().strip().split(","):
        last = max(last, int(part.split("-")[-1]))
    return last + 1


def process_cpu_ns(pid: int) -> int:
    """The CPU time of process pid so far, from its CPU clock (clock_getcpuclockid: the
    kernel's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)); exact for a running task, where
    /proc/PID/schedstat can be a tick stale."""
    return time.clock_gettime_ns(((~pid) << 3) | 2)


@dataclass(frozen=True)
class CpuTimes:
    net_rx_ns: int
    net_rx_count: int
    idle_ns: int
    napi_thread_ns: int


@dataclass(frozen=True)
class Snapshot:
    time_ns: int  # CLOCK_MONOTONIC
    cpus: tuple[CpuTimes, ...]
    tracer_ns: int  # the programs' own run time so far
    tracer_runs: int
    receiver_ns: int | None  # the receiving process's CPU time


class MachineAccount:
    """The accounting programs, attached while this object is open. A forked worker may take
    snapshots with it: the programs count for the whole host, whatever the namespace."""

    def __init__(self, napi_threads: bool = False) -> None:
        self.ncpus = possible_cpus()
        try:
            self._account: Any = _engine.account_open(self.ncpus, napi_threads, True)
        except OSError as error:
            raise Unsupported(
                "whole-machine receive accounting needs BPF raw tracepoint programs "
                f"(root, kernel 5.8+): {error.strerror}"
            ) from None

    def snapshot(self, receiver_pid: int | None = None) -> Snapshot:
        receiver = process_cpu_ns(receiver_pid) if receiver_pid else None
        now, rows = _engine.account_read(self._account, self.ncpus)
        run_ns, runs = _engine.account_overhead(self._account)
        return Snapshot(now, tuple(CpuTimes(*row) for row in rows), run_ns, runs, receiver)

    def close(self) -> None:
        self._account = None  # the capsule's destructor detaches the programs

    def __enter__(self) -> MachineAccount:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Window:
    """Two snapshots around the traffic: what was spent between them."""

    before: Snapshot
    after: Snapshot

    @property
    def ns(self) -> int:
        return self.after.time_ns - self.before.time_ns

    def cpu(self, index: int) -> dict[str, int]:
        a, b = self.after.cpus[index], self.before.cpus[index]
        idle = a.idle_ns - b.idle_ns
        return {
            "busy_ns": max(self.ns - idle, 0),
            "idle_ns": idle,
            "net_rx_softirq_ns": a.net_rx_ns - b.net_rx_ns,
            "net_rx_softirq_runs": a.net_rx_count - b.net_rx_count,
            "napi_thread_ns": a.napi_thread_ns - b.napi_thread_ns,
        }

    def receive_parts(self, receiving_cpu: int) -> dict[str, int]:
        """The receive cost's three parts, each counted once, in ns."""
        elsewhere = [self.cpu(c) for c in range(len(self.after.cpus)) if c != receiving_cpu]
        return {
            "receiving_cpu_busy": self.cpu(receiving_cpu)["busy_ns"],
            "net_rx_softirq_elsewhere": sum(c["net_rx_softirq_ns"] for c in elsewhere),
            "napi_threads_elsewhere": sum(c["napi_thread_ns"] for c in elsewhere),
        }

    @property
    def thread_ns(self) -> int | None:
        if self.after.receiver_ns is None or self.before.receiver_ns is None:
            return None
        return self.after.receiver_ns - self.before.receiver_ns

    @property
    def tracer_ns(self) -> int:
        return self.after.tracer_ns - self.before.tracer_ns

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Window:
        """A window another host measured (its figures came over the control channel)."""

        def snapshot(d: dict[str, Any]) -> Snapshot:
            return Snapshot(**{**d, "cpus": tuple(CpuTimes(**c) for c in d["cpus"])})

        return Window(snapshot(data["before"]), snapshot(data["after"]))

    def busy_ns(self) -> int:
        """Every CPU's busy time in the window."""
        return sum(self.cpu(c)["busy_ns"] for c in range(len(self.after.cpus)))


def receive_cost(windows: list[Window], receiving_cpu: int, packets: list[int]) -> dict[str, Any]:
    """cost.* of bench/2 over one or more rounds: the whole-machine receive cost first, the
    thread's beside it, each per packet with a 95% interval over the rounds."""
    parts = {
        key: sum(w.receive_parts(receiving_cpu)[key] for w in windows)
        for key in ("receiving_cpu_busy", "net_rx_softirq_elsewhere", "napi_threads_elsewhere")
    }
    total = sum(parts.values())
    threads = [w.thread_ns for w in windows]
    thread = None if None in threads else sum(t for t in threads if t is not None)
    per = max(sum(packets), 1)
    seconds = max(sum(w.ns for w in windows), 1)
    per_round = [
        sum(w.receive_parts(receiving_cpu).values()) / max(n, 1)
        for w, n in zip(windows, packets, strict=True)
    ]
    return {
        "receive_cpu_ns_per_packet": round(total / per, 1),
        "receive_cpu_ns_per_packet_ci": interval(per_round),
        "receive_cores": round(total / seconds, 3),
        "thread_cpu_ns_per_packet": None if thread is None else round(thread / per, 1),
        "thread_cores": None if thread is None else round(thread / seconds, 3),
        "receive_cpu_ns": total,
        "receive_parts_ns": parts,
        "thread_cpu_ns": thread,
        "tracer_ns_per_packet": round(sum(w.tracer_ns for w in windows) / per, 1),
    }
