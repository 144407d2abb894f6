"""The inventory behind `rxtune show`: every knob of the registry read on this host, beside
its default, grouped host -> device -> queue / NAPI, with the per-CPU counters."""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable
from typing import Any

from ..backends import procfs
from ..backends.context import ReadContext
from ..backends.files import online_cpus
from ..backends.netlink import netdev
from ..backends.netlink_knobs import napi_list
from ..errors import InvalidValue, NotPermitted, NotReadable, RxtuneError, Unsupported
from ..host import Host
from ..knobs.model import Knob, Scope, Target
from ..knobs.registry import of_scope
from . import drops
from . import platform as platform_facts
from .capabilities import capabilities

SCHEMA = "rxtune.show/1"


def reading(ctx: ReadContext, knob: Knob, target: Target = Target()) -> dict[str, Any]:
    """One knob's value beside its default; unsupported and unreadable are answers too."""
    entry: dict[str, Any] = {
        "name": knob.name,
        "scope": knob.scope.value,
        "group": knob.group,
        "unit": knob.unit,
        "default": knob.default,
        "writable": knob.writable,
        "since": f"{knob.since[0]}.{knob.since[1]}",
    }
    if knob.default_note:
        entry["default_note"] = knob.default_note
    try:
        value = knob.read(ctx, target)
        entry.update(
            status="ok", value=value, non_default=knob.default is not None and value != knob.default
        )
    except Unsupported as error:
        entry.update(status="unsupported", value=None, reason=error.reason)
    except NotPermitted as error:
        entry.update(status="not-permitted", value=None, reason=str(error))
    except NotReadable as error:
        entry.update(status="not-readable", value=None, reason=str(error))
    except RxtuneError as error:
        entry.update(status="error", value=None, reason=str(error))
    return entry


def _rx_queues(host: Host, dev: str) -> list[int]:
    queues = host.sys / "class/net" / dev / "queues"
    return sorted(int(p.name[3:]) for p in queues.glob("rx-*")) if queues.exists() else []


def _irq_counts(lines: list[procfs.InterruptLine], irq: int) -> list[int] | None:
    for line in lines:
        if line.irq == str(irq):
            return list(line.per_cpu)
    return None


def _device(ctx: ReadContext, dev: str, interrupts: list[procfs.InterruptLine]) -> dict:
    host = ctx.host
    entry: dict[str, Any] = {
        "name": dev,
        "ifindex": int((host.sys / "class/net" / dev / "ifindex").read_text()),
        "knobs": [reading(ctx, k, Target(dev=dev)) for k in of_scope(Scope.DEVICE)],
        "queues": [],
        "napi": [],
    }
    for queue in _rx_queues(host, dev):
        target = Target(dev=dev, queue=queue)
        knobs = [reading(ctx, k, target) for k in of_scope(Scope.QUEUE)]
        irq = next((k["value"] for k in knobs if k["name"] == "irq"), None)
        entry["queues"].append(
            {
                "queue": queue,
                "knobs": knobs,
                "irq_count_per_cpu": _irq_counts(interrupts, irq) if irq else None,
            }
        )
    try:
        instances = napi_list(ctx, dev)
        entry["napi_status"] = {"status": "ok"}
    except RxtuneError as error:
        instances = []
        entry["napi_status"] = {"status": "unsupported", "reason": str(error)}
    if not instances and entry["napi_status"]["status"] == "ok":
        entry["napi_status"] = {
            "status": "none",
            "reason": "no NAPI instance listed (veth: only while GRO is on or an XDP "
            "program is attached; other devices: while up)",
        }
    for instance in instances:
        target = Target(dev=dev, napi=instance["id"])
        entry["napi"].append(
            {"id": instance["id"], "knobs": [reading(ctx, k, target) for k in of_scope(Scope.NAPI)]}
        )
    entry["queue_stats"] = _statistics(
        lambda: netdev.queue_stats(ctx.netlink("netdev"), entry["ifindex"]),
        "the driver reports no queue statistics (netdev qstats-get lists none for it)",
    )
    entry["page_pools"] = _statistics(
        lambda: netdev.page_pool_stats(ctx.netlink("netdev"), entry["ifindex"]),
        "no page pool of this device (its driver takes RX buffers another way)",
    )
    return entry


def _statistics(read: Callable[[], list[dict]], none: str) -> dict[str, Any]:
    """Statistics over netlink, or why there are none (the kernel or driver lacks them)."""
    try:
        rows = read()
    except RxtuneError as error:
        return {"status": "unsupported", "reason": str(error), "rows": []}
    return (
        {"status": "ok", "rows": rows} if rows else {"status": "none", "reason": none, "rows": []}
    )


def _read_values(parts: list[dict[str, Any]], name: str) -> list[Any]:
    """The values one knob read on each queue or NAPI of a device, where it has one."""
    return [k["value"] for part in parts for k in part["knobs"] if k["name"] == name and k["value"]]


def _cpus(host: Host) -> list[dict[str, Any]]:
    softnet = {row["cpu"]: row for row in procfs.read_softnet(host)}
    softirqs = procfs.read_softirqs(host)
    stat = procfs.parse_stat_cpus(procfs.read(host, "stat"))
    net_rx = softirqs.get("NET_RX", ())
    rows = []
    for cpu in sorted(stat):
        row = {"cpu": cpu, **{k: softnet.get(cpu, {}).get(k) for k in procfs.SOFTNET_COLUMNS}}
        row["net_rx_softirqs"] = net_rx[cpu] if cpu < len(net_rx) else None
        row["softirq_ticks"] = stat[cpu]["softirq"]
        rows.append(row)
    return rows


def collect(host: Host, devices: list[str] | None = None) -> dict[str, Any]:
    """The inventory as a JSON-ready dict (schema rxtune.show/1). Devices are read inside
    host's namespace; host-wide sysctls here, since they exist only in the initial one."""
    inventory = host.call(_collect, host, devices)
    here = Host(proc=host.proc, sys=host.sys)
    if host.netns and here.in_initial_netns:
        with ReadContext(here) as ctx:
            host_wide = {k.name: reading(ctx, k) for k in of_scope(Scope.HOST)}
        inventory["knobs"] = [host_wide.get(k["name"], k) for k in inventory["knobs"]]
    return inventory


def _collect(host: Host, devices: list[str] | None) -> dict[str, Any]:
    present = host.devices()
    if devices:
        unknown = [d for d in devices if d not in present]
        if unknown:
            raise InvalidValue(
                f"no network device {', '.join(repr(d) for d in unknown)}"
                f"{' in namespace ' + host.netns if host.netns else ''}",
                present,
            )
    chosen = devices or [d for d in present if d != "lo"]
    interrupts = procfs.read_interrupts(host)
    with ReadContext(host) as ctx:
        shown = [_device(ctx, dev, interrupts) for dev in chosen]
        irqs = {d["name"]: _read_values(d["queues"], "irq") for d in shown}
        napi_threads = {d["name"]: _read_values(d["napi"], "pid") for d in shown}
        host_knobs = [reading(ctx, k) for k in of_scope(Scope.HOST, Scope.NAMESPACE, Scope.SOCKET)]
        return {
            "schema": SCHEMA,
            "host": {
                "hostname": socket.gethostname(),
                "kernel": platform.release(),
                "netns": host.netns,
                "initial_netns": host.in_initial_netns,
                "cpus": os.cpu_count(),
                "root": os.geteuid() == 0,
            },
            "knobs": host_knobs,
            "devices": shown,
            "cpus": _cpus(host),
            "drops": drops.report(
                drops.cpu_totals(host),
                drops.netns_totals(Host()),  # this process is in host's namespace here
                drops.device_totals(Host(), chosen),
                {
                    None: {k["name"]: k.get("value") for k in host_knobs},
                    **{d["name"]: {k["name"]: k.get("value") for k in d["knobs"]} for d in shown},
                },
            ),
            "platform": platform_facts.collect(
                host, irqs, napi_threads, {d["name"]: d["ifindex"] for d in shown}
            ),
            "cpu_knobs": [
                {
                    "cpu": cpu,
                    "knobs": [reading(ctx, k, Target(cpu=cpu)) for k in of_scope(Scope.CPU)],
                }
                for cpu in online_cpus(host)
            ],
            "capabilities": capabilities(ctx, chosen),
        }
