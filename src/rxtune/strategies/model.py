"""What a receive strategy is: how the receiver waits and receives, and which socket
options, host sysctls, epoll params and NAPI settings make the kernel busy poll for it.
A StrategyEntry is a row of the table (with US standing for the run's busy-poll µs); a
Strategy is one entry resolved for a run (µs and batch filled in)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..knobs.model import Knob


class Wait(enum.IntEnum):
    """How the loop waits; values shared with the C engine (enum rxt_wait)."""

    BLOCK = 0
    POLL = 1
    EPOLL = 2
    SPIN = 3


class Receiver(str, enum.Enum):
    """Which C loop receives, and so how its receive path is set up."""

    SOCKET = "socket"  # a UDP socket: recvmsg / recvmmsg
    IO_URING = "io_uring"  # multishot recv with a provided buffer ring
    TPACKET = "tpacket"  # a PACKET_MMAP TPACKET_V3 ring
    AF_XDP = "af_xdp"  # an XSK socket fed by rxtune's XDP redirect program


PINGPONG, THROUGHPUT, LOAD = "pingpong", "throughput", "load"
MODES = (PINGPONG, THROUGHPUT, LOAD)


class _BusyPollUs:
    """Stands in a table entry for the busy-poll µs a run is given (--busy-poll-us)."""

    def __repr__(self) -> str:
        return "US"


US: Any = _BusyPollUs()


def _resolve(value: Any, us: int | None) -> Any:
    return us if value is US else value


@dataclass(frozen=True)
class EpollParams:
    """struct epoll_params, set on the epoll fd with EPIOCSPARAMS (6.9)."""

    busy_poll_usecs: int
    busy_poll_budget: int = 8
    prefer_busy_poll: bool = False


@dataclass(frozen=True)
class Caveat:
    """What a reader must know about every row of a strategy in some modes: a bench note."""

    code: str
    text: str
    modes: frozenset[str] = frozenset(MODES)


@dataclass(frozen=True)
class StrategyEntry:
    name: str  # what the user types: "so_busy_poll"
    doc: str
    wait: Wait
    receiver: Receiver = Receiver.SOCKET
    modes: frozenset[str] = frozenset(MODES)  # where it can run
    default_in: frozenset[str] = frozenset(MODES)  # where it runs when none is named
    sleeps: bool = False  # the thread sleeps until a packet (no spinning)
    busy_polls: bool = False  # BusyPollRxPackets should grow
    socket_options: Mapping[str, Any] = field(default_factory=dict)  # SO_* knob names
    sysctls: Mapping[str, Any] = field(default_factory=dict)  # host knob names
    napi: Mapping[str, int] = field(default_factory=dict)  # NAPI knob names
    epoll_params: EpollParams | None = None
    caveats: tuple[Caveat, ...] = ()
    c_code: str = ""  # what a program does, str.format with {us} and {batch}

    @property
    def takes_busy_poll_us(self) -> bool:
        values = [*self.socket_options.values(), *self.sysctls.values()]
        if self.epoll_params:
            values.append(self.epoll_params.busy_poll_usecs)
        return any(v is US for v in values) or (
            self.receiver == Receiver.IO_URING and self.busy_polls
        )

    def resolve(self, busy_poll_us: int | None, batch: int) -> Strategy:
        us = busy_poll_us if self.takes_busy_poll_us else None
        batched = self.name == "recvmmsg"
        label = (
            f"{self.name}({batch})"
            if batched
            else f"{self.name}({us})"
            if us is not None
            else self.name
        )
        params = self.epoll_params
        if params is not None:
            params = replace(params, busy_poll_usecs=_resolve(params.busy_poll_usecs, us))
        return Strategy(
            entry=self,
            label=label,
            busy_poll_us=us,
            batch=batch if batched else 1,
            socket_options={k: _resolve(v, us) for k, v in self.socket_options.items()},
            sysctls={k: _resolve(v, us) for k, v in self.sysctls.items()},
            epoll_params=params,
        )


@dataclass(frozen=True)
class Strategy:
    """One strategy as a run uses it."""

    entry: StrategyEntry
    label: str  # the row: "so_busy_poll(50)"
    busy_poll_us: int | None
    batch: int  # recvmmsg batch; 1 is recvmsg
    socket_options: dict[str, int]
    sysctls: dict[str, int]
    epoll_params: EpollParams | None
    # registry knobs this row also runs with, set and restored around each of its rounds as
    # its own sysctls are: a sweep's knob values, or a piece of advice under test
    knobs: tuple[tuple[Knob, Any], ...] = ()
    # a CPU latency PM QoS limit (µs) held through /dev/cpu_dma_latency around its rounds
    pm_qos_us: int | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    def with_knobs(self, knobs: tuple[tuple[Knob, Any], ...], label: str = "") -> Strategy:
        """This strategy with registry knobs set for its rounds, labelled with their values
        (or `label`): a row of its own, interleaved with the others."""
        values = " ".join(f"{knob.name}={knob.display(value)}" for knob, value in knobs)
        return replace(
            self, knobs=self.knobs + knobs, label=label or f"{self.label} {values}".strip()
        )

    def with_pm_qos(self, us: int) -> Strategy:
        """This strategy with the CPU latency PM QoS held at `us` µs for its rounds: the
        idle states a wake-up must leave are limited instead of a thread spinning."""
        return replace(self, pm_qos_us=us, label=f"{self.label} pm_qos={us}")

    def knob_values(self) -> dict[str, Any]:
        return {knob.name: value for knob, value in self.knobs}

    @property
    def doc(self) -> str:
        return self.entry.doc

    @property
    def wait(self) -> Wait:
        return self.entry.wait

    @property
    def kind(self) -> Receiver:
        return self.entry.receiver

    @property
    def napi(self) -> dict[str, int]:
        return dict(self.entry.napi)

    @property
    def expects_busy_poll(self) -> bool:
        return self.entry.busy_polls

    @property
    def poll_mode(self) -> bool:
        """AF_XDP: sleep in poll() instead of spinning on the ring."""
        return self.entry.receiver == Receiver.AF_XDP and self.entry.wait == Wait.POLL

    def code(self) -> str:
        """C for the program's side: the socket options, then how it receives."""
        options = [
            f"setsockopt(fd, SOL_SOCKET, {name}, &(int){{{value}}}, sizeof(int));"
            for name, value in self.socket_options.items()
        ]
        return "\n".join(
            [*options, self.entry.c_code.format(us=self.busy_poll_us, batch=self.batch)]
        )

    def python(self) -> str:
        """The same receiver with rxtune's Python API (every strategy has one)."""
        args = [f'"{self.name}"', '("0.0.0.0", 9000)']
        if self.busy_poll_us is not None:
            args.append(f"busy_poll_us={self.busy_poll_us}")
        if self.kind in (Receiver.TPACKET, Receiver.AF_XDP):
            args.append('device="eth1"')
        needs = [f"{name}={value}" for name, value in {**self.sysctls, **self.napi}.items()]
        return "\n".join(
            [f"# set first (rxtune set): {' '.join(needs)}"] * bool(needs)
            + [
                f"with rxtune.open_receiver({', '.join(args)}) as rx:",
                "    while True:",
                "        with rx.recv_batch() as batch:  # up to 64 packets, waited for in C",
                "            for payload in batch:  # read in place, valid inside the with",
                "                handle(payload)",
            ]
        )
