"""The platform under the receive path, as facts: how idle CPUs sleep (cpuidle driver,
governor, states with their exit latency, residency and whether disabled), the PM QoS in
force, CPU frequency, SMT siblings, isolation from the kernel command line, irqbalance,
and for each device its NUMA node and where its IRQs, its NAPI threads and the processes
that read it may run. Read-only here; each figure beside the kernel's default where it has
one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..backends import pm_qos, procfs
from ..backends.netlink.sock_diag import InetSocket, addresses, inet_sockets
from ..errors import RxtuneError, Unsupported
from ..host import Host

ISOLATION = ("isolcpus", "nohz_full", "rcu_nocbs", "irqaffinity", "idle", "cpuidle.off",
             "intel_idle.max_cstate", "processor.max_cstate", "cpuidle_haltpoll.force")  # fmt: skip


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _number(path: Path) -> int | None:
    text = _text(path)
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _cpus(host: Host) -> list[Path]:
    base = host.sys / "devices/system/cpu"
    return sorted(base.glob("cpu[0-9]*"), key=lambda p: int(p.name[3:]))


def cpuidle(host: Host) -> dict[str, Any]:
    base = host.sys / "devices/system/cpu/cpuidle"
    driver = _text(base / "current_driver")
    per_cpu = []
    for cpu in _cpus(host):
        states = [
            {
                "state": state.name,
                "name": _text(state / "name"),
                "desc": _text(state / "desc"),
                "exit_latency_us": _number(state / "latency"),
                "target_residency_us": _number(state / "residency"),
                "disabled": _number(state / "disable") == 1,
                "default": "enabled",
                "usage": _number(state / "usage"),
                "time_us": _number(state / "time"),
            }
            for state in sorted((cpu / "cpuidle").glob("state[0-9]*"))
        ]
        per_cpu.append({"cpu": int(cpu.name[3:]), "states": states})
    out: dict[str, Any] = {
        "driver": driver,
        "governor": _text(base / "current_governor") or _text(base / "current_governor_ro"),
        "cpus": per_cpu,
    }
    if not any(c["states"] for c in per_cpu):
        out["note"] = (
            f"no idle states (driver {driver or 'absent'}): idle CPUs use the architecture's "
            "default (HLT on x86), and a PM QoS limit has no deeper state to rule out"
        )
    return out


def qos(host: Host) -> dict[str, Any]:
    """The system-wide CPU latency request (the per-CPU limits are registry knobs)."""
    try:
        value = pm_qos.in_force()
        return {
            "cpu_dma_latency": {
                "value_us": None if value == pm_qos.NO_CONSTRAINT else value,
                "default": None,
                "holders": pm_qos.holders(str(host.proc)),
            }
        }
    except RxtuneError as error:
        return {"cpu_dma_latency": {"unsupported": str(error)}}


def frequency(host: Host) -> dict[str, Any]:
    base = host.sys / "devices/system/cpu/cpufreq"
    policies = [
        {
            "policy": policy.name,
            "cpus": _text(policy / "affected_cpus"),
            "driver": _text(policy / "scaling_driver"),
            "governor": _text(policy / "scaling_governor"),
            "min_khz": _number(policy / "scaling_min_freq"),
            "max_khz": _number(policy / "scaling_max_freq"),
            "hardware_max_khz": _number(policy / "cpuinfo_max_freq"),
        }
        for policy in sorted(base.glob("policy[0-9]*"))
    ]
    if not policies:
        return {
            "policies": [],
            "note": "no cpufreq driver: the frequency is set by the firmware or the hypervisor",
        }
    return {"policies": policies}


def cmdline(host: Host) -> dict[str, str | None]:
    words = (_text(host.proc / "cmdline") or "").split(" -- ")[0].split()
    found = {}
    for word in words:
        name, _, value = word.partition("=")
        if name in ISOLATION:
            found[name] = value
    return {name: found.get(name) for name in ISOLATION}


def irqbalance(host: Host) -> list[int]:
    pids = []
    for entry in host.proc.glob("[0-9]*"):
        if _text(entry / "comm") == "irqbalance":
            pids.append(int(entry.name))
    return sorted(pids)


def _thread(host: Host, pid: int) -> dict[str, Any]:
    """A NAPI kthread: the CPUs it may run on and the one it ran on last."""
    stat = _text(host.proc / str(pid) / "stat") or ""
    fields = stat.rpartition(")")[2].split()
    try:
        allowed = ",".join(map(str, sorted(os.sched_getaffinity(pid))))
    except OSError:
        allowed = None
    return {
        "pid": pid,
        "name": _text(host.proc / str(pid) / "comm"),
        "cpus": allowed,
        "last_cpu": int(fields[36]) if len(fields) > 36 else None,  # stat field 39
    }


def readers(
    host: Host, sockets: list[InetSocket], owners: dict[int, set[int]], ifindex: int
) -> list[dict[str, Any]]:
    """The processes whose sockets can receive from this device (bound to it, to one of its
    addresses, or to any address on no device), each with where it may run and last ran:
    its CPUs beside the device's IRQ and NAPI CPUs show who wakes whom across CPUs."""
    mine = addresses(ifindex)
    by_pid: dict[int | None, list[InetSocket]] = {}
    for sock in sockets:
        if sock.ifindex not in (0, ifindex) or not (sock.wildcard or sock.address in mine):
            continue
        seen: set[int] | set[None] = owners.get(sock.inode) or {None}  # None: none visible
        for pid in seen:
            by_pid.setdefault(pid, []).append(sock)
    return [
        {
            **(
                _thread(host, pid)
                if pid
                else {"pid": None, "name": None, "cpus": None, "last_cpu": None}
            ),
            "sockets": sorted({f"{s.protocol} {s.address}:{s.port}" for s in socks}),
        }
        for pid, socks in sorted(by_pid.items(), key=lambda item: item[0] or 0)
    ]


def device(
    host: Host,
    dev: str,
    irqs: list[int],
    napi_pids: list[int],
    socket_readers: list[dict[str, Any]],
) -> dict[str, Any]:
    """A device's NUMA node, the CPUs each of its queue IRQs may run on, where its
    threaded NAPIs' kthreads run, and where the processes that read it run."""
    node = _number(host.sys / "class/net" / dev / "device/numa_node")
    return {
        "name": dev,
        "numa_node": node,
        "numa_note": None if node is not None else "a virtual device, or a machine of one node",
        "irqs": [
            {
                "irq": irq,
                "affinity": _text(host.proc / f"irq/{irq}/smp_affinity_list"),
                "effective": _text(host.proc / f"irq/{irq}/effective_affinity_list"),
            }
            for irq in irqs
        ],
        "napi_threads": [_thread(host, pid) for pid in napi_pids],
        "readers": socket_readers,
    }


def collect(
    host: Host,
    irqs: dict[str, list[int]],
    napi_threads: dict[str, list[int]],
    ifindex: dict[str, int],
) -> dict[str, Any]:
    """The platform facts; `irqs`, `napi_threads` and `ifindex` map each shown device to its
    queues' IRQs, its threaded NAPIs' kthread pids and its index. Runs in the namespace of
    the devices (their sockets are that namespace's)."""
    try:
        sockets, sockets_note = inet_sockets(), None
    except Unsupported as error:
        sockets, sockets_note = [], f"the sockets that read each device are unknown: {error}"
    owners = procfs.socket_owners(host)
    return {
        "sockets_note": sockets_note,
        "cpuidle": cpuidle(host),
        "pm_qos": qos(host),
        "frequency": frequency(host),
        "smt": {
            "active": _number(host.sys / "devices/system/cpu/smt/active"),
            "siblings": {
                int(cpu.name[3:]): _text(cpu / "topology/thread_siblings_list")
                for cpu in _cpus(host)
            },
        },
        "cmdline": cmdline(host),
        "irqbalance_pids": irqbalance(host),
        "online_cpus": sorted(os.sched_getaffinity(0)),
        "devices": [
            device(
                host,
                dev,
                irqs[dev],
                napi_threads.get(dev, []),
                readers(host, sockets, owners, ifindex[dev]),
            )
            for dev in irqs
        ],
    }
