"""Where packets are dropped, as the kernel counts it, each counter beside the knobs that
govern it and the one-line reason to look there. One table for `show` (totals since boot)
and `top` (rates per interval): per CPU (softnet_stat), per namespace (the UDP and TCP
MIB counters of /proc/net/snmp and netstat) and per device (rtnetlink's link statistics,
which the driver fills)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute

from ..backends import procfs
from ..host import Host


@dataclass(frozen=True)
class DropPoint:
    name: str
    scope: str  # cpu, netns, device
    counter: str  # as the kernel names it: softnet_stat column, "Proto Name", IFLA_STATS64 key
    knobs: tuple[str, ...]  # registry knobs that govern it
    why: str
    drop: bool = True  # False: a symptom counted beside the drops, not a lost packet


POINTS = (
    DropPoint("cpu_backlog", "cpu", "dropped", ("net.core.netdev_max_backlog",),
              "a CPU's input backlog (RPS, veth without NAPI, non-NAPI devices) was full"),
    DropPoint("time_squeeze", "cpu", "time_squeeze",
              ("net.core.netdev_budget", "net.core.netdev_budget_usecs"),
              "a NET_RX run ran out of budget or time with packets left: they waited for the "
              "next run (a ring can overflow meanwhile)", drop=False),
    DropPoint("socket_buffer", "netns", "Udp RcvbufErrors",
              ("net.core.rmem_default", "net.core.rmem_max"),
              "a UDP socket's receive buffer was full: a larger SO_RCVBUF, or read faster"),
    DropPoint("udp_errors", "netns", "Udp InErrors", ("net.core.rmem_max",),
              "UDP datagrams not delivered (full buffers, counted above, bad checksums, "
              "udp_mem); InErrors counts them again"),
    DropPoint("no_port", "netns", "Udp NoPorts", (),
              "UDP datagrams to a port nobody was bound to"),
    DropPoint("tcp_backlog", "netns", "TcpExt TCPBacklogDrop", ("net.core.rmem_max",),
              "a TCP socket's backlog overflowed while its owner held it"),
    DropPoint("listen_overflow", "netns", "TcpExt ListenOverflows", (),
              "a listener's accept queue was full (listen(2) backlog, net.core.somaxconn)"),
    DropPoint("device_dropped", "device", "rx_dropped", ("rings.rx",),
              "the device or its driver dropped them (for veth: its peer's ring was full or "
              "the XDP program dropped them)"),
    DropPoint("device_missed", "device", "rx_missed_errors", ("rings.rx",),
              "the NIC had no free buffer: its RX ring was full (rings.rx, ethtool -G)"),
    DropPoint("device_fifo", "device", "rx_fifo_errors", ("rings.rx",),
              "the NIC's receive FIFO overflowed"),
    DropPoint("device_over", "device", "rx_over_errors", ("rings.rx",),
              "the NIC's ring overflowed"),
)  # fmt: skip

NETNS_COUNTERS = tuple(p.counter for p in POINTS if p.scope == "netns")


def cpu_totals(host: Host) -> dict[int, dict[str, int]]:
    """Per CPU, the softnet_stat counters since boot."""
    return {row["cpu"]: row for row in procfs.read_softnet(host)}


def netns_totals(host: Host, names: tuple[str, ...] = NETNS_COUNTERS) -> dict[str, int]:
    """The namespace's MIB counters ("Proto Name") since it was made (read inside it)."""
    return host.call(procfs.read_mib, Host(), names)


def device_totals(host: Host, devices: list[str]) -> dict[str, dict[str, int]]:
    """Per device, its link statistics (IFLA_STATS64) since it was made."""

    def read() -> dict[str, dict[str, int]]:
        out = {}
        with IPRoute() as ipr:
            for dev in devices:
                links = ipr.link_lookup(ifname=dev)
                if links:
                    stats = ipr.get_links(links[0])[0].get_attr("IFLA_STATS64") or {}
                    out[dev] = {k: int(v) for k, v in stats.items()}
        return out

    return host.call(read)


def report(
    cpus: dict[int, dict[str, int]],
    netns: dict[str, int],
    devices: dict[str, dict[str, int]],
    knob_values: dict[str | None, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Each drop point with its count (over CPUs, or per device), the knobs that govern it
    with their values (knob_values: per device, None for the host's), and why to look
    there."""
    rows = []
    for point in POINTS:
        if point.scope == "cpu":
            counts = {"all CPUs": sum(row.get(point.counter, 0) for row in cpus.values())}
        elif point.scope == "netns":
            counts = {"namespace": netns.get(point.counter, 0)}
        else:
            counts = {dev: stats.get(point.counter, 0) for dev, stats in devices.items()}
        for where, count in counts.items():
            values = knob_values.get(where if point.scope == "device" else None, {})
            rows.append(
                {
                    "point": point.name,
                    "where": where,
                    "counter": point.counter,
                    "count": count,
                    "drop": point.drop,
                    "knobs": {k: values.get(k) for k in point.knobs},
                    "why": point.why,
                }
            )
    return rows
