"""High-rate runs: a sender in the C engine offers a paced load (--rate) or floods, from one
or more flows; the receiver takes it with the strategy under test. Throughput mode counts
what arrived and where the rest was dropped; load mode adds each packet's latency, from its
intended send time. The sender takes the cost snapshots right around its traffic, so the
window holds no start-up and no drain."""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import procfs
from ..engine import _engine
from ..engine.paths import (
    MAX_BATCH,
    URING_SETUP,
    PathOptions,
    ReceivePath,
    attach_xdp,
    open_path,
    refused,
)
from ..errors import RxtuneError
from ..host import Host, Worker
from ..strategies import LOAD, Receiver, Strategy
from .counters import (
    add_idle,
    context_switches,
    counts_delta,
    cpu_counts,
    interrupts_per_kpkt,
    netns_delta,
    netns_snapshot,
    polling_in_idle_ns,
)
from .machine import MachineAccount, Window, receive_cost
from .pingpong import Endpoint
from .stats import summarize

PORT = 47100
FIRST_SOURCE_PORT = 47200
START_ALLOWANCE_S = 0.15  # the sender starts this long after the receiver is ready
DRAIN_S = 0.2  # the receiver keeps going this long after the sender stops
FLOOD_BATCH = 32
MAX_RATE = 2_000_000


# latency, send_delay, to_stamp, stamp_to_app: per-packet arrays (load mode), or None
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
SPLITS = ("send_delay", "to_rx_stamp", "rx_stamp_to_app")
Consumer = Callable[[ReceivePath, int], dict[str, int]]


@dataclass(frozen=True)
class LoadSettings:
    mode: str  # throughput (flood) or load (paced)
    duration_s: float
    message_size: int
    rate_pps: int = 0  # load mode
    flows: int = 1
    rcvbuf: int | None = None
    tpacket_block_size: int = 1 << 20
    tpacket_blocks: int = 16
    tpacket_timeout_ms: int = 1
    uring_buffers: int = 4096
    xsk_frames: int = 4096  # AF_XDP UMEM frames (and fill ring entries, up to 2048)
    stall: tuple[int, int] = (0, 0)  # (at, length) in ns: a sender stall, to calibrate
    uring_setup: int = URING_SETUP  # io_uring_setup flags (benchmarks compare others)
    # a sleeping io_uring receiver waits for this many completions, or min_wait µs after the
    # first (6.12): batches at a fixed rate, for a bounded wait (benchmarks/python_api.py)
    uring_wait_nr: int = 1
    uring_min_wait_us: int = 0
    # who takes the packets off the receive path: None, the engine's own loop, which records
    # each packet; or a consumer of the Python API, (path, deadline_ns) -> the loop's stats
    # (benchmarks/python_api.py), which counts only
    consumer: Consumer | None = None

    @property
    def records_latency(self) -> bool:
        return self.mode == LOAD and self.consumer is None

    @property
    def offered(self) -> int:
        """Packets the sequence space must hold."""
        rate = self.rate_pps if self.mode == LOAD else MAX_RATE
        return int(rate * self.duration_s * 1.1) + 10_000


def _device_drops(dev: str) -> dict[str, int]:
    stats = Path("/sys/class/net") / dev / "statistics"
    return {name: int((stats / name).read_text()) for name in ("rx_dropped", "tx_dropped")}


def _softnet_dropped() -> int:
    return sum(row["dropped"] for row in procfs.read_softnet(Host()))


def path_options(strategy: Strategy, settings: LoadSettings) -> PathOptions:
    """The receive path as the bench sizes it: a socket strategy takes its own batch, a ring
    as much as it holds (up to the engine's largest batch)."""
    # a busy poller waits for one completion: the kernel busy polls once before it sleeps
    uring_wait_nr = 1 if strategy.busy_poll_us else settings.uring_wait_nr
    return PathOptions(
        batch=strategy.batch if strategy.kind == Receiver.SOCKET else MAX_BATCH,
        timestamps=settings.records_latency,
        rcvbuf=settings.rcvbuf,
        uring_buffers=settings.uring_buffers,
        uring_wait_nr=uring_wait_nr,
        uring_min_wait_us=0 if uring_wait_nr == 1 else settings.uring_min_wait_us,
        uring_setup=settings.uring_setup,
        tpacket_block_size=settings.tpacket_block_size,
        tpacket_blocks=settings.tpacket_blocks,
        tpacket_timeout_ms=settings.tpacket_timeout_ms,
        xsk_frames=settings.xsk_frames,
    )


def _null_receive(ready: Callable[[], None], dev: str, seconds: float) -> dict[str, int]:
    """Drop every frame at the receiving device with XDP for a while: no receiver at all."""
    prog_fd = _engine.xdp_drop_prog_load()
    try:
        link = attach_xdp(socket.if_nametoindex(dev), prog_fd)
        try:
            before = netns_snapshot()
            ready()
            time.sleep(seconds)
            after = netns_snapshot()
        finally:
            os.close(link)
    finally:
        os.close(prog_fd)
    # what got past the program: delivered to a socket, or to no port
    return {
        "reached_the_stack": after["InDatagrams"]
        - before["InDatagrams"]
        + after["NoPorts"]
        - before["NoPorts"]
    }


def null_receiver(
    sender: Endpoint,
    receiver: Endpoint,
    sender_dev: str,
    receiver_dev: str,
    settings: LoadSettings,
    account: MachineAccount,
) -> dict[str, Any]:
    """The calibration: what the machine spends per packet when an XDP program drops every
    packet at the receiving device, before any socket; the floor under every strategy's
    receive cost on this path (on veth: the NAPI poll and the XDP run, in the sender's
    softirq)."""
    assert receiver.cpu is not None
    sent, dropped = _pair(
        "the null receiver",
        (_null_receive, receiver_dev, START_ALLOWANCE_S + settings.duration_s + DRAIN_S),
        sender,
        receiver,
        sender_dev,
        settings,
        account,
        measure_receiver=False,
    )
    cost = receive_cost([sent["window"]], receiver.cpu, [sent["sent"]])
    return {
        "what": "an XDP program drops every packet at the receiving device",
        "sent": sent["sent"],
        "reached_the_stack": dropped["reached_the_stack"],
        "receive_cpu_ns_per_packet": cost["receive_cpu_ns_per_packet"],
        "receive_parts_ns": cost["receive_parts_ns"],
        "tracer_ns_per_packet": cost["tracer_ns_per_packet"],
    }


def _port_holders(port: int) -> str:
    """Who holds a UDP port in this namespace (/proc/self/net/udp), for the error message."""
    lines = Path("/proc/self/net/udp").read_text().splitlines()[1:]
    held = [line.split() for line in lines if line.split()[1].endswith(f":{port:04X}")]
    return "; ".join(f"local {f[1]} uid {f[7]} inode {f[9]}" for f in held) or "none listed"


def _receive(
    ready: Callable[[], None], strategy: Strategy, me: Endpoint, dev: str, settings: LoadSettings
) -> dict[str, Any]:
    try:
        path = open_path(strategy, me.address, PORT, dev, path_options(strategy, settings))
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise RxtuneError(
            f"{strategy.label}: UDP port {PORT} on {me.address} is taken in "
            f"namespace {me.netns} (holders: {_port_holders(PORT)})"
        ) from None
    assert path.rx is not None
    try:
        capacity = settings.offered
        # filled, so every page is faulted in before the clock starts
        arrays: Arrays = (
            tuple(np.full(capacity, -1, np.int64) for _ in range(4))  # type: ignore[assignment]
            if settings.records_latency
            else None
        )
        seen = bytearray(capacity // 8 + 1)  # zeroed by memset: its pages are touched too
        offset = _engine.clock_offset()
        before = (netns_snapshot(), _softnet_dropped(), _device_drops(dev))
        ready()
        deadline = time.monotonic_ns() + int(
            (START_ALLOWANCE_S + settings.duration_s + DRAIN_S) * 1e9
        )
        try:
            stats = (
                settings.consumer(path, deadline)
                if settings.consumer
                else path.rx.run(deadline, arrays, seen, offset)
            )
        except OSError as error:  # the kernel refused a piece of the strategy
            raise refused(strategy, error) from None
        after = (netns_snapshot(), _softnet_dropped(), _device_drops(dev))
        received = min(stats["packets"], capacity)
        return {
            "stats": stats,
            "napi_id": path.napi_id(),
            "netns": netns_delta(before[0], after[0]),
            "softnet_dropped": after[1] - before[1],
            "device_drops": {k: after[2][k] - before[2][k] for k in after[2]},
            "samples": None if arrays is None else tuple(a[:received] for a in arrays),
        }
    finally:
        path.close()


def _switches(pid: int | None) -> int:
    return sum(context_switches(pid)) if pid else 0


def _send(
    ready: Callable[[], None],
    me: Endpoint,
    peer: Endpoint,
    settings: LoadSettings,
    dev: str,
    account: MachineAccount,
    receiver_pid: int | None,
) -> dict[str, Any]:
    socks = []
    try:
        for flow in range(settings.flows):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.bind((me.address, FIRST_SOURCE_PORT + flow))
            sock.connect((peer.address, PORT))
        before_drops = _device_drops(dev)
        time.sleep(START_ALLOWANCE_S / 2)
        ready()  # the traffic starts now: another host's receiver opens its window
        # the slow reads first, the exact snapshot last, right before the first packet
        counts, switches = cpu_counts(), _switches(receiver_pid)
        preempted = context_switches(os.getpid())[1]
        first = account.snapshot(receiver_pid)
        rate = settings.rate_pps if settings.mode == LOAD else 0
        stats = _engine.send_load(
            [s.fileno() for s in socks],
            settings.message_size,
            rate,
            int(settings.duration_s * 1e9),
            FLOOD_BATCH,
            settings.stall,
        )
        last = account.snapshot(receiver_pid)
        preempted = context_switches(os.getpid())[1] - preempted
        counts_after, switches_after = cpu_counts(), _switches(receiver_pid)
        after_drops = _device_drops(dev)
        return {
            **stats,
            "device_drops": {k: after_drops[k] - before_drops[k] for k in after_drops},
            "window": Window(first, last),
            "cpus": counts_delta(counts, counts_after),
            "context_switches": switches_after - switches,
            "sender_preempted": preempted,
        }
    finally:
        for sock in socks:
            sock.close()


def _pair(
    what: str,
    receive: tuple[Any, ...],
    sender: Endpoint,
    receiver: Endpoint,
    sender_dev: str,
    settings: LoadSettings,
    account: MachineAccount,
    measure_receiver: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start the receiving worker (its function and arguments), then the sender once the
    receiver is ready; the sender's and the receiver's results."""
    workers: list[Worker] = []
    try:
        rx = Worker(receiver.netns, receiver.cpu, *receive)
        workers.append(rx)
        if not rx.wait_ready(15):
            rx.result(5)  # raises the receiver's error
            raise RxtuneError(f"{what} did not start")
        tx = Worker(
            sender.netns,
            sender.cpu,
            _send,
            sender,
            receiver,
            settings,
            sender_dev,
            account,
            rx.pid if measure_receiver else None,
        )
        workers.append(tx)
        return tx.result(settings.duration_s + 30), rx.result(settings.duration_s + 30)
    finally:
        for worker in workers:
            worker.kill()


def run(
    strategy: Strategy,
    sender: Endpoint,
    receiver: Endpoint,
    sender_dev: str,
    receiver_dev: str,
    settings: LoadSettings,
    account: MachineAccount,
) -> dict[str, Any]:
    """One round: (sent, got), the sender's and the receiver's raw figures; record() turns
    the rounds of a strategy into its row."""
    sent, got = _pair(
        "the receiver",
        (_receive, strategy, receiver, receiver_dev, settings),
        sender,
        receiver,
        sender_dev,
        settings,
        account,
    )
    return {"sent": sent, "got": got}


def drop_points(strategy: Strategy, sent: dict[str, Any], got: dict[str, Any]) -> dict[str, int]:
    """One count per place a packet can die; where one drop moves several counters, it is
    counted at the first and taken out of the others. A failed veth forward counts as the
    sender's tx_dropped (a backlog drop also as softnet `dropped` and the receiver's
    rx_dropped); a failed XDP redirect as the XSK's statistics and the receiver's
    rx_dropped."""
    backlog = got["softnet_dropped"]
    ring = got["stats"]["ring_drops"]
    xsk = ring if strategy.kind == Receiver.AF_XDP else 0
    return {
        # a TPACKET tap's packets also reach a UDP sink no one reads: not losses
        "socket_buffer": 0 if strategy.kind == Receiver.TPACKET else got["netns"]["RcvbufErrors"],
        "ring": ring,
        "backlog": backlog,
        "veth_forward": max(sent["device_drops"]["tx_dropped"] - backlog, 0),
        "receiver_device": max(got["device_drops"]["rx_dropped"] - backlog - xsk, 0),
    }


def record(
    strategy: Strategy, settings: LoadSettings, rounds: list[dict[str, Any]], receiving_cpu: int
) -> dict[str, Any]:
    """A strategy's row from its interleaved rounds: counts add up, latency percentiles are
    over every sample of every round, and each confidence interval is over the rounds."""
    sents = [r["sent"] for r in rounds]
    gots = [r["got"] for r in rounds]
    sent = sum(s["sent"] for s in sents)
    received = sum(g["stats"]["packets"] for g in gots)
    windows = [s["window"] for s in sents]
    seconds = sum(s["elapsed_ns"] for s in sents) / 1e9 or settings.duration_s
    drops: dict[str, int] = {}
    for s, g in zip(sents, gots, strict=True):
        for point, count in drop_points(strategy, s, g).items():
            drops[point] = drops.get(point, 0) + count
    cpus = [
        {**row, **_cpu_time(windows, row["cpu"])} for row in _sum_rows([s["cpus"] for s in sents])
    ]
    per_round = [
        _round_figures(s, g, receiving_cpu, settings) for s, g in zip(sents, gots, strict=True)
    ]
    latency = {}
    if settings.records_latency:
        pooled = [np.concatenate([g["samples"][i] for g in gots]) for i in range(4)]
        latency = {
            "latency_ns": summarize(pooled[0], [r["latency_ns"] for r in per_round]),
            "split_ns": {name: summarize(pooled[i + 1]) for i, name in enumerate(SPLITS)},
        }
    calls = sum(g["stats"]["calls"] for g in gots)
    return {
        "strategy": strategy.name,
        "label": strategy.label,
        "mode": settings.mode,
        "params": {
            "kind": strategy.kind.value,
            "wait": strategy.wait.name.lower(),
            "batch": strategy.batch,
            "busy_poll_us": strategy.busy_poll_us,
            "socket_options": strategy.socket_options,
            "sysctls": strategy.sysctls,
            "napi": strategy.napi,
            "knobs": strategy.knob_values(),
            "pm_qos_us": strategy.pm_qos_us,
        },
        "rounds": len(rounds),
        "rate": {
            "offered_pps": settings.rate_pps if settings.mode == LOAD else None,
            "achieved_pps": round(sent / seconds),
            "received_pps": round(received / seconds),
        },
        "packets": {
            "sent": sent,
            "received": received,
            "sender_errors": sum(s["errors"] for s in sents),
            "dropped": sum(drops.values()),
            "unaccounted": sent - received - sum(drops.values()),
            "duplicates": sum(g["stats"]["duplicates"] for g in gots),
            "reordered": sum(g["stats"]["reordered"] for g in gots),
            "foreign": sum(g["stats"]["foreign"] for g in gots),
            "late_sends": sum(s["late"] for s in sents),
        },
        # a sender that was taken off its CPU explains late sends (send_delay)
        "sender": {"preempted": sum(s["sender_preempted"] for s in sents)},
        "drops": drops,
        **latency,
        "cost": {
            **receive_cost(windows, receiving_cpu, [g["stats"]["packets"] for g in gots]),
            "ctx_per_kpkt": _per_k(sum(s["context_switches"] for s in sents), received),
            "interrupts_per_kpkt": interrupts_per_kpkt(cpus, received),
            "net_rx_softirqs_per_kpkt": _per_k(sum(c["net_rx_softirqs"] for c in cpus), received),
            "packets_per_call": round(received / max(calls, 1), 2),
            "polling_in_idle_ns": polling_in_idle_ns(cpus),
        },
        "window": {
            "ns": sum(w.ns for w in windows),
            "drain_ns": max(
                g["stats"]["last_ns"] - (s["started_ns"] + s["elapsed_ns"])
                for s, g in zip(sents, gots, strict=True)
            ),
        },
        "per_round": per_round,
        "cpus": cpus,
        "napi_id": gots[-1]["napi_id"],
        "busy_poll_rx_packets": sum(g["netns"]["BusyPollRxPackets"] for g in gots),
        "unsupported": None,
    }


def _per_k(value: int, packets: int) -> float:
    return round(1000 * value / max(packets, 1), 2)


def _sum_rows(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per-CPU count rows of several rounds, added up."""
    total = rounds[0]
    for rows in rounds[1:]:
        total = [
            {
                "cpu": a["cpu"],
                "interrupts": {k: a["interrupts"][k] + b["interrupts"][k] for k in a["interrupts"]},
                "net_rx_softirqs": a["net_rx_softirqs"] + b["net_rx_softirqs"],
                "time_squeeze": a["time_squeeze"] + b["time_squeeze"],
                "steal_ns": a["steal_ns"] + b["steal_ns"],
                "idle_state_us": add_idle(a["idle_state_us"], b["idle_state_us"]),
            }
            for a, b in zip(total, rows, strict=True)
        ]
    return total


def _cpu_time(windows: list[Window], cpu: int) -> dict[str, int]:
    rows = [w.cpu(cpu) for w in windows]
    return {key: sum(r[key] for r in rows) for key in rows[0]}


def _round_figures(
    sent: dict[str, Any], got: dict[str, Any], receiving_cpu: int, settings: LoadSettings
) -> dict[str, Any]:
    """The figures of one round, from which the intervals are made."""
    packets = got["stats"]["packets"]
    cost = receive_cost([sent["window"]], receiving_cpu, [packets])
    figures: dict[str, Any] = {
        "sent": sent["sent"],
        "received": packets,
        "achieved_pps": round(sent["sent"] / max(sent["elapsed_ns"] / 1e9, 1e-9)),
        "receive_cpu_ns_per_packet": cost["receive_cpu_ns_per_packet"],
        "receive_cores": cost["receive_cores"],
        "thread_cpu_ns_per_packet": cost["thread_cpu_ns_per_packet"],
    }
    if settings.records_latency:
        figures["latency_ns"] = summarize(got["samples"][0])
    return figures
