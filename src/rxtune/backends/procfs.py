"""Parsers for the kernel's counter files. Each takes the file's text, so tests feed them
captured text; `read_*` helpers read them from a Host."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..host import Host

SOFTNET_COLUMNS = ("processed", "dropped", "time_squeeze")


def parse_softnet_stat(text: str) -> list[dict[str, int]]:
    """/proc/net/softnet_stat: one hex row per online CPU. Columns 0-2 are processed,
    dropped, time_squeeze; since 5.10 the row's CPU number is column 12 (rows of offline
    CPUs are missing, so the row index is not the CPU)."""
    rows = []
    for index, line in enumerate(text.split("\n")):
        fields = [int(f, 16) for f in line.split()]
        if not fields:
            continue
        row = dict(zip(SOFTNET_COLUMNS, fields[:3], strict=False))
        row["cpu"] = fields[12] if len(fields) > 12 else index
        rows.append(row)
    return rows


@dataclass(frozen=True)
class InterruptLine:
    irq: str  # a number, or a name such as NMI, LOC
    per_cpu: tuple[int, ...]
    description: str  # chip, hwirq, and the action names (device queues)


def parse_interrupts(text: str) -> list[InterruptLine]:
    """/proc/interrupts: a header of CPU names, then one row per IRQ."""
    lines = text.split("\n")
    ncpu = len(lines[0].split())
    result = []
    for line in lines[1:]:
        if ":" not in line:
            continue
        irq, rest = line.split(":", 1)
        fields = rest.split()
        counts = []
        for field in fields[:ncpu]:
            if not field.isdigit():
                break
            counts.append(int(field))
        result.append(InterruptLine(irq.strip(), tuple(counts), " ".join(fields[len(counts) :])))
    return result


def parse_softirqs(text: str) -> dict[str, tuple[int, ...]]:
    """/proc/softirqs: {"NET_RX": (cpu0, cpu1, ...), ...}."""
    result = {}
    for line in text.split("\n")[1:]:
        if ":" in line:
            name, rest = line.split(":", 1)
            result[name.strip()] = tuple(int(f) for f in rest.split())
    return result


CPU_TIME_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def parse_stat_cpus(text: str) -> dict[int, dict[str, int]]:
    """/proc/stat per-CPU lines, in USER_HZ ticks."""
    result = {}
    for line in text.split("\n"):
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *values = line.split()
            numbers = (int(v) for v in values)  # newer kernels may add columns
            result[int(name[3:])] = dict(zip(CPU_TIME_FIELDS, numbers, strict=False))
    return result


def parse_task_status(text: str) -> dict[str, int]:
    """voluntary/nonvoluntary context switches from /proc/PID/task/TID/status."""
    result = {}
    for line in text.split("\n"):
        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
            key, value = line.split(":")
            result[key] = int(value)
    return result


def parse_netstat(text: str) -> dict[str, dict[str, int]]:
    """/proc/net/netstat and /proc/net/snmp: pairs of header and value lines per protocol."""
    result: dict[str, dict[str, int]] = {}
    lines = [line for line in text.split("\n") if line]
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        proto, names = header.split(":", 1)
        _, numbers = values.split(":", 1)
        result[proto] = dict(zip(names.split(), (int(n) for n in numbers.split()), strict=False))
    return result


def read(host: Host, relative: str) -> str:
    return (host.proc / relative).read_text()


def read_mib(host: Host, names: tuple[str, ...]) -> dict[str, int]:
    """Counters of the network namespace host.proc sees ("Proto Name": "Udp RcvbufErrors",
    "TcpExt BusyPollRxPackets"), from net/netstat and net/snmp; 0 where this kernel has none."""
    tables = parse_netstat(read(host, "net/netstat"))
    tables.update(parse_netstat(read(host, "net/snmp")))
    return {
        name: tables.get(proto, {}).get(field, 0)
        for name in names
        for proto, field in [name.split(" ")]
    }


def read_softnet(host: Host) -> list[dict[str, int]]:
    return parse_softnet_stat(read(host, "net/softnet_stat"))


def read_interrupts(host: Host) -> list[InterruptLine]:
    return parse_interrupts(read(host, "interrupts"))


def read_softirqs(host: Host) -> dict[str, tuple[int, ...]]:
    return parse_softirqs(read(host, "softirqs"))


def socket_owners(host: Host) -> dict[int, set[int]]:
    """The pids that hold each socket inode open, as far as /proc shows this user."""
    owners: dict[int, set[int]] = {}
    for entry in host.proc.glob("[0-9]*/fd/*"):
        try:
            link = os.readlink(entry)
        except OSError:
            continue  # closed meanwhile, or not ours to look at
        if link.startswith("socket:["):
            owners.setdefault(int(link[8:-1]), set()).add(int(entry.parts[-3]))
    return owners
