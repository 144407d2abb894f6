"""One ping-pong run: a client sends one stamped packet at a time; the reflector, on the
other side, receives it with the strategy under test, records its one-way latency and the
split at the kernel's RX stamp, and echoes it. Both use the strategy, as sockperf does."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import _engine
from ..engine.sockets import open_udp
from ..errors import RxtuneError
from ..host import Worker
from ..strategies import Strategy
from .counters import (
    cpu_delta,
    cpu_snapshot,
    netns_delta,
    netns_snapshot,
    thread_delta,
    thread_snapshot,
)
from .stats import summarize

PORT = 47000
WARMUP_PACKETS = 300
MAX_RATE = 250_000  # round trips per second the sample buffers are sized for


@dataclass(frozen=True)
class Endpoint:
    netns: str | None
    address: str
    cpu: int | None
    remote: bool = False  # another host, running `rxtune reflect`


@dataclass(frozen=True)
class Settings:
    duration_s: float
    message_size: int
    reply_timeout_ms: int = 100
    rx_timestamps: bool = True


def _capacity(settings: Settings) -> int:
    return int(settings.duration_s * MAX_RATE) + 1000


def _reflector(
    ready: Callable[[], None], strategy: Strategy, me: Endpoint, settings: Settings
) -> dict[str, Any]:
    sock = open_udp(strategy, (me.address, PORT), rx_timestamps=settings.rx_timestamps)
    try:
        capacity = _capacity(settings)
        one_way, to_kernel, kernel_to_app = (np.empty(capacity, np.int64) for _ in range(3))
        deadline = time.monotonic_ns() + int((settings.duration_s + 15) * 1e9)
        ns_before, thread_before = netns_snapshot(), thread_snapshot()
        ready()
        started = time.monotonic_ns()
        counts = _engine.reflect(
            sock.sock.fileno(),
            sock.epfd,
            int(strategy.wait),
            deadline,
            one_way,
            to_kernel,
            kernel_to_app,
        )
        loop_ns = time.monotonic_ns() - started
        thread = thread_delta(thread_before, thread_snapshot())
        received = min(counts["received"], capacity)
        return {
            "counts": counts,
            "thread": thread,
            "loop_ns": loop_ns,
            "netns": netns_delta(ns_before, netns_snapshot()),
            "napi_id": sock.napi_id(),
            "one_way": one_way[:received],
            "to_kernel": to_kernel[:received],
            "kernel_to_app": kernel_to_app[:received],
        }
    finally:
        sock.close()


def _client(
    ready: Callable[[], None], strategy: Strategy, me: Endpoint, peer: Endpoint, settings: Settings
) -> dict[str, Any]:
    sock = open_udp(
        strategy,
        (me.address, 0),
        connect=(peer.address, PORT),
        rx_timestamps=settings.rx_timestamps,
    )
    try:
        fd, epfd, wait = sock.sock.fileno(), sock.epfd, int(strategy.wait)
        timeout = settings.reply_timeout_ms * 1_000_000
        rtt, wake = np.empty(_capacity(settings), np.int64), np.empty(_capacity(settings), np.int64)
        ready()
        warm = _engine.ping(
            fd,
            epfd,
            wait,
            time.monotonic_ns() + 3_000_000_000,
            settings.message_size,
            WARMUP_PACKETS,
            True,
            timeout,
            rtt,
        )
        if warm["received"] == 0:
            raise RxtuneError(
                f"no echo from {peer.address}:{PORT} during warm-up ({warm['sent']} sent)"
            )
        cpus_before, ns_before, thread_before = cpu_snapshot(), netns_snapshot(), thread_snapshot()
        start = time.monotonic_ns()
        counts = _engine.ping(
            fd,
            epfd,
            wait,
            start + int(settings.duration_s * 1e9),
            settings.message_size,
            len(rtt),
            False,
            timeout,
            rtt,
            wake,
        )
        elapsed = time.monotonic_ns() - start
        thread = thread_delta(thread_before, thread_snapshot())
        cpus = cpu_delta(cpus_before, cpu_snapshot())
        received = min(counts["received"], len(rtt))
        return {
            "counts": counts,
            "elapsed_ns": elapsed,
            "cpus": cpus,
            "napi_id": sock.napi_id(),
            "thread": thread,
            "loop_ns": elapsed,
            "netns": netns_delta(ns_before, netns_snapshot()),
            "rtt": rtt[:received],
            "kernel_to_app": wake[:received],
        }
    finally:
        sock.close()


def run(
    strategy: Strategy, client: Endpoint, reflector: Endpoint, settings: Settings
) -> dict[str, Any]:
    """Run one strategy; returns the record for the result's `runs` list."""
    if reflector.remote:
        ping = Worker(client.netns, client.cpu, _client, strategy, client, reflector, settings)
        try:
            return record(strategy, settings, ping.result(settings.duration_s + 30), None)
        finally:
            ping.kill()
    workers: list[Worker] = []
    try:
        echo = Worker(reflector.netns, reflector.cpu, _reflector, strategy, reflector, settings)
        workers.append(echo)
        if not echo.wait_ready(10):
            echo.result(1)  # raises the reflector's error
            raise RxtuneError("reflector did not start")
        ping = Worker(client.netns, client.cpu, _client, strategy, client, reflector, settings)
        workers.append(ping)
        client_result = ping.result(settings.duration_s + 30)
        reflector_result = echo.result(30)
    finally:
        for worker in workers:
            worker.kill()
    return record(strategy, settings, client_result, reflector_result)


def record(
    strategy: Strategy, settings: Settings, client: dict[str, Any], reflector: dict[str, Any] | None
) -> dict[str, Any]:
    """The run's row. With a local reflector, latency is its exact one-way figure and the
    costs are its thread's; against a remote one (no shared clock), latency is RTT/2 and
    the costs and the kernel→app part are the client's, which then is the receiver."""
    sent, received = client["counts"]["sent"], client["counts"]["received"]
    receiver = reflector or client
    rx_packets = max(receiver["counts"]["received"], 1)
    thread = receiver["thread"]
    cpu_ns = thread["cpu_ns"]
    if reflector:
        latency = summarize(reflector["one_way"])
        split = {
            "to_kernel": summarize(reflector["to_kernel"]),
            "kernel_to_app": summarize(reflector["kernel_to_app"]),
        }
    else:
        latency = summarize(client["rtt"] // 2)
        split = {
            "to_kernel": summarize(np.empty(0, np.int64)),
            "kernel_to_app": summarize(client["kernel_to_app"]),
        }
    return {
        "strategy": strategy.name,
        "label": strategy.label,
        "params": {
            "wait": strategy.wait.name.lower(),
            "busy_poll_us": strategy.busy_poll_us,
            "socket_options": strategy.socket_options,
            "sysctls": strategy.sysctls,
            "epoll_params": (vars(strategy.epoll_params) if strategy.epoll_params else None),
            "napi": strategy.napi,
        },
        "latency_basis": "one-way" if reflector else "rtt/2",
        "latency_ns": latency,
        "rtt_ns": summarize(client["rtt"]),
        "split_ns": split,
        "packets": {
            "sent": sent,
            "received": received,
            "lost": sent - received,
            "reordered": reflector["counts"]["reordered"] if reflector else 0,
            "reflected": receiver["counts"]["received"],
        },
        "rate": {
            "round_trips_per_s": round(received / (client["elapsed_ns"] / 1e9), 1)
            if client["elapsed_ns"]
            else 0.0
        },
        "cost": {
            **thread,
            "cpu_ns_per_packet": round(cpu_ns / rx_packets, 1),
            # of one core, over the measured interval: what a strategy costs whatever
            # the packet rate (a busy poller keeps its core whether packets come or not)
            "cpu_fraction": round(cpu_ns / max(receiver["loop_ns"], 1), 3),
            "ctx_per_packet": round(
                (thread["ctx_voluntary"] + thread["ctx_involuntary"]) / rx_packets, 3
            ),
            "hardirqs": sum(c["hardirqs"] for c in client["cpus"]),
            "net_rx_softirqs": sum(c["net_rx_softirqs"] for c in client["cpus"]),
        },
        "cpus": client["cpus"],
        "napi_id": receiver["napi_id"],
        "busy_poll_rx_packets": receiver["netns"]["BusyPollRxPackets"],
        "udp_drops": receiver["netns"]["RcvbufErrors"],
        "unsupported": None,
    }
