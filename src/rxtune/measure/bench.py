"""The bench: every chosen strategy, one after another, on the private testbed (or on a
real interface against `rxtune serve` on a peer), with host-wide and device settings
journaled, applied per run and restored."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from ..backends import pm_qos
from ..backends.context import ReadContext
from ..backends.netlink_knobs import napi_ids, napi_ids_in
from ..changes import plan
from ..changes.lock import check_wait, host_lock
from ..changes.recover import recover
from ..changes.transient import TransientChanges
from ..control import keys
from ..control.channel import check_endpoint
from ..errors import InvalidValue, NotPermitted, RxtuneError, Unsupported
from ..host import Host, call_in_netns, check_netns_name, is_root
from ..knobs.model import Knob, Scope, Target
from ..knobs.registry import get, of_scope
from ..strategies import LOAD, MODES, PINGPONG, Receiver, Strategy
from ..testbed import veth
from . import load, pingpong, remote
from .machine import MachineAccount
from .notes import (
    BUSY_POLL_IDLE,
    GRO_FORWARDING,
    LOST,
    NO_ECHO,
    NO_IDLE_STATES,
    NO_NAPI,
    STEAL,
    UNDER_RATE_NOTE,
    note,
)
from .schema import SCHEMA_ID

MIN_ROUND_S = 0.1
DEFAULT_ROUNDS = 5
UNDER_RATE = 0.99  # a load point that achieved less of its offered rate is not ranked


@dataclass(frozen=True)
class DeviceSettings:
    """NAPI settings applied to the test devices for the whole bench, then restored."""

    defer_hard_irqs: int | None = None
    gro_flush_timeout: int | None = None
    threaded: bool | None = None
    irq_suspend_timeout: int | None = None

    def sysfs(self) -> dict[str, Any]:
        values = {
            "napi_defer_hard_irqs": self.defer_hard_irqs,
            "gro_flush_timeout": self.gro_flush_timeout,
            "threaded": self.threaded,
        }
        return {k: v for k, v in values.items() if v is not None}

    def napi(self) -> dict[str, int]:
        return (
            {"irq-suspend-timeout": self.irq_suspend_timeout}
            if self.irq_suspend_timeout is not None
            else {}
        )


@dataclass(frozen=True)
class Options:
    strategies: list[Strategy]
    duration_s: float = 3.0
    message_size: int = 64
    testbed: str = "A"
    device: DeviceSettings = field(default_factory=DeviceSettings)
    interface: str | None = None  # two hosts: the local device ...
    peer: str | None = None  # ... and the peer running `rxtune serve`
    direction: str = "tx"  # two hosts: tx, the peer receives; rx, this host does
    key_file: Path | None = None  # the pre-shared key (None: the peer is --insecure-lab)
    peer_port: int = remote.CONTROL_PORT
    netns: str | None = None  # two hosts: the namespace this host's side runs in
    mode: str = PINGPONG
    rate_pps: int = 0  # load mode: the offered rate
    flows: int = 1
    rcvbuf: int | None = None  # throughput/load: SO_RCVBUF of the receiving socket
    wait_s: float = 0.0  # how long to wait for another rxtune's host lock
    # each strategy's duration is split into this many interleaved rounds; None: up to
    # DEFAULT_ROUNDS, as many as the duration holds
    rounds: int | None = None
    stall: tuple[int, int] = (0, 0)  # load mode: a sender stall (at, length) ns, to calibrate
    # registry knobs set for the whole bench: host knobs once; namespace, device, queue and
    # NAPI knobs on both sides of the testbed (or on --interface); restored after
    knobs: tuple[tuple[Knob, Any], ...] = ()
    # testbed placement: the CPUs the sender and the receiver are pinned to (None: the
    # testbed's split, sender on the first CPU, receiver on the last)
    sender_cpu: int | None = None
    receiver_cpu: int | None = None
    napi_cpu: int | None = None  # threaded NAPI: pin its kernel threads to this CPU

    def bench_knobs(self) -> tuple[tuple[Knob, Any], ...]:
        """The registry knobs set for the whole bench, --napi-cpu's among them."""
        if self.napi_cpu is None:
            return self.knobs
        return (*self.knobs, (get("thread-cpus", Scope.NAPI), str(self.napi_cpu)))

    @property
    def round_count(self) -> int:
        if self.rounds is not None:
            return self.rounds
        return max(1, min(DEFAULT_ROUNDS, int(self.duration_s / MIN_ROUND_S)))

    @property
    def round_s(self) -> float:
        return self.duration_s / self.round_count

    def validate(self) -> None:
        check_wait(self.wait_s)
        if not 0.2 <= self.duration_s <= 3600:
            raise InvalidValue(f"duration {self.duration_s} s is out of range", "0.2..3600 s")
        if not 1 <= self.round_count <= 100 or self.round_s < MIN_ROUND_S:
            raise InvalidValue(
                f"--rounds {self.rounds} with --duration {self.duration_s}",
                f"1..100 rounds of at least {MIN_ROUND_S} s each",
            )
        low = pingpong._engine.MIN_MESSAGE if self.mode == PINGPONG else 18
        if not low <= self.message_size <= 1472:
            raise InvalidValue(
                f"message size {self.message_size} is out of range", f"{low}..1472 bytes"
            )
        veth.configuration(self.testbed)
        if (self.interface is None) != (self.peer is None):
            raise InvalidValue("--interface and --peer go together", "both, or neither")
        self._validate_peer()
        for name, value in self.device.sysfs().items():
            get(name, Scope.DEVICE).check(value)
        for name, value in self.device.napi().items():
            get(name, Scope.NAPI).check(value)
        for strategy in self.strategies:
            if strategy.pm_qos_us is not None:
                pm_qos.check(strategy.pm_qos_us)
        for knob, value in [*self.knobs, *(kv for s in self.strategies for kv in s.knobs)]:
            knob.check(value)
            if knob.scope == Scope.SOCKET:
                raise InvalidValue(
                    f"{knob.name} is a socket option, which each strategy sets on its socket",
                    "host, namespace, device, queue or NAPI knobs (and --busy-poll-us)",
                )
        if self.mode not in MODES:
            raise InvalidValue(f"unknown mode '{self.mode}'", MODES)
        if self.mode == LOAD and not 1 <= self.rate_pps <= load.MAX_RATE:
            raise InvalidValue(
                f"--rate {self.rate_pps} for --mode load", f"1..{load.MAX_RATE} packets/s"
            )
        at, length = self.stall
        if length and (self.mode != LOAD or not 0 <= at < self.round_s * 1e9 or length < 0):
            raise InvalidValue(f"sender stall {self.stall}", "load mode, within a round")
        if self.mode != LOAD and self.rate_pps:
            raise InvalidValue("--rate goes with --mode load", "--mode load --rate PPS")
        if self.rcvbuf is not None and not 1024 <= self.rcvbuf <= 2**30:
            raise InvalidValue(f"--rcvbuf {self.rcvbuf}", "1024..1073741824 bytes")
        if not 1 <= self.flows <= 64:
            raise InvalidValue(f"--flows {self.flows} is out of range", "1..64")
        if self.mode != PINGPONG and self.message_size < 18:
            raise InvalidValue(f"message size {self.message_size}", "18..1472 bytes")
        if self.mode != PINGPONG and not self.peer and len(os.sched_getaffinity(0)) < 2:
            raise Unsupported(
                "--mode throughput and load need two CPUs, one to send and one to receive: "
                f"this process may run on {sorted(os.sched_getaffinity(0))} only"
            )
        allowed = sorted(os.sched_getaffinity(0))
        if self.napi_cpu is not None and not self.device.threaded:
            raise InvalidValue(
                "--napi-cpu pins the threads of threaded NAPI", "--napi-cpu with --threaded"
            )
        for option, cpu in (
            ("--sender-cpu", self.sender_cpu),
            ("--receiver-cpu", self.receiver_cpu),
            ("--napi-cpu", self.napi_cpu),
        ):
            if cpu is not None and cpu not in allowed:
                raise InvalidValue(f"{option} {cpu}", [str(c) for c in allowed])
            if cpu is not None and self.interface:
                raise InvalidValue(f"{option} with --interface", "the testbed (no --interface)")

    def _validate_peer(self) -> None:
        if self.direction not in remote.DIRECTIONS:
            raise InvalidValue(f"--direction {self.direction!r}", remote.DIRECTIONS)
        if not self.peer:
            for given, option in (
                (self.direction != "tx", "--direction"),
                (self.key_file, "--key-file"),
                (self.netns, "--netns"),
                (self.peer_port != remote.CONTROL_PORT, "--peer-port"),
            ):
                if given:
                    raise InvalidValue(f"{option} without --peer", "--interface DEV --peer ADDR")
            return
        check_endpoint(
            "--peer", self.peer, "the peer's IPv4 address", "--peer-port", self.peer_port
        )
        if self.netns is not None:
            check_netns_name(self.netns)
        if self.key_file is not None:
            keys.load(self.key_file)  # a missing or readable-by-others key fails here
        rows = [s.label for s in self.strategies if s.knobs or s.pm_qos_us is not None]
        if rows:
            raise InvalidValue(
                f"{', '.join(rows)} with --peer: knob and PM QoS rows run on the testbed only",
                "plain strategies",
            )


@dataclass(frozen=True)
class Sides:
    """Where the client and the reflector run, and which devices the settings go to."""

    client: pingpong.Endpoint
    reflector: pingpong.Endpoint
    devices: list[tuple[str | None, str]]  # (netns, device)
    testbed: str | None
    peer: remote.Peer | None = None  # two hosts: the session with `rxtune serve`
    clock: dict[str, Any] | None = None  # the peer's clock against ours


Devices = list[tuple[str | None, str]]  # (netns, device)


def apply(
    changes: TransientChanges,
    devices: Devices,
    sysfs: dict[str, Any],
    napi: dict[str, int],
    sysctls: dict[str, int],
) -> None:
    for name, value in sysctls.items():
        changes.set(get(name, Scope.HOST), value)
    for netns, dev in devices:
        for name, value in sysfs.items():
            changes.set(get(name, Scope.DEVICE), value, Target(dev=dev), netns)
        if napi:
            ids = napi_ids_in(netns, dev)
            if not ids:
                raise Unsupported(f"{dev} has no NAPI instance to apply {', '.join(napi)} to")
            for napi_id in ids:
                for name, value in napi.items():
                    changes.set(get(name, Scope.NAPI), value, Target(dev=dev, napi=napi_id), netns)


def apply_knobs(
    changes: TransientChanges, devices: Devices, knobs: tuple[tuple[Knob, Any], ...]
) -> None:
    """The bench-wide registry knobs, each target once (a host knob is one target however
    many devices); a device that lacks a knob raises Unsupported before anything is measured."""
    done = set()
    for netns, dev in devices:
        for item in plan.assignments(list(knobs), [dev], netns):
            if (item.knob, item.target, item.netns) in done:
                continue
            done.add((item.knob, item.target, item.netns))
            try:
                changes.set(item.knob, item.value, item.target, item.netns)
            except Unsupported as error:
                where = "the host" if item.knob.scope == Scope.HOST else dev
                raise Unsupported(f"{item.knob.name} on {where}: {error.reason}") from None


def with_pm_qos(strategies: list[Strategy], us: int) -> list[Strategy]:
    """Each strategy whose thread sleeps, again with the CPU latency PM QoS held at `us`:
    rows of their own, interleaved with the rest (a spinning thread never lets its CPU
    idle, so a limit on idle states changes nothing for it)."""
    pm_qos.check(us)
    sleepers = [s.with_pm_qos(us) for s in strategies if s.entry.sleeps]
    if not sleepers:
        raise InvalidValue(
            f"--pm-qos {us} with {', '.join(s.label for s in strategies)}: none of them sleeps",
            "one or more sleeping strategies, e.g. -s epoll,blocking,so_busy_poll",
        )
    return sleepers


def preflight(options: Options) -> None:
    """Check, on the sides the bench would use and without measuring or writing, that every
    registry knob it would set (for the bench, or for a strategy's rounds) exists there
    and can be written: raises Unsupported naming the knob and the device."""
    options.validate()
    knobs = {*options.bench_knobs(), *(kv for s in options.strategies for kv in s.knobs)}
    if not knobs:
        return
    missing: dict[str, str] = {}  # knob name -> where and why, the first device that says
    with host_lock("rxtune bench", options.wait_s), _sides(options) as sides:
        for netns, dev in sides.devices:
            for change in plan.plan(plan.assignments(sorted(knobs, key=str), [dev], netns)):
                knob = change.assignment.knob
                if change.status == "unsupported" and knob.name not in missing:
                    where = "the host" if knob.scope == Scope.HOST else dev
                    missing[knob.name] = f"{knob.name} on {where}: {change.reason}"
    if missing:
        raise Unsupported("; ".join(missing[name] for name in sorted(missing)))


def snapshot(devices: Devices) -> dict[str, Any]:
    """The knob values a reader needs to interpret the figures."""

    def read(netns: str | None, dev: str) -> dict[str, Any]:
        with ReadContext(Host()) as ctx:
            values = {}
            for knob in of_scope(Scope.DEVICE):
                if knob.group in ("sysfs", "feature", "driver"):
                    try:
                        values[knob.name] = knob.read(ctx, Target(dev=dev))
                    except RxtuneError:
                        pass
            values["napi_ids"] = napi_ids(ctx, dev)
            return values

    found: dict[str, Any] = {}
    with ReadContext(Host()) as ctx:
        for knob in of_scope(Scope.HOST):
            try:
                found[knob.name] = knob.read(ctx)
            except RxtuneError:
                pass
    for netns, dev in devices:
        found[f"{netns or 'host'}/{dev}"] = call_in_netns(netns, read, netns, dev)
    return found


def unsupported_row(strategy: Strategy, reason: str) -> dict[str, Any]:
    return {"strategy": strategy.name, "label": strategy.label, "params": {}, "unsupported": reason}


def diagnose(
    result: dict[str, Any], strategy: Strategy, options: Options, udp_gro_forwarding: bool = False
) -> list[dict[str, Any]]:
    """What a reader must know to trust (or distrust) a row, from its own counters, then the
    strategy's own caveats from the table: each a code (for advise) and a text."""
    notes = []
    if not result["napi_id"] and strategy.kind in (Receiver.SOCKET, Receiver.IO_URING):
        notes.append(
            note(
                NO_NAPI,
                "NAPI id 0: packets did not come through a NAPI, so busy "
                "polling had nothing to poll",
            )
        )
    if strategy.expects_busy_poll and result["napi_id"] and not result["busy_poll_rx_packets"]:
        notes.append(
            note(
                BUSY_POLL_IDLE, "BusyPollRxPackets did not grow: busy polling never found a packet"
            )
        )
    if strategy.expects_busy_poll and udp_gro_forwarding:
        notes.append(
            note(
                GRO_FORWARDING,
                "rx-udp-gro-forwarding is on: GRO holds each "
                "datagram until the NAPI poll completes, so a busy "
                "poller waits out its window (see testbed B)",
            )
        )
    if options.mode == PINGPONG:
        lost = result["packets"]["lost"]
        if lost:
            notes.append(note(NO_ECHO, f"{lost} round trips got no echo within the timeout"))
    else:
        notes += _delivery_notes(result, options)
    if strategy.pm_qos_us is not None and not any(c.get("idle_state_us") for c in result["cpus"]):
        notes.append(
            note(
                NO_IDLE_STATES,
                "no CPU has cpuidle states (driver none): the CPUs idle in the architecture's "
                "default way, and a PM QoS limit has no deeper state to rule out here",
            )
        )
    stolen = sum(cpu.get("steal_ns", 0) for cpu in result.get("cpus", []))
    if stolen:
        notes.append(
            note(
                STEAL,
                f"the hypervisor ran something else for {stolen / 1e6:.0f} ms on these CPUs "
                "during this row (steal time in /proc/stat): a tail up to that long may be the "
                "virtual machine's, not the receive path's",
            )
        )
    notes += [note(c.code, c.text) for c in strategy.entry.caveats if options.mode in c.modes]
    return notes


def _delivery_notes(result: dict[str, Any], options: Options) -> list[dict[str, Any]]:
    """High-rate rows: a rate not achieved, and packets that did not arrive."""
    notes = []
    rate, packets = result["rate"], result["packets"]
    if options.mode == LOAD and rate["achieved_pps"] < UNDER_RATE * rate["offered_pps"]:
        notes.append(
            note(
                UNDER_RATE_NOTE,
                f"the sender achieved {rate['achieved_pps']:,} of {rate['offered_pps']:,} "
                f"packets/s offered ({100 * rate['achieved_pps'] / rate['offered_pps']:.0f}%): "
                "packets left behind their slots, and latency from the intended send times "
                "includes that backlog; this point is not ranked",
            )
        )
    missing = packets["sent"] - packets["received"]
    if missing > 0:
        where = ", ".join(f"{k} {v:,}" for k, v in result["drops"].items() if v)
        notes.append(
            note(
                LOST,
                f"{missing:,} of {packets['sent']:,} packets did not arrive; dropped at: "
                f"{where or 'no counter'}; unaccounted: {packets['unaccounted']:,} "
                "(in flight at the end, or dropped where no counter sees it)",
            )
        )
    return notes


@contextmanager
def _sides(options: Options) -> Iterator[Sides]:
    if options.interface:
        cpus = sorted(os.sched_getaffinity(0))
        local = call_in_netns(options.netns, lambda: Host().devices())
        if options.interface not in local:
            raise InvalidValue(f"no network device '{options.interface}'", local)
        address = call_in_netns(options.netns, _local_address, options.interface)
        assert options.peer is not None
        peer = remote.Peer(
            options.peer, options.peer_port, options.key_file, address, options.netns
        )
        try:
            yield Sides(
                pingpong.Endpoint(options.netns, address, cpus[-1]),
                pingpong.Endpoint(None, options.peer, None, remote=True),
                [(options.netns, options.interface)],
                None,
                peer,
                peer.clock(),
            )
        finally:
            peer.close()
        return
    with veth.testbed(veth.configuration(options.testbed)) as bed:
        sender, receiver = bed.cpus
        if options.sender_cpu is not None:
            sender = options.sender_cpu
        if options.receiver_cpu is not None:
            receiver = options.receiver_cpu
        yield Sides(
            pingpong.Endpoint(bed.sender.netns, bed.sender.address, sender),
            pingpong.Endpoint(bed.receiver.netns, bed.receiver.address, receiver),
            [(bed.sender.netns, bed.sender.ifname), (bed.receiver.netns, bed.receiver.ifname)],
            bed.configuration.name,
        )


def _local_address(dev: str) -> str:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=dev)[0]
        for addr in ipr.get_addr(index=index, family=2):
            return addr.get_attr("IFA_ADDRESS")
    raise InvalidValue(f"{dev} has no IPv4 address", "a device with an IPv4 address")


Progress = Callable[[int, int, Strategy], None]


def run(options: Options, progress: Progress | None = None) -> dict[str, Any]:
    options.validate()
    if not is_root():
        raise NotPermitted(
            "rxtune bench needs root: it builds network namespaces and may set "
            "host-wide busy-poll sysctls (restoring them afterwards)"
        )
    with host_lock("rxtune bench", options.wait_s):
        recovered = recover("rxtune bench")
        removed = veth.remove_leftovers()
        started = time.time()
        with _sides(options) as sides, TransientChanges("rxtune bench") as changes:
            apply(changes, sides.devices, options.device.sysfs(), options.device.napi(), {})
            apply_knobs(changes, sides.devices, options.bench_knobs())
            metadata = {
                "kernel": platform.release(),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                "testbed": sides.testbed,
                "interface": options.interface,
                "peer": options.peer,
                "direction": options.direction if options.peer else None,
                "peer_host": sides.peer.about() if sides.peer else None,
                "clock": sides.clock,
                "message_size": options.message_size,
                "duration_s": options.duration_s,
                "pinning": {"client_cpu": sides.client.cpu, "reflector_cpu": sides.reflector.cpu},
                "device_settings": {**options.device.sysfs(), **options.device.napi()},
                "knobs_set": {knob.name: value for knob, value in options.bench_knobs()},
                "knobs": snapshot(sides.devices),
                "recovered": {"restored": recovered, "removed_namespaces": removed},
            }
            # read from the receiving device itself, so a real interface is judged too
            knobs: dict[str, Any] = metadata["knobs"]  # type: ignore[assignment]
            receiving = knobs.get(f"{sides.devices[-1][0] or 'host'}/{sides.devices[-1][1]}", {})
            gro_forwarding = bool(receiving.get("rx-udp-gro-forwarding"))
            metadata["mode"] = options.mode
            metadata["rate_pps"] = options.rate_pps or None
            metadata["flows"] = options.flows
            metadata["rounds"] = options.round_count
            runs, metadata["calibration"] = _rounds(
                options, sides, changes, gro_forwarding, progress
            )
        total = len(options.strategies) * options.round_count
        if progress:
            progress(total, total, options.strategies[-1])
        metadata["elapsed_s"] = round(time.time() - started, 1)
        return {"schema": SCHEMA_ID, "mode": options.mode, "metadata": metadata, "runs": runs}


def _rounds(
    options: Options,
    sides: Sides,
    changes: TransientChanges,
    gro_forwarding: bool,
    progress: Progress | None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Every strategy's rounds, interleaved (round r runs the strategies rotated by r, so no
    strategy always follows the same one), each with its settings applied and restored;
    in throughput and load modes first the null receiver, which calibrates the floor of
    the receive cost on this path."""
    strategies = options.strategies
    rounds: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(strategies))}
    unsupported: dict[int, str] = {}
    step = 0
    calibration = None
    with MachineAccount(napi_threads=bool(options.device.threaded)) as account:
        if options.mode != PINGPONG and not sides.peer:
            calibration = _null_receiver(options, sides, account)
        for r in range(options.round_count):
            for k in range(len(strategies)):
                index = (k + r) % len(strategies)
                strategy = strategies[index]
                if progress:
                    progress(step, len(strategies) * options.round_count, strategy)
                step += 1
                if index in unsupported:
                    continue
                mark = changes.mark()
                try:
                    apply(changes, sides.devices, {}, strategy.napi, strategy.sysctls)
                    apply_knobs(changes, sides.devices, strategy.knobs)
                    with pm_qos.held(strategy.pm_qos_us):
                        rounds[index].append(_measure(strategy, options, sides, account))
                except (Unsupported, NotPermitted) as error:
                    unsupported[index] = str(error)
                finally:
                    changes.restore(mark)
    runs = []
    for index, strategy in enumerate(strategies):
        if index in unsupported:
            runs.append(unsupported_row(strategy, unsupported[index]))
            continue
        result = _record(strategy, options, sides, rounds[index])
        result["notes"] = diagnose(result, strategy, options, gro_forwarding)
        runs.append(result)
    return runs, calibration


def _null_receiver(options: Options, sides: Sides, account: MachineAccount) -> dict[str, Any]:
    (_, sender_dev), (_, receiver_dev) = sides.devices
    try:
        return load.null_receiver(
            sides.client, sides.reflector, sender_dev, receiver_dev, _load(options), account
        )
    except (OSError, Unsupported) as error:
        return {"unsupported": f"the XDP drop program: {error}"}


def _measure(
    strategy: Strategy, options: Options, sides: Sides, account: MachineAccount
) -> dict[str, Any]:
    if sides.peer:
        return _measure_remote(strategy, options, sides, account)
    if options.mode == PINGPONG:
        return pingpong.run(strategy, sides.client, sides.reflector, _pingpong(options), account)
    (_, sender_dev), (_, receiver_dev) = sides.devices
    return load.run(
        strategy, sides.client, sides.reflector, sender_dev, receiver_dev, _load(options), account
    )


def _measure_remote(
    strategy: Strategy, options: Options, sides: Sides, account: MachineAccount
) -> dict[str, Any]:
    assert sides.peer is not None and sides.clock is not None
    if options.mode == PINGPONG:
        settings = _pingpong(options)
        return remote.pingpong_round(
            sides.peer, strategy, sides.client, settings, account, options.direction
        )
    return remote.load_round(
        sides.peer,
        strategy,
        sides.client,
        sides.devices[0][1],
        _load(options),
        account,
        options.direction,
        sides.clock["offset_ns"],
    )


def _record(
    strategy: Strategy, options: Options, sides: Sides, rounds: list[dict[str, Any]]
) -> dict[str, Any]:
    if sides.peer:
        settings = _pingpong(options) if options.mode == PINGPONG else _load(options)
        return remote.record(strategy, settings, rounds, options.direction, sides.clock or {})
    if options.mode == PINGPONG:
        return pingpong.record(strategy, _pingpong(options), rounds)
    assert sides.reflector.cpu is not None  # the testbed pins the receiver
    return load.record(strategy, _load(options), rounds, sides.reflector.cpu)


def _pingpong(options: Options) -> pingpong.Settings:
    return pingpong.Settings(options.round_s, options.message_size)


def _load(options: Options) -> load.LoadSettings:
    return load.LoadSettings(
        options.mode,
        options.round_s,
        options.message_size,
        options.rate_pps,
        options.flows,
        options.rcvbuf,
        stall=options.stall,
    )
