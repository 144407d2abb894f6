"""High-rate runs: a sender in the C engine offers a paced load (--rate) or floods, from one
or more flows; the receiver takes it with the strategy under test. Throughput mode counts
what arrived and where the rest was dropped; load mode adds each packet's latency."""

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
    cpu_delta,
    cpu_snapshot,
    netns_delta,
    netns_snapshot,
    thread_delta,
    thread_snapshot,
)
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


# latency, to_kernel, kernel_to_app: sample arrays (load mode), or None (throughput mode)
Arrays = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]
# a receive loop, set up: (deadline_ns, arrays, seen bitmap, realtime - monotonic) -> stats
Loop = Callable[[int, Arrays, bytearray, int], dict[str, int]]


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
        opened = open_udp(self.strategy, (self.me.address, PORT), rcvbuf=self.settings.rcvbuf)
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
            fd, epfd, wait, batch, deadline, *arrays, seen, offset
        )

    def _uring(self) -> Loop:
        sock = self._udp()
        self.napi_source = sock
        fd, s = sock.fileno(), self.strategy
        buffers = self.settings.uring_buffers
        return lambda deadline, arrays, seen, offset: _engine.rx_uring(
            fd,
            256,
            buffers,
            2048,
            s.busy_poll_us or 0,
            1 if s.busy_poll_us else 0,
            deadline,
            *arrays,
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
            *arrays,
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
        with IPRoute() as ipr:
            ipr.link(
                "set",
                index=index,
                xdp={"attrs": [("IFLA_XDP_FD", prog_fd), ("IFLA_XDP_FLAGS", XDP_FLAGS_DRV_MODE)]},
            )

        def detach() -> None:
            with IPRoute() as ipr:
                ipr.link(
                    "set",
                    index=index,
                    xdp={"attrs": [("IFLA_XDP_FD", -1), ("IFLA_XDP_FLAGS", XDP_FLAGS_DRV_MODE)]},
                )

        self.closers.append(detach)
        try:
            self.xsk = _engine.xsk_open(index, 0, map_fd, 4096)
        except OSError as error:
            raise Unsupported(f"AF_XDP socket on {self.dev}: {error.strerror}") from None
        self.closers.append(self._close_xsk)
        poll_mode = int(self.strategy.poll_mode)
        return lambda deadline, arrays, seen, offset: _engine.rx_xdp(
            self.xsk, poll_mode, PORT, deadline, *arrays, seen
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
        arrays: Arrays = (
            (
                np.empty(capacity, np.int64),
                np.empty(capacity, np.int64),
                np.empty(capacity, np.int64),
            )
            if settings.mode == LOAD
            else (None, None, None)
        )
        seen = bytearray(capacity // 8 + 1)
        offset = _engine.clock_offset()
        before = (
            cpu_snapshot(),
            netns_snapshot(),
            thread_snapshot(),
            _softnet_dropped(),
            _device_drops(dev),
        )
        ready()
        deadline = time.monotonic_ns() + int(
            (START_ALLOWANCE_S + settings.duration_s + DRAIN_S) * 1e9
        )
        started = time.monotonic_ns()
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
        after = (
            cpu_snapshot(),
            netns_snapshot(),
            thread_snapshot(),
            _softnet_dropped(),
            _device_drops(dev),
        )
        received = min(stats["packets"], capacity)
        return {
            "stats": stats,
            "napi_id": receiver.napi_id(),
            "loop_ns": time.monotonic_ns() - started,
            "cpus": cpu_delta(before[0], after[0]),
            "netns": netns_delta(before[1], after[1]),
            "thread": thread_delta(before[2], after[2]),
            "softnet_dropped": after[3] - before[3],
            "device_drops": {k: after[4][k] - before[4][k] for k in after[4]},
            "latency": arrays[0][:received] if arrays[0] is not None else None,
            "to_kernel": arrays[1][:received] if arrays[1] is not None else None,
            "kernel_to_app": arrays[2][:received] if arrays[2] is not None else None,
        }
    finally:
        receiver.close()


def _send(
    ready: Callable[[], None], me: Endpoint, peer: Endpoint, settings: LoadSettings, dev: str
) -> dict[str, Any]:
    socks = []
    try:
        for flow in range(settings.flows):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.bind((me.address, FIRST_SOURCE_PORT + flow))
            sock.connect((peer.address, PORT))
        before = _device_drops(dev)
        ready()
        time.sleep(START_ALLOWANCE_S / 2)
        rate = settings.rate_pps if settings.mode == LOAD else 0
        stats = _engine.send_load(
            [s.fileno() for s in socks],
            settings.message_size,
            rate,
            int(settings.duration_s * 1e9),
            FLOOD_BATCH,
        )
        after = _device_drops(dev)
        return {**stats, "device_drops": {k: after[k] - before[k] for k in after}}
    finally:
        for sock in socks:
            sock.close()


def run(
    strategy: Strategy,
    sender: Endpoint,
    receiver: Endpoint,
    sender_dev: str,
    receiver_dev: str,
    settings: LoadSettings,
) -> dict[str, Any]:
    workers: list[Worker] = []
    try:
        rx = Worker(
            receiver.netns, receiver.cpu, _receive, strategy, receiver, receiver_dev, settings
        )
        workers.append(rx)
        if not rx.wait_ready(15):
            rx.result(5)
            raise RxtuneError("receiver did not start")
        tx = Worker(sender.netns, sender.cpu, _send, sender, receiver, settings, sender_dev)
        workers.append(tx)
        sent = tx.result(settings.duration_s + 30)
        got = rx.result(settings.duration_s + 30)
    finally:
        for worker in workers:
            worker.kill()
    return record(strategy, settings, sent, got)


def _per_k(value: int, packets: int) -> float:
    return round(1000 * value / max(packets, 1), 2)


def record(
    strategy: Strategy, settings: LoadSettings, sent: dict[str, Any], got: dict[str, Any]
) -> dict[str, Any]:
    stats, thread = got["stats"], got["thread"]
    tap = strategy.kind == Receiver.TPACKET
    received = stats["packets"]
    cpu_ns = thread["cpu_ns"]
    hardirqs = sum(c["hardirqs"] for c in got["cpus"])
    net_rx = sum(c["net_rx_softirqs"] for c in got["cpus"])
    seconds = sent["elapsed_ns"] / 1e9 if sent["elapsed_ns"] else settings.duration_s
    latency = {}
    if got["latency"] is not None:
        latency = {
            "latency_ns": summarize(got["latency"]),
            "split_ns": {
                "to_kernel": summarize(got["to_kernel"]),
                "kernel_to_app": summarize(got["kernel_to_app"]),
            },
        }
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
        },
        "offered_pps": settings.rate_pps if settings.mode == LOAD else None,
        "packets": {
            "sent": sent["sent"],
            "received": received,
            "lost": max(sent["sent"] - received, 0),
            "duplicates": stats["duplicates"],
            "reordered": stats["reordered"],
            "foreign": stats["foreign"],
            "late_sends": sent["late"],
        },
        "rate": {
            "sent_pps": round(sent["sent"] / seconds),
            "received_pps": round(received / seconds),
        },
        "drops": {
            "sender": sent["errors"],
            # a TPACKET tap's packets also reach a UDP sink no one reads: not losses
            "socket_buffer": 0 if tap else got["netns"]["RcvbufErrors"],
            "socket_overflow_counter": stats["socket_overflows"],
            "softnet_backlog": got["softnet_dropped"],
            "ring": stats["ring_drops"],
            "device": sum(got["device_drops"].values()) + sum(sent["device_drops"].values()),
        },
        **latency,
        "cost": {
            **thread,
            "cpu_ns_per_packet": round(cpu_ns / max(received, 1), 1),
            "cpu_fraction": round(cpu_ns / max(got["loop_ns"], 1), 3),
            "ctx_per_kpkt": _per_k(thread["ctx_voluntary"] + thread["ctx_involuntary"], received),
            "hardirqs_per_kpkt": _per_k(hardirqs, received),
            "net_rx_softirqs_per_kpkt": _per_k(net_rx, received),
            "packets_per_call": round(received / max(stats["calls"], 1), 2),
            "hardirqs": hardirqs,
            "net_rx_softirqs": net_rx,
        },
        "cpus": got["cpus"],
        "napi_id": got["napi_id"],
        "busy_poll_rx_packets": got["netns"]["BusyPollRxPackets"],
        "unsupported": None,
    }
