"""The receive strategies, as data: how the receiver waits, and which socket options,
host sysctls, epoll params and NAPI settings make the kernel busy poll for it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..errors import InvalidValue


class Wait(enum.IntEnum):
    """How the loop waits; values shared with the C engine (enum rxt_wait)."""

    BLOCK = 0
    POLL = 1
    EPOLL = 2
    SPIN = 3


@dataclass(frozen=True)
class EpollParams:
    """struct epoll_params, set on the epoll fd with EPIOCSPARAMS (6.9)."""

    busy_poll_usecs: int
    busy_poll_budget: int = 8
    prefer_busy_poll: bool = False


@dataclass(frozen=True)
class Strategy:
    name: str  # what the user types: "so_busy_poll"
    label: str  # the row: "SO_BUSY_POLL=50"
    doc: str
    wait: Wait
    socket_options: dict[str, int] = field(default_factory=dict)  # SO_* by name
    sysctls: dict[str, int] = field(default_factory=dict)  # host-wide, restored after
    epoll_params: EpollParams | None = None
    napi: dict[str, int] = field(default_factory=dict)  # napi-set attrs, per run
    busy_poll_us: int | None = None
    expects_busy_poll: bool = False  # BusyPollRxPackets should grow
    kind: str = "socket"  # socket, io_uring, tpacket, af_xdp: which C loop
    batch: int = 1  # recvmmsg batch; 1 is recvmsg
    poll_mode: bool = False  # af_xdp: sleep in poll() instead of spinning


PINGPONG, THROUGHPUT, LOAD = "pingpong", "throughput", "load"
MODES = (PINGPONG, THROUGHPUT, LOAD)
HIGH_RATE_ONLY = {"recvmmsg", "io_uring", "io_uring_napi", "tpacket_v3", "af_xdp", "af_xdp_poll"}

# name -> (doc, needs a µs value); the order is the table's
CATALOGUE = {
    "blocking": ("blocking recvmsg: sleep until a packet wakes the thread", False),
    "poll": ("poll() then recvmsg", False),
    "epoll": ("epoll_wait() then recvmsg: the usual event loop", False),
    "spin": ("user-space spin: non-blocking recvmsg in a loop (one CPU at 100%)", False),
    "so_busy_poll": (
        "SO_BUSY_POLL=N on the socket: blocking reads busy poll the NAPI for "
        "up to N µs before sleeping",
        True,
    ),
    "so_busy_poll_prefer": (
        "SO_BUSY_POLL=N with SO_PREFER_BUSY_POLL and "
        "SO_BUSY_POLL_BUDGET=8: the kernel may keep device IRQs masked",
        True,
    ),
    "busy_read": ("net.core.busy_read=N (whole host) with blocking reads", True),
    "busy_poll_epoll": ("net.core.busy_poll=N and busy_read=N (whole host) with epoll", True),
    "epoll_params": ("epoll with EPIOCSPARAMS busy_poll_usecs=N, budget 8, prefer on (6.9+)", True),
    "irq_suspend": (
        "epoll busy poll with prefer, napi defer-hard-irqs=2, "
        "gro-flush-timeout=200 µs, irq-suspend-timeout=20 ms (6.13+)",
        True,
    ),
    "recvmmsg": (
        "recvmmsg with MSG_WAITFORONE: sleep for the first packet, then take up to "
        "a batch per call",
        False,
    ),
    "io_uring": ("io_uring multishot recv with a provided buffer ring", False),
    "io_uring_napi": (
        "io_uring multishot recv with NAPI busy poll registered (IORING_REGISTER_NAPI, 6.9+)",
        True,
    ),
    "tpacket_v3": (
        "PACKET_MMAP TPACKET_V3 ring: blocks handed over when full or at their "
        "timeout, so latency at low rates is bounded by the timeout",
        False,
    ),
    "af_xdp": (
        "AF_XDP copy mode, spinning on the RX ring (rxtune attaches the XDP redirect "
        "program for the run)",
        False,
    ),
    "af_xdp_poll": ("AF_XDP copy mode, sleeping in poll() until the RX ring has frames", False),
}
PINGPONG_NAMES = tuple(n for n in CATALOGUE if n not in HIGH_RATE_ONLY)
HIGH_RATE_NAMES = (
    "blocking",
    "epoll",
    "spin",
    "so_busy_poll",
    "busy_poll_epoll",
    "epoll_params",
    "recvmmsg",
    "io_uring",
    "io_uring_napi",
    "tpacket_v3",
    "af_xdp",
    "af_xdp_poll",
)


def build(name: str, busy_poll_us: int | None = None, batch: int = 32) -> Strategy:
    doc, needs_us = CATALOGUE[name]
    us = busy_poll_us if needs_us else None
    label = f"{name}({us})" if needs_us else name
    if name == "recvmmsg":
        return Strategy(name, f"recvmmsg({batch})", doc, Wait.BLOCK, batch=batch)
    if name == "io_uring":
        return Strategy(name, label, doc, Wait.BLOCK, kind="io_uring")
    if name == "io_uring_napi":
        return Strategy(
            name, label, doc, Wait.BLOCK, kind="io_uring", busy_poll_us=us, expects_busy_poll=True
        )
    if name == "tpacket_v3":
        return Strategy(name, label, doc, Wait.BLOCK, kind="tpacket")
    if name in ("af_xdp", "af_xdp_poll"):
        return Strategy(
            name,
            label,
            doc,
            Wait.SPIN if name == "af_xdp" else Wait.POLL,
            kind="af_xdp",
            poll_mode=name == "af_xdp_poll",
        )
    if name in ("blocking", "poll", "epoll", "spin"):
        return Strategy(name, label, doc, Wait[name.upper()] if name != "blocking" else Wait.BLOCK)
    assert us is not None
    if name == "so_busy_poll":
        return Strategy(
            name,
            label,
            doc,
            Wait.BLOCK,
            {"SO_BUSY_POLL": us},
            busy_poll_us=us,
            expects_busy_poll=True,
        )
    if name == "so_busy_poll_prefer":
        return Strategy(
            name,
            label,
            doc,
            Wait.BLOCK,
            {"SO_BUSY_POLL": us, "SO_PREFER_BUSY_POLL": 1, "SO_BUSY_POLL_BUDGET": 8},
            busy_poll_us=us,
            expects_busy_poll=True,
        )
    if name == "busy_read":
        return Strategy(
            name,
            label,
            doc,
            Wait.BLOCK,
            sysctls={"net.core.busy_read": us},
            busy_poll_us=us,
            expects_busy_poll=True,
        )
    if name == "busy_poll_epoll":
        return Strategy(
            name,
            label,
            doc,
            Wait.EPOLL,
            sysctls={"net.core.busy_poll": us, "net.core.busy_read": us},
            busy_poll_us=us,
            expects_busy_poll=True,
        )
    if name == "epoll_params":
        return Strategy(
            name,
            label,
            doc,
            Wait.EPOLL,
            epoll_params=EpollParams(us, 8, True),
            busy_poll_us=us,
            expects_busy_poll=True,
        )
    if name == "irq_suspend":
        return Strategy(
            name,
            label,
            doc,
            Wait.EPOLL,
            epoll_params=EpollParams(us, 8, True),
            napi={
                "defer-hard-irqs": 2,
                "gro-flush-timeout": 200_000,
                "irq-suspend-timeout": 20_000_000,
            },
            busy_poll_us=us,
            expects_busy_poll=True,
        )
    raise AssertionError(name)


def select(
    names: list[str] | None, busy_poll_us: list[int], mode: str = PINGPONG, batch: int = 32
) -> list[Strategy]:
    """The strategies to run, one per µs value for those that take one."""
    if mode not in MODES:
        raise InvalidValue(f"unknown mode '{mode}'", MODES)
    available = PINGPONG_NAMES if mode == PINGPONG else tuple(CATALOGUE)
    chosen = names or list(PINGPONG_NAMES if mode == PINGPONG else HIGH_RATE_NAMES)
    unknown = [n for n in chosen if n not in CATALOGUE]
    if unknown:
        raise InvalidValue(f"unknown strategy {', '.join(unknown)}", CATALOGUE)
    wrong_mode = [n for n in chosen if n not in available]
    if wrong_mode:
        raise InvalidValue(
            f"{', '.join(wrong_mode)} runs only with --mode throughput or load", available
        )
    if not 1 <= batch <= 256:
        raise InvalidValue(f"batch {batch} is out of range", "1..256")
    if not busy_poll_us:
        raise InvalidValue("no busy-poll µs value given", "one or more whole numbers 1..1000000")
    for us in busy_poll_us:
        if not 1 <= us <= 1_000_000:
            raise InvalidValue(f"busy-poll µs {us} is out of range", "1..1000000")
    strategies: list[Strategy] = []
    for name in chosen:
        values = busy_poll_us if CATALOGUE[name][1] else [None]
        strategies.extend(build(name, us, batch) for us in values)
    return strategies
