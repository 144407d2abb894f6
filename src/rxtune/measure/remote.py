"""Two hosts: what the bench and `rxtune serve` agree on for a run, and the bench's half of
each round. The strategy under test runs on the host whose receive path is measured:
direction tx, this host sends (ping-pong: pings) and the peer receives (reflects);
direction rx, the reverse. Each side measures its own machine; the row's costs are the
receiving host's, and `sides` gives both.

Clocks are not shared between hosts: ping-pong latency is RTT/2; a load's latency from each
packet's intended send time needs the sender's clock, so it is corrected by the clock offset
estimated over the control channel, and the row says by how much it may be off."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..control import keys
from ..control.channel import Channel, ChannelError, connect
from ..errors import InvalidValue, RxtuneError
from ..host import Worker, socket_namespace
from ..strategies import LOAD, MODES, PINGPONG, Strategy, select
from . import load, pingpong
from .counters import context_switches, counts_delta, cpu_counts, interrupts_per_kpkt
from .machine import MachineAccount, Window

CONTROL_PORT = 47900
DIRECTIONS = ("tx", "rx")
# the peer's role in each mode and direction
ROLES = {
    (PINGPONG, "tx"): "reflect",
    (PINGPONG, "rx"): "ping",
    (LOAD, "tx"): "receive",
    (LOAD, "rx"): "send",
}
MAX_ROUND_S = 600.0  # what a server agrees to for one round
CONNECT_S = 10.0
CLOCK_EXCHANGES = 32


def role(mode: str, direction: str) -> str:
    return ROLES[(PINGPONG if mode == PINGPONG else LOAD, direction)]


@dataclass(frozen=True)
class RunSpec:
    """One round as the client asks for it; the server checks every field."""

    role: str
    mode: str
    strategy: str
    busy_poll_us: int
    batch: int
    message_size: int
    duration_s: float
    rate_pps: int = 0
    flows: int = 1
    rcvbuf: int | None = None

    @staticmethod
    def from_json(data: dict[str, Any]) -> RunSpec:
        names = {f.name for f in fields(RunSpec)}
        unknown = sorted(set(data) - names - {"type", "seq"})
        if unknown:
            raise InvalidValue(f"unknown run fields {', '.join(unknown)}", sorted(names))
        try:
            spec = RunSpec(**{k: v for k, v in data.items() if k in names})
        except TypeError as error:
            raise InvalidValue(f"incomplete run request: {error}", sorted(names)) from None
        spec.check()
        return spec

    def check(self) -> None:
        if self.role not in set(ROLES.values()):
            raise InvalidValue(f"role {self.role!r}", sorted(set(ROLES.values())))
        if self.mode not in MODES:
            raise InvalidValue(f"mode {self.mode!r}", MODES)
        for name in ("busy_poll_us", "batch", "message_size", "rate_pps", "flows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidValue(f"{name} {value!r}", "a whole number")
        if not isinstance(self.duration_s, (int, float)) or not 0.05 <= self.duration_s <= (
            MAX_ROUND_S
        ):
            raise InvalidValue(f"duration_s {self.duration_s!r}", f"0.05..{MAX_ROUND_S} s")
        low = pingpong._engine.MIN_MESSAGE if self.mode == PINGPONG else 18
        if not low <= self.message_size <= 1472:
            raise InvalidValue(f"message_size {self.message_size}", f"{low}..1472 bytes")
        if not 0 <= self.rate_pps <= load.MAX_RATE or not 1 <= self.flows <= 64:
            raise InvalidValue(
                f"rate_pps {self.rate_pps}, flows {self.flows}", f"0..{load.MAX_RATE}, 1..64"
            )
        if self.rcvbuf is not None and (
            not isinstance(self.rcvbuf, int) or not 1024 <= self.rcvbuf <= 2**30
        ):
            raise InvalidValue(f"rcvbuf {self.rcvbuf!r}", "1024..1073741824 bytes")
        self.build()  # the strategy exists and runs in this mode

    def build(self) -> Strategy:
        (strategy,) = select([self.strategy], [self.busy_poll_us], self.mode, self.batch)
        return strategy

    def pingpong(self) -> pingpong.Settings:
        return pingpong.Settings(self.duration_s, self.message_size)

    def load(self) -> load.LoadSettings:
        return load.LoadSettings(
            self.mode, self.duration_s, self.message_size, self.rate_pps, self.flows, self.rcvbuf
        )


class TrafficWindow:
    """What the waiting host (a reflector's, a receiver's) spends while the other host's
    traffic runs. The other host says on the control channel when its traffic starts and
    when it stopped; this host's parent process takes the snapshots then, with the waiting
    worker's pid for its thread's time. So the window holds neither the start allowance
    nor the drain, as the testbed's does not; a control message's latency is its error at
    each end."""

    def __init__(self, account: MachineAccount, pid: int, cpu: int | None) -> None:
        self.account, self.pid, self.cpu = account, pid, cpu
        self.marks: dict[str, Any] = {}

    def start(self) -> None:  # the slow reads first, the exact snapshot last
        self.marks["cpus"], self.marks["ctx"] = cpu_counts(), sum(context_switches(self.pid))
        self.marks["first"] = self.account.snapshot(self.pid)

    def stop(self) -> None:  # the exact snapshot first
        self.marks["last"] = self.account.snapshot(self.pid)
        self.marks["cpus"] = counts_delta(self.marks["cpus"], cpu_counts())
        self.marks["ctx"] = sum(context_switches(self.pid)) - self.marks["ctx"]

    def figures(self) -> dict[str, Any]:
        return {
            "window": Window(self.marks["first"], self.marks["last"]),
            "cpus": self.marks["cpus"],
            "context_switches": self.marks["ctx"],
            "cpu": self.cpu,
        }


def to_wire(value: Any) -> Any:
    """A result as JSON can carry it: windows as plain data (arrays go as they are)."""
    if isinstance(value, Window):
        return {"__window__": value.to_json()}
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


def from_wire(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__window__"}:
            return Window.from_json(value["__window__"])
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


class Peer:
    """The bench's session with `rxtune serve` on the peer host."""

    def __init__(
        self,
        address: str,
        port: int,
        key_file: Path | None,
        source: str | None = None,
        netns: str | None = None,
    ) -> None:
        key = keys.load(key_file) if key_file else None
        self.address = address
        with socket_namespace(netns):  # the connection lives where this host's side runs
            self.channel: Channel = connect(address, port, key, CONNECT_S, source)

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.channel.send(message)
        return self.channel.receive()

    def about(self) -> dict[str, Any]:
        answer = self.ask({"type": "about"})
        return {k: v for k, v in answer.items() if k not in ("type", "seq")}

    def clock(self) -> dict[str, Any]:
        """The peer's CLOCK_MONOTONIC minus ours, from the exchange with the shortest round
        trip (NTP's rule): it lies within ± half that round trip."""
        best: tuple[int, int] | None = None
        for _ in range(CLOCK_EXCHANGES):
            sent = time.monotonic_ns()
            theirs = self.ask({"type": "clock"})["mono_ns"]
            back = time.monotonic_ns()
            if best is None or back - sent < best[0]:
                best = (back - sent, theirs - (sent + back) // 2)
        assert best is not None
        return {
            "offset_ns": best[1],
            "uncertainty_ns": best[0] // 2,
            "method": f"shortest of {CLOCK_EXCHANGES} round trips on the control channel",
        }

    def start(self, spec: RunSpec) -> dict[str, Any]:
        """Ask for a round; the answer carries its cookie and port once the peer is ready."""
        return self.ask({"type": "run", **asdict(spec)})

    def tell(self, kind: str) -> None:
        self.channel.send({"type": kind})

    def expect(self, kind: str) -> dict[str, Any]:
        message = self.channel.receive()
        if message.get("type") != kind:
            raise ChannelError(f"the peer sent {message.get('type')!r} where {kind!r} was due")
        return message

    def result(self) -> dict[str, Any]:
        """The peer's figures of the round."""
        return from_wire(self.expect("result")["result"])

    @contextmanager
    def round(self, timeout: float) -> Iterator[None]:
        """A round's messages may be this far apart (a connection waits CONNECT_S)."""
        self.channel.sock.settimeout(timeout)
        try:
            yield
        finally:
            self.channel.sock.settimeout(CONNECT_S)

    def close(self) -> None:
        try:
            self.channel.send({"type": "bye"})
        except OSError:
            pass
        self.channel.sock.close()


def _spec(strategy: Strategy, mode: str, direction: str, settings: Any) -> RunSpec:
    return RunSpec(
        role=role(mode, direction),
        mode=mode,
        strategy=strategy.name,
        busy_poll_us=strategy.busy_poll_us or 50,
        batch=strategy.batch,
        message_size=settings.message_size,
        duration_s=settings.duration_s,
        rate_pps=getattr(settings, "rate_pps", 0),
        flows=getattr(settings, "flows", 1),
        rcvbuf=getattr(settings, "rcvbuf", None),
    )


def _both(
    peer: Peer,
    spec: RunSpec,
    local: Callable[[dict[str, Any]], Worker],
    passive_here: bool,
    account: MachineAccount,
    cpu: int | None,
) -> tuple[Any, dict[str, Any]]:
    """One round on both hosts: (this side's result, the peer's). The peer agrees first (a
    waiting side of its own is ready by then), then this host's side starts with the
    round's cookie; `go`; the sending (pinging) side's host says `start` when its traffic
    starts and `stop` when it ended, and the waiting side's host measures in between."""
    timeout = spec.duration_s + 30
    ready = peer.start(spec)
    worker = local(ready)
    try:
        if not worker.wait_ready(30):  # waiting: its socket is open; sending: it starts now
            worker.result(5)  # raises its error
            raise RxtuneError("this host's side did not start")
        with peer.round(timeout):
            peer.tell("go")
            if passive_here:
                window = TrafficWindow(account, worker.pid, cpu)
                peer.expect("start")
                window.start()
                peer.expect("stop")
                window.stop()
                theirs = peer.result()
                return {"result": worker.result(timeout), **window.figures()}, theirs
            peer.tell("start")
            mine = worker.result(timeout)
            peer.tell("stop")
            return mine, peer.result()
    finally:
        worker.kill()


def pingpong_round(
    peer: Peer,
    strategy: Strategy,
    me: pingpong.Endpoint,
    settings: pingpong.Settings,
    account: MachineAccount,
    direction: str,
) -> dict[str, Any]:
    """A ping-pong round across hosts, shaped as pingpong.record takes it: RTT from the
    pinger; thread, NAPI and the machine's cost from the reflector, which runs the strategy
    on the host under test."""
    there = pingpong.Endpoint(None, peer.address, None, remote=True)
    spec = _spec(strategy, PINGPONG, direction, settings)
    if direction == "tx":

        def pinger(ready: dict[str, Any]) -> Worker:
            client = pingpong._client
            return Worker(
                me.netns, me.cpu, client, strategy, me, there, settings, account, ready["cookie"]
            )

        pinged, reflected = _both(peer, spec, pinger, False, account, me.cpu)
    else:

        def reflector(ready: dict[str, Any]) -> Worker:
            echo = pingpong.Echo(ready["cookie"], peer.address, ready["max_pps"])
            reflect = pingpong._reflector
            return Worker(me.netns, me.cpu, reflect, strategy, me, settings, echo)

        reflected, pinged = _both(peer, spec, reflector, True, account, me.cpu)
    thread = pinged["thread"]
    pinged["context_switches"] = thread["ctx_voluntary"] + thread["ctx_involuntary"]
    merged = {
        **reflected["result"],
        **{k: pinged[k] for k in ("counts", "elapsed_ns", "rtt")},
        **{k: reflected[k] for k in ("window", "cpus")},
    }
    parts = (pinged, reflected) if direction == "tx" else (reflected, pinged)
    return {"client": merged, "reflector": None, "sides": parts}


def load_round(
    peer: Peer,
    strategy: Strategy,
    me: pingpong.Endpoint,
    dev: str,
    settings: load.LoadSettings,
    account: MachineAccount,
    direction: str,
    offset_ns: int,
) -> dict[str, Any]:
    """A throughput or load round across hosts, shaped as load.record takes it, with the
    receiving host's window and the receiver's samples on the sender's clock."""
    there = pingpong.Endpoint(None, peer.address, None, remote=True)
    spec = _spec(strategy, settings.mode, direction, settings)
    if direction == "tx":

        def sender(ready: dict[str, Any]) -> Worker:
            return Worker(me.netns, me.cpu, load._send, me, there, settings, dev, account, None)

        sent, got = _both(peer, spec, sender, False, account, me.cpu)
        receiver_ahead = offset_ns  # the peer's clock minus ours
    else:

        def receiver(ready: dict[str, Any]) -> Worker:
            return Worker(me.netns, me.cpu, load._receive, strategy, me, dev, settings)

        got, sent = _both(peer, spec, receiver, True, account, me.cpu)
        receiver_ahead = -offset_ns
    received = got["result"]
    received["stats"]["last_ns"] -= receiver_ahead
    if received["samples"] is not None:
        latency, send_delay, to_stamp, stamp_to_app = (np.asarray(a) for a in received["samples"])
        to_stamp = np.where(to_stamp == -1, -1, to_stamp - receiver_ahead)
        received["samples"] = (latency - receiver_ahead, send_delay, to_stamp, stamp_to_app)
    sent["context_switches"] = sent["sender_preempted"]
    merged = {**sent, **{k: got[k] for k in ("window", "cpus", "context_switches")}}
    parts = (sent, got) if direction == "tx" else (got, sent)
    return {"sent": merged, "got": received, "receiving_cpu": got["cpu"], "sides": parts}


PARTS = {"tx": ("sender", "receiver"), "rx": ("receiver", "sender")}


def record(
    strategy: Strategy, settings: Any, rounds: list[dict[str, Any]], direction: str, clock: dict
) -> dict[str, Any]:
    """A strategy's row across hosts: the testbed's row from the receiving host's figures,
    plus `sides`, what each host's whole machine spent."""
    if isinstance(settings, pingpong.Settings):
        row = pingpong.record(strategy, settings, rounds)
        here, there = ("pinger", "reflector") if direction == "tx" else ("reflector", "pinger")
    else:
        row = load.record(strategy, settings, rounds, rounds[0]["receiving_cpu"])
        here, there = PARTS[direction]
        if settings.records_latency:
            off_by = clock["uncertainty_ns"] / 1000
            row["latency_basis"] = (
                "one-way across hosts: the receiver's clock corrected by the offset estimated "
                f"on the control channel, which may be off by ±{off_by:.1f} µs"
            )
    packets = row["packets"]["received"]
    row["direction"] = direction
    row["sides"] = {
        "local": side(here, [r["sides"][0] for r in rounds], packets),
        "peer": side(there, [r["sides"][1] for r in rounds], packets),
    }
    return row


def side(role_name: str, parts: list[dict[str, Any]], packets: int) -> dict[str, Any]:
    """One host's figures over rounds: what its whole machine spent, per packet and in
    cores, and its interrupts and context switches."""
    windows = [p["window"] for p in parts]
    busy = sum(w.busy_ns() for w in windows)
    cpus = load._sum_rows([p["cpus"] for p in parts])
    per = max(packets, 1)
    return {
        "role": role_name,
        "machine_cpu_ns_per_packet": round(busy / per, 1),
        "machine_cores": round(busy / max(sum(w.ns for w in windows), 1), 3),
        "interrupts_per_kpkt": interrupts_per_kpkt(cpus, per),
        "net_rx_softirqs_per_kpkt": round(1000 * sum(c["net_rx_softirqs"] for c in cpus) / per, 2),
        "ctx_per_kpkt": round(1000 * sum(p["context_switches"] for p in parts) / per, 2),
    }
