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
from pyroute2 import IPRoute

from ..backends import procfs
from ..backends.sockopt import SO_INCOMING_NAPI_ID, SO_RXQ_OVFL
from ..engine import _engine
from ..engine.sockets import open_udp
from ..errors import NotPermitted, RxtuneError, Unsupported
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
ETH_P_IP = 0x0800
XDP_FLAGS_DRV_MODE = 1 << 2
XSK_BUSY_WAIT_S = 2.0


# latency, send_delay, to_stamp, stamp_to_app: per-packet arrays (load mode), or None
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
SPLITS = ("send_delay", "to_rx_stamp", "rx_stamp_to_app")
# a receive loop, set up: (deadline_ns, arrays, seen bitmap, realtime - monotonic) -> stats
Loop = Callable[[int, Arrays, bytearray, int], dict[str, int]]
URING_BATCH_WAIT_US = 50  # a sleeping io_uring receiver in throughput mode waits for a batch
# completions run as task work in the waiter itself: no IPI that ends a busy poll (load.h)
URING_SETUP = _engine.IORING_SETUP_SINGLE_ISSUER | _engine.IORING_SETUP_DEFER_TASKRUN


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

    @property
    def records_latency(self) -> bool:
        return self.mode == LOAD

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


class _Receiver:
    """Sets a strategy's receive path up, runs the C loop, tears it down."""

    def __init__(self, strategy: Strategy, me: Endpoint, dev: str, settings: LoadSettings):
        self.strategy, self.me, self.dev, self.settings = strategy, me, dev, settings
        self.closers: list[Callable[[], None]] = []
        self.napi_source: socket.socket | None = None
        self.xsk: Any = None

    def open(self) -> Loop:
        kind = self.strategy.kind
        if kind == Receiver.SOCKET:
            return self._socket()
        if kind == Receiver.IO_URING:
            return self._uring()
        if kind == Receiver.TPACKET:
            return self._tpacket()
        return self._xdp()

    def _udp(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.closers.append(sock.close)
        sock.bind((self.me.address, PORT))
        if self.settings.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.settings.rcvbuf)
        return sock

    def _socket(self) -> Loop:
        opened = open_udp(
            self.strategy,
            (self.me.address, PORT),
            rx_timestamps=self.settings.records_latency,
            rcvbuf=self.settings.rcvbuf,
        )
        self.closers.append(opened.close)
        opened.sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        self.napi_source = opened.sock
        fd, epfd, wait, batch = (
            opened.sock.fileno(),
            opened.epfd,
            int(self.strategy.wait),
            self.strategy.batch,
        )
        return lambda deadline, arrays, seen, offset: _engine.rx_socket(
            fd, epfd, wait, batch, deadline, arrays, seen, offset
        )

    def _uring(self) -> Loop:
        sock = self._udp()
        self.napi_source = sock
        fd, s = sock.fileno(), self.strategy
        buffers = self.settings.uring_buffers
        # a busy poller waits for one completion (the kernel busy polls once before it
        # sleeps); a sleeper in throughput mode waits for a batch, or 50 µs after the first
        batch = 1 if s.busy_poll_us or self.settings.records_latency else s.batch
        min_wait = 0 if batch == 1 else URING_BATCH_WAIT_US
        return lambda deadline, arrays, seen, offset: _engine.rx_uring(
            fd,
            256,
            buffers,
            2048,
            s.busy_poll_us or 0,
            1 if s.busy_poll_us else 0,
            batch,
            min_wait,
            self.settings.uring_setup,
            deadline,
            arrays,
            seen,
            offset,
        )

    def _tpacket(self) -> Loop:
        # a UDP socket swallows the datagrams the stack still delivers (no ICMP unreachable)
        sink = self._udp()
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        except PermissionError:
            raise NotPermitted("packet sockets need CAP_NET_RAW") from None
        self.closers.append(raw.close)
        raw.bind((self.dev, ETH_P_IP))
        self.napi_source = raw
        st = self.settings
        fd = raw.fileno()
        return lambda deadline, arrays, seen, offset: _engine.rx_tpacket(
            fd,
            st.tpacket_block_size,
            st.tpacket_blocks,
            st.tpacket_timeout_ms,
            PORT,
            deadline,
            arrays,
            seen,
            offset,
        )

    def _xdp(self) -> Loop:
        try:
            prog_fd, map_fd = _engine.xdp_prog_load()
        except OSError as error:
            raise Unsupported(
                f"loading the XDP redirect program: {error.strerror} ({error.filename})"
            ) from None
        self.closers += [lambda: os.close(prog_fd), lambda: os.close(map_fd)]
        index = socket.if_nametoindex(self.dev)
        self.closers.append(_attach_xdp(index, prog_fd))
        # the previous run's socket leaves its queue in a deferred release: EBUSY for a while
        give_up = time.monotonic() + XSK_BUSY_WAIT_S
        while True:
            try:
                self.xsk = _engine.xsk_open(index, 0, map_fd, self.settings.xsk_frames)
                break
            except OSError as error:
                if error.errno != errno.EBUSY or time.monotonic() > give_up:
                    raise Unsupported(f"AF_XDP socket on {self.dev}: {error.strerror}") from None
                time.sleep(0.02)
        self.closers.append(self._close_xsk)
        poll_mode = int(self.strategy.poll_mode)
        return lambda deadline, arrays, seen, offset: _engine.rx_xdp(
            self.xsk, poll_mode, PORT, deadline, arrays, seen
        )

    def _close_xsk(self) -> None:
        self.xsk = None  # the capsule's destructor closes the socket and frees the UMEM

    def napi_id(self) -> int:
        if self.napi_source is None:
            return 0
        try:
            return self.napi_source.getsockopt(socket.SOL_SOCKET, SO_INCOMING_NAPI_ID)
        except OSError:
            return 0

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()


def _attach_xdp(index: int, prog_fd: int) -> Callable[[], None]:
    """Attach an XDP program in driver mode to a device of this namespace; returns the
    detach."""

    def set_fd(fd: int) -> None:
        with IPRoute() as ipr:
            ipr.link(
                "set",
                index=index,
                xdp={"attrs": [("IFLA_XDP_FD", fd), ("IFLA_XDP_FLAGS", XDP_FLAGS_DRV_MODE)]},
            )

    set_fd(prog_fd)
    return lambda: set_fd(-1)


def _null_receive(ready: Callable[[], None], dev: str, seconds: float) -> dict[str, int]:
    """Drop every frame at the receiving device with XDP for a while: no receiver at all."""
    prog_fd = _engine.xdp_drop_prog_load()
    try:
        detach = _attach_xdp(socket.if_nametoindex(dev), prog_fd)
        try:
            before = netns_snapshot()
            ready()
            time.sleep(seconds)
            after = netns_snapshot()
        finally:
            detach()
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
    receiver = _Receiver(strategy, me, dev, settings)
    try:
        try:
            loop = receiver.open()
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise RxtuneError(
                f"{strategy.label}: UDP port {PORT} on {me.address} is taken in "
                f"namespace {me.netns} (holders: {_port_holders(PORT)})"
            ) from None
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
            stats = loop(deadline, arrays, seen, offset)
        except OSError as error:  # the kernel refused a piece of the strategy
            raise Unsupported(
                f"{strategy.label}: {error.strerror}"
                + (
                    " (kernel.io_uring_disabled?)"
                    if strategy.kind == Receiver.IO_URING and error.errno == errno.EPERM
                    else ""
                )
            ) from None
        after = (netns_snapshot(), _softnet_dropped(), _device_drops(dev))
        received = min(stats["packets"], capacity)
        return {
            "stats": stats,
            "napi_id": receiver.napi_id(),
            "netns": netns_delta(before[0], after[0]),
            "softnet_dropped": after[1] - before[1],
            "device_drops": {k: after[2][k] - before[2][k] for k in after[2]},
            "samples": None if arrays is None else tuple(a[:received] for a in arrays),
        }
    finally:
        receiver.close()


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
        ready()
        time.sleep(START_ALLOWANCE_S / 2)
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
