"""One ping-pong run: a client sends one stamped packet at a time; the reflector, on the
other side, receives it with the strategy under test, records its one-way latency and the
split at the kernel's RX stamp, and echoes it. Both use the strategy, as sockperf does."""

from __future__ import annotations

import functools
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
    add_idle,
    counts_delta,
    cpu_counts,
    interrupts_per_kpkt,
    netns_delta,
    netns_snapshot,
    polling_in_idle_ns,
    thread_delta,
    thread_snapshot,
)
from .machine import MachineAccount, Window
from .stats import interval, summarize

PORT = 47000
WARMUP_PACKETS = 300
MAX_RATE = 250_000  # round trips per second the sample buffers are sized for


@dataclass(frozen=True)
class Endpoint:
    netns: str | None
    address: str
    cpu: int | None
    remote: bool = False  # another host, running `rxtune serve`


@dataclass(frozen=True)
class Echo:
    """What a reflector echoes: packets with the run's cookie; serving another host, only
    from that host's address and at most at the agreed rate (source None: anyone, the
    testbed's own namespaces)."""

    cookie: int = 0
    source: str | None = None
    max_pps: int = 0


@dataclass(frozen=True)
class Settings:
    duration_s: float
    message_size: int
    reply_timeout_ms: int = 100
    rx_timestamps: bool = True


def _capacity(settings: Settings) -> int:
    return int(settings.duration_s * MAX_RATE) + 1000


def _reflector(
    ready: Callable[[], None],
    strategy: Strategy,
    me: Endpoint,
    settings: Settings,
    echo: Echo = Echo(),
) -> dict[str, Any]:
    sock = open_udp(strategy, (me.address, PORT), rx_timestamps=settings.rx_timestamps)
    try:
        capacity = _capacity(settings)
        # filled, so every page is faulted in before the clock starts
        one_way, to_stamp, stamp_to_app = (np.full(capacity, -1, np.int64) for _ in range(3))
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
            to_stamp,
            stamp_to_app,
            echo.cookie,
            echo.source,
            0,
            echo.max_pps,
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
            "to_stamp": to_stamp[:received],
            "stamp_to_app": stamp_to_app[:received],
        }
    finally:
        sock.close()


def _client(
    ready: Callable[[], None],
    strategy: Strategy,
    me: Endpoint,
    peer: Endpoint,
    settings: Settings,
    account: MachineAccount,
    cookie: int = 0,
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
        rtt, wake = (np.full(_capacity(settings), -1, np.int64) for _ in range(2))
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
            None,
            cookie,
        )
        if warm["received"] == 0:
            raise RxtuneError(
                f"no echo from {peer.address}:{PORT} during warm-up ({warm['sent']} sent)"
            )
        ready()  # the measured round trips start now: another host's reflector opens its window
        counts_before, ns_before, thread_before = cpu_counts(), netns_snapshot(), thread_snapshot()
        first = account.snapshot()
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
            cookie,
        )
        elapsed = time.monotonic_ns() - start
        last = account.snapshot()
        thread = thread_delta(thread_before, thread_snapshot())
        cpus = counts_delta(counts_before, cpu_counts())
        received = min(counts["received"], len(rtt))
        return {
            "counts": counts,
            "elapsed_ns": elapsed,
            "cpus": cpus,
            "window": Window(first, last),
            "napi_id": sock.napi_id(),
            "thread": thread,
            "loop_ns": elapsed,
            "netns": netns_delta(ns_before, netns_snapshot()),
            "rtt": rtt[:received],
            "stamp_to_app": wake[:received],
        }
    finally:
        sock.close()


def run(
    strategy: Strategy,
    client: Endpoint,
    reflector: Endpoint,
    settings: Settings,
    account: MachineAccount,
) -> dict[str, Any]:
    """One round: the client's and (when local) the reflector's raw figures."""
    client_args = (_client, strategy, client, reflector, settings, account)
    if reflector.remote:
        ping = Worker(client.netns, client.cpu, *client_args)
        try:
            return {"client": ping.result(settings.duration_s + 30), "reflector": None}
        finally:
            ping.kill()
    workers: list[Worker] = []
    try:
        echo = Worker(reflector.netns, reflector.cpu, _reflector, strategy, reflector, settings)
        workers.append(echo)
        if not echo.wait_ready(10):
            echo.result(1)  # raises the reflector's error
            raise RxtuneError("reflector did not start")
        ping = Worker(client.netns, client.cpu, *client_args)
        workers.append(ping)
        client_result = ping.result(settings.duration_s + 30)
        reflector_result = echo.result(30)
    finally:
        for worker in workers:
            worker.kill()
    return {"client": client_result, "reflector": reflector_result}


def _total(rows: list[dict[str, int]]) -> dict[str, int]:
    return {key: sum(row[key] for row in rows) for key in rows[0]}


def _one_way(client: dict[str, Any], reflector: dict[str, Any] | None) -> np.ndarray:
    return reflector["one_way"] if reflector else client["rtt"] // 2


def record(strategy: Strategy, settings: Settings, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The strategy's row from its rounds. With a local reflector, latency is its exact
    one-way figure and the thread costs are its thread's; against a remote one (no shared
    clock), latency is RTT/2 and the thread costs and the stamp->app part are the client's,
    which then is the receiver. The machine's busy time covers every CPU of this host."""
    clients = [r["client"] for r in rounds]
    reflectors = [r["reflector"] for r in rounds if r["reflector"]]
    remote = not reflectors
    receivers = clients if remote else reflectors
    sent = sum(c["counts"]["sent"] for c in clients)
    received = sum(c["counts"]["received"] for c in clients)
    rx_packets = max(sum(r["counts"]["received"] for r in receivers), 1)
    thread = _total([r["thread"] for r in receivers])
    elapsed = sum(c["elapsed_ns"] for c in clients)
    rtt = np.concatenate([c["rtt"] for c in clients])
    per_round = [
        summarize(_one_way(r["client"], r["reflector"]))
        | {"machine_cpu_ns_per_round_trip": r["client"]["window"].busy_ns()
           / max(r["client"]["counts"]["received"], 1)}
        for r in rounds
    ]  # fmt: skip
    latency = summarize(
        np.concatenate([_one_way(r["client"], r["reflector"]) for r in rounds]), per_round
    )
    if remote:
        split = {
            "to_rx_stamp": summarize(np.empty(0, np.int64)),
            "rx_stamp_to_app": summarize(np.concatenate([c["stamp_to_app"] for c in clients])),
        }
    else:
        split = {
            "to_rx_stamp": summarize(np.concatenate([r["to_stamp"] for r in reflectors])),
            "rx_stamp_to_app": summarize(np.concatenate([r["stamp_to_app"] for r in reflectors])),
        }
    cpus = [
        {
            "cpu": rows[0]["cpu"],
            "interrupts": _total([row["interrupts"] for row in rows]),
            "net_rx_softirqs": sum(row["net_rx_softirqs"] for row in rows),
            "time_squeeze": sum(row["time_squeeze"] for row in rows),
            "steal_ns": sum(row["steal_ns"] for row in rows),
            "idle_state_us": functools.reduce(
                add_idle, (row["idle_state_us"] for row in rows), dict[str, int]()
            ),
            **_total([c["window"].cpu(rows[0]["cpu"]) for c in clients]),
        }
        for rows in zip(*(c["cpus"] for c in clients), strict=True)
    ]
    busy = sum(c["window"].busy_ns() for c in clients)
    loop_ns = sum(r["loop_ns"] for r in receivers)
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
            "knobs": strategy.knob_values(),
            "pm_qos_us": strategy.pm_qos_us,
        },
        "rounds": len(rounds),
        "latency_basis": "rtt/2" if remote else "one-way",
        "latency_ns": latency,
        "rtt_ns": summarize(rtt),
        "split_ns": split,
        "packets": {
            "sent": sent,
            "received": received,
            "lost": sent - received,
            "reordered": sum(r["counts"]["reordered"] for r in reflectors),
            "reflected": rx_packets,
        },
        "rate": {"round_trips_per_s": round(received / (elapsed / 1e9), 1) if elapsed else 0.0},
        "cost": {
            # both sides send and receive: the machine's figure is per round trip
            "machine_cpu_ns_per_round_trip": round(busy / max(received, 1), 1),
            "machine_cpu_ns_per_round_trip_ci": interval(
                [r["machine_cpu_ns_per_round_trip"] for r in per_round]
            ),
            "machine_cores": round(busy / max(sum(c["window"].ns for c in clients), 1), 3),
            "thread_cpu_ns_per_packet": round(thread["cpu_ns"] / rx_packets, 1),
            # of one core: what a strategy costs whatever the packet rate (a busy poller
            # keeps its core whether packets come or not)
            "thread_cores": round(thread["cpu_ns"] / max(loop_ns, 1), 3),
            "ctx_per_kpkt": round(
                1000 * (thread["ctx_voluntary"] + thread["ctx_involuntary"]) / rx_packets, 2
            ),
            "interrupts_per_kpkt": interrupts_per_kpkt(cpus, max(received, 1)),
            "net_rx_softirqs_per_kpkt": round(
                1000 * sum(c["net_rx_softirqs"] for c in cpus) / max(received, 1), 2
            ),
            "thread": thread,
            "polling_in_idle_ns": polling_in_idle_ns(cpus),
        },
        "per_round": per_round,
        "cpus": cpus,
        "napi_id": receivers[-1]["napi_id"],
        "busy_poll_rx_packets": sum(r["netns"]["BusyPollRxPackets"] for r in receivers),
        "udp_drops": sum(r["netns"]["RcvbufErrors"] for r in receivers),
        "unsupported": None,
    }
