"""The receive path live (`rxtune top`): the kernel's counters sampled each interval and
turned into rates per CPU, per device and RX queue, per namespace and per process, with
drops counted where they happen (inspect/drops.py) and why (drops.py, where BPF can be
loaded), and a line naming what moved most. Everything that anyone can read in /proc
needs no root; what could not be read is listed, never left out in silence."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..backends import procfs
from ..backends.context import ReadContext
from ..backends.netlink import netdev
from ..backends.netlink.sock_diag import InetSocket, inet_sockets
from ..errors import InvalidValue, RxtuneError
from ..host import Host
from ..inspect import drops as where
from ..knobs.model import Scope, Target
from ..knobs.registry import get
from . import counters
from .drops import DropReasons

SCHEMA = "rxtune.top/1"
# the queue statistics top shows (netdev qstats-get), by the name each gets in a queue's row
QSTATS = {
    "rx-packets": "packets",
    "rx-hw-drops": "hw_drops",
    "rx-alloc-fail": "alloc_fails",
}
NETNS_RATES = ("TcpExt BusyPollRxPackets", "Udp InDatagrams")


@dataclass(frozen=True)
class Queue:
    """An RX queue and what serves it: its NAPI, its IRQ and the CPUs the IRQ may use."""

    dev: str
    queue: int
    napi_id: int | None
    irq: int | None
    irq_cpus: str | None


@dataclass
class Sample:
    time_ns: int
    cpu: counters.CpuCounts
    softnet: dict[int, dict[str, int]]
    stat: dict[int, dict[str, int]]
    irq_lines: dict[str, tuple[int, ...]]
    netns: dict[str, int]
    devices: dict[str, dict[str, int]]
    queue_stats: dict[tuple[str, int], dict[str, int]]  # the driver's, where it reports them
    processes: dict[int, dict[str, int]]
    reasons: dict[str, int] | None
    unreadable: list[str] = field(default_factory=list)


def _queues(host: Host, devices: list[str]) -> list[Queue]:
    napi_id, irq = get("napi_id", Scope.QUEUE), get("irq", Scope.QUEUE)

    def read() -> list[Queue]:
        found = []
        with ReadContext(Host()) as ctx:
            for dev in devices:
                for path in sorted((Host().sys / "class/net" / dev / "queues").glob("rx-*")):
                    target = Target(dev=dev, queue=int(path.name[3:]))
                    values = []
                    for knob in (napi_id, irq):
                        try:
                            values.append(knob.read(ctx, target) or None)
                        except RxtuneError:
                            values.append(None)
                    cpus = None
                    if values[1]:
                        affinity = host.proc / f"irq/{values[1]}/effective_affinity_list"
                        cpus = affinity.read_text().strip() if affinity.exists() else None
                    found.append(Queue(dev, target.queue or 0, values[0], values[1], cpus))
        return found

    return host.call(read)


def processes_on_port(host: Host, port: int) -> list[int]:
    """The pids that hold a UDP socket bound to this local port, in host's namespace."""
    sockets: list[InetSocket] = host.call(inet_sockets)
    owners = procfs.socket_owners(host)
    return sorted(
        {
            pid
            for s in sockets
            if s.protocol == "udp" and s.port == port
            for pid in owners.get(s.inode, ())
        }
    )


class Watch:
    """Samples for `rxtune top`: the devices of one namespace (all but lo by default), the
    CPUs of the host, the processes named (or those on a UDP port)."""

    def __init__(
        self,
        devices: list[str] | None = None,
        netns: str | None = None,
        pids: list[int] | None = None,
        port: int | None = None,
        reasons: bool = True,
    ) -> None:
        self.host = Host(netns=netns)
        present = self.host.call(lambda: Host().devices())  # /sys as the namespace sees it
        unknown = [d for d in devices or [] if d not in present]
        if unknown:
            raise InvalidValue(
                f"no network device {', '.join(unknown)}"
                f"{' in namespace ' + netns if netns else ''}",
                present,
            )
        self.devices = devices or [d for d in present if d != "lo"]
        self.pids = sorted(
            set(pids or []) | set(processes_on_port(self.host, port) if port else [])
        )
        self.queues = _queues(self.host, self.devices)
        self.reasons: DropReasons | None = None
        self.reasons_note = ""
        if reasons:
            try:
                self.reasons = DropReasons()
            except RxtuneError as error:
                self.reasons_note = f"drop reasons: {error}"
        self.previous: Sample | None = None

    def close(self) -> None:
        if self.reasons:
            self.reasons.close()

    def sample(self) -> Sample:
        """Every counter at one moment: read together inside the namespace (one child
        process per sample, so that a burst of drops is not counted by one counter in
        this interval and by another in the next)."""
        return self.host.call(self._read)

    def _read(self) -> Sample:
        unreadable = [self.reasons_note] if self.reasons_note else []
        here = Host()  # inside the namespace: its /sys and /proc/net
        lines = procfs.read_interrupts(here)
        processes = {}
        sockets = inet_sockets() if self.pids else []
        for pid in self.pids:
            try:
                processes[pid] = _process(here, pid, sockets)
            except OSError as error:
                unreadable.append(f"process {pid}: {error.strerror}")
        return Sample(
            time.monotonic_ns(),
            counters.cpu_counts(here),
            where.cpu_totals(here),
            procfs.parse_stat_cpus(procfs.read(here, "stat")),
            {line.irq: tuple(line.per_cpu) for line in lines},
            where.netns_totals(here, where.NETNS_COUNTERS + NETNS_RATES),
            where.device_totals(here, self.devices),
            self._queue_stats(here),
            processes,
            self.reasons.read() if self.reasons else None,
            unreadable,
        )

    def _queue_stats(self, here: Host) -> dict[tuple[str, int], dict[str, int]]:
        out = {}
        with ReadContext(here) as ctx:
            for dev in self.devices:
                ifindex = int((here.sys / "class/net" / dev / "ifindex").read_text())
                try:
                    rows = netdev.queue_stats(ctx.netlink("netdev"), ifindex)
                except RxtuneError:
                    continue  # the kernel has no queue statistics: said once, in show
                for row in rows:
                    out[(dev, row["queue-id"])] = {k: v for k, v in row.items() if k in QSTATS}
        return out

    def interval(self) -> dict[str, Any] | None:
        """Take a sample; the rates since the previous one (None for the first)."""
        current = self.sample()
        previous, self.previous = self.previous, current
        return None if previous is None else rates(previous, current, self)


def _process(host: Host, pid: int, sockets: list[InetSocket]) -> dict[str, int]:
    """A process's context switches over all its threads, and the drops at its sockets."""
    voluntary = involuntary = 0
    for status in (host.proc / str(pid) / "task").glob("*/status"):
        counts = procfs.parse_task_status(status.read_text())
        voluntary += counts.get("voluntary_ctxt_switches", 0)
        involuntary += counts.get("nonvoluntary_ctxt_switches", 0)
    inodes = {
        int(link[8:-1])
        for fd in (host.proc / str(pid) / "fd").iterdir()
        if (link := _readlink(fd)).startswith("socket:[")
    }
    socket_drops = sum(s.drops or 0 for s in sockets if s.inode in inodes)
    return {
        "ctx_voluntary": voluntary,
        "ctx_involuntary": involuntary,
        "socket_drops": socket_drops,
    }


def _readlink(path: Any) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return ""


def _comm(host: Host, pid: int) -> str | None:
    try:
        return (host.proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return None


def rates(a: Sample, b: Sample, watch: Watch) -> dict[str, Any]:
    """Per second over the interval between two samples, as rxtune.top/1."""
    dt = max(b.time_ns - a.time_ns, 1) / 1e9
    tick_s = counters.NS_PER_TICK / 1e9

    def per_s(now: int, then: int) -> float:
        return round((now - then) / dt, 1)

    cpus = []
    for cpu in sorted(b.softnet):
        sn_a, sn_b = a.softnet.get(cpu, {}), b.softnet[cpu]
        st_a, st_b = a.stat.get(cpu, {}), b.stat.get(cpu, {})
        cpus.append(
            {
                "cpu": cpu,
                "packets": per_s(sn_b.get("processed", 0), sn_a.get("processed", 0)),
                "backlog_drops": per_s(sn_b.get("dropped", 0), sn_a.get("dropped", 0)),
                "time_squeeze": per_s(sn_b.get("time_squeeze", 0), sn_a.get("time_squeeze", 0)),
                "net_rx_softirqs": per_s(b.cpu.net_rx[cpu], a.cpu.net_rx[cpu])
                if cpu < len(b.cpu.net_rx)
                else None,
                "interrupts": {
                    kind: per_s(b.cpu.interrupts[kind][cpu], a.cpu.interrupts[kind][cpu])
                    for kind in counters.INTERRUPT_KINDS
                    if cpu < len(b.cpu.interrupts[kind])
                },
                # tick-sampled (/proc/stat): a share of the CPU, coarse at short intervals
                "softirq_share": round(
                    (st_b.get("softirq", 0) - st_a.get("softirq", 0)) * tick_s / dt, 3
                ),
                "irq_share": round((st_b.get("irq", 0) - st_a.get("irq", 0)) * tick_s / dt, 3),
            }
        )
    devices = []
    for dev in watch.devices:
        d_a, d_b = a.devices.get(dev, {}), b.devices.get(dev, {})
        queues = []
        for q in (q for q in watch.queues if q.dev == dev):
            line = str(q.irq) if q.irq else None
            irqs = (
                per_s(sum(b.irq_lines[line]), sum(a.irq_lines.get(line, ())))
                if line in b.irq_lines
                else None
            )
            now, then = b.queue_stats.get((dev, q.queue), {}), a.queue_stats.get((dev, q.queue), {})
            queues.append(
                {
                    "queue": q.queue,
                    "napi_id": q.napi_id,
                    "irq": q.irq,
                    "irq_cpus": q.irq_cpus,
                    "irqs": irqs,
                    # per second, each as the driver counts it (None: it does not)
                    **{
                        name: per_s(now[stat], then.get(stat, 0)) if stat in now else None
                        for stat, name in QSTATS.items()
                    },
                }
            )
        devices.append(
            {
                "name": dev,
                "packets": per_s(d_b.get("rx_packets", 0), d_a.get("rx_packets", 0)),
                "bytes": per_s(d_b.get("rx_bytes", 0), d_a.get("rx_bytes", 0)),
                "drops": {
                    p.counter: per_s(d_b.get(p.counter, 0), d_a.get(p.counter, 0))
                    for p in where.POINTS
                    if p.scope == "device"
                },
                "queues": queues,
            }
        )
    netns = {name: per_s(b.netns.get(name, 0), a.netns.get(name, 0)) for name in b.netns}
    processes = [
        {
            "pid": pid,
            "name": _comm(watch.host, pid),
            **{k: per_s(v, a.processes[pid].get(k, 0)) for k, v in counts.items()},
        }
        for pid, counts in b.processes.items()
        if pid in a.processes
    ]
    reasons = None
    if b.reasons is not None and a.reasons is not None:
        reasons = {
            name: per_s(n, a.reasons.get(name, 0))
            for name, n in sorted(b.reasons.items(), key=lambda item: -item[1])
            if n > a.reasons.get(name, 0)
        }
    out = {
        "schema": SCHEMA,
        "time": time.time(),
        "interval_s": round(dt, 3),
        "netns": watch.host.netns,
        "unit": "per second",
        "cpus": cpus,
        "devices": devices,
        "namespace": netns,
        "processes": processes,
        "drop_reasons": reasons,
        "unreadable": b.unreadable,
    }
    out["headline"] = headline(out)
    return out


def headline(interval: dict[str, Any]) -> str:
    """What moved most: the largest drop rate and where, else the busiest device."""
    found: list[tuple[float, str]] = []
    for cpu in interval["cpus"]:
        found.append((cpu["backlog_drops"], f"drops at cpu{cpu['cpu']}'s backlog"))
    for dev in interval["devices"]:
        found += [(r, f"drops at {dev['name']} ({name})") for name, r in dev["drops"].items()]
    for proc in interval["processes"]:
        found.append(
            (proc.get("socket_drops", 0), f"drops at the sockets of {proc['name']} ({proc['pid']})")
        )
    ns = interval["namespace"]
    found.append((ns.get("Udp RcvbufErrors", 0), "drops at UDP socket buffers (Udp RcvbufErrors)"))
    for reason, r in (interval["drop_reasons"] or {}).items():
        found.append((r, f"drops for {reason} (host-wide)"))
    rate, what = max(found, default=(0.0, ""))
    if rate > 0:
        return f"{what}: {short(rate)}/s"
    busiest = max(interval["devices"], key=lambda d: d["packets"], default=None)
    if busiest and busiest["packets"] > 0:
        cpu = max(interval["cpus"], key=lambda c: c["net_rx_softirqs"] or 0)
        return (
            f"{busiest['name']} receives {short(busiest['packets'])} packets/s, no drops; "
            f"most NET_RX softirqs on cpu{cpu['cpu']}"
        )
    return "no packets received, no drops"


def short(rate: float) -> str:
    """A rate in three figures: 61.2k, 1.3M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= limit:
            return f"{rate / limit:.3g}{suffix}"
    return f"{rate:.3g}"


def prometheus(sample: Sample, watch: Watch) -> str:
    """The totals of a sample in the Prometheus text format (node_exporter's textfile
    collector): counters since boot, or since rxtune started watching (drop reasons)."""
    series: dict[str, tuple[str, list[tuple[dict[str, Any], int]]]] = {
        "rxtune_cpu_softnet_processed_total": ("packets a CPU's NET_RX processed", []),
        "rxtune_cpu_softnet_dropped_total": ("packets dropped at a CPU's input backlog", []),
        "rxtune_cpu_time_squeeze_total": ("NET_RX runs that ended with work left", []),
        "rxtune_cpu_net_rx_softirqs_total": ("NET_RX softirqs raised", []),
        "rxtune_cpu_interrupts_total": ("interrupts by kind (/proc/interrupts)", []),
        "rxtune_device_rx_packets_total": ("packets the device received", []),
        "rxtune_device_rx_drops_total": ("drops the device counted, by counter", []),
        "rxtune_netns_counter_total": ("namespace MIB counters", []),
        "rxtune_process_context_switches_total": ("context switches over a process's threads", []),
        "rxtune_process_socket_drops_total": ("drops at a process's sockets", []),
        "rxtune_drop_reason_total": ("drops by kernel drop reason since rxtune began", []),
    }

    def add(name: str, labels: dict[str, Any], value: int) -> None:
        series[name][1].append((labels, value))

    for cpu, row in sample.softnet.items():
        add("rxtune_cpu_softnet_processed_total", {"cpu": cpu}, row.get("processed", 0))
        add("rxtune_cpu_softnet_dropped_total", {"cpu": cpu}, row.get("dropped", 0))
        add("rxtune_cpu_time_squeeze_total", {"cpu": cpu}, row.get("time_squeeze", 0))
    for cpu, count in enumerate(sample.cpu.net_rx):
        add("rxtune_cpu_net_rx_softirqs_total", {"cpu": cpu}, count)
    for kind, per_cpu in sample.cpu.interrupts.items():
        for cpu, count in enumerate(per_cpu):
            add("rxtune_cpu_interrupts_total", {"cpu": cpu, "kind": kind}, count)
    for dev, stats in sample.devices.items():
        add("rxtune_device_rx_packets_total", {"device": dev}, stats.get("rx_packets", 0))
        for p in (p for p in where.POINTS if p.scope == "device"):
            add(
                "rxtune_device_rx_drops_total",
                {"device": dev, "counter": p.counter},
                stats.get(p.counter, 0),
            )
    for name, value in sample.netns.items():
        add("rxtune_netns_counter_total", {"counter": name, "netns": watch.host.netns or ""}, value)
    for pid, counts in sample.processes.items():
        labels = {"pid": pid, "name": _comm(watch.host, pid) or ""}
        add(
            "rxtune_process_context_switches_total",
            {**labels, "kind": "voluntary"},
            counts["ctx_voluntary"],
        )
        add(
            "rxtune_process_context_switches_total",
            {**labels, "kind": "involuntary"},
            counts["ctx_involuntary"],
        )
        add("rxtune_process_socket_drops_total", labels, counts["socket_drops"])
    for reason, count in (sample.reasons or {}).items():
        add("rxtune_drop_reason_total", {"reason": reason}, count)
    lines = []
    for name, (text, points) in series.items():
        if not points:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
        for labels, value in points:
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{rendered}}} {value}")
    return "\n".join(lines) + "\n"


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
