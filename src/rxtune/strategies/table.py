"""THE strategy table: every receive strategy the bench runs, declared once. The bench, its
notes, advise, the snippets, the Python API and the result schema read it. Knob names are
checked against the knob registry when this module is imported."""

from __future__ import annotations

from ..errors import InvalidValue
from ..knobs.model import Scope
from ..knobs.registry import get
from .model import (
    LOAD,
    MODES,
    PINGPONG,
    THROUGHPUT,
    US,
    Caveat,
    EpollParams,
    Receiver,
    Strategy,
    StrategyEntry,
    Wait,
)

HIGH_RATE = frozenset({THROUGHPUT, LOAD})
PINGPONG_ONLY_BY_DEFAULT = frozenset({PINGPONG})

_BUSY_RECV = "recv(fd, buf, sizeof buf, 0);   /* busy polls the NAPI up to {us} µs, then sleeps */"
_EPOLL = "epoll_wait(ep, &ev, 1, -1); recv(fd, buf, sizeof buf, MSG_DONTWAIT);"
_EPOLL_PARAMS = (
    "struct epoll_params p = {{.busy_poll_usecs = {us}, .busy_poll_budget = 8, "
    ".prefer_busy_poll = 1}};\nioctl(ep, EPIOCSPARAMS, &p);   /* 6.9+ */\n" + _EPOLL
)
_IO_URING = (
    "/* liburing 2.5+: multishot recv with a provided buffer ring */\n"
    "io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);\n"
    "sqe->flags |= IOSQE_BUFFER_SELECT; sqe->buf_group = BGID;"
)
_AF_XDP = "/* xdp-tools / libxdp: xsk_socket__create() in copy or zero-copy mode, then {how} */"
_IO_URING_NOTE = Caveat(
    "io-uring-no-timestamp",
    "io_uring recv carries no RX timestamp: no split of the latency",
    frozenset({LOAD}),
)
_AF_XDP_NOTE = Caveat(
    "af-xdp-copy-mode",
    "AF_XDP in copy mode on veth: no NAPI id (since "
    "6.13 only zero-copy sockets get one), so busy-poll options would do "
    "nothing here",
)

TABLE: tuple[StrategyEntry, ...] = (
    StrategyEntry(
        "blocking",
        "blocking recvmsg: sleep until a packet wakes the thread",
        Wait.BLOCK,
        sleeps=True,
        c_code="recv(fd, buf, sizeof buf, 0);   /* sleep until a packet wakes the thread */",
    ),
    StrategyEntry(
        "poll",
        "poll() then recvmsg",
        Wait.POLL,
        sleeps=True,
        default_in=PINGPONG_ONLY_BY_DEFAULT,
        c_code="poll(&(struct pollfd){{.fd = fd, .events = POLLIN}}, 1, -1);\n"
        "recv(fd, buf, sizeof buf, MSG_DONTWAIT);",
    ),
    StrategyEntry(
        "epoll",
        "epoll_wait() then recvmsg: the usual event loop",
        Wait.EPOLL,
        sleeps=True,
        c_code=_EPOLL,
    ),
    StrategyEntry(
        "spin",
        "user-space spin: non-blocking recvmsg in a loop (one CPU at 100%)",
        Wait.SPIN,
        c_code="while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN)\n"
        "    ;  /* one core at 100% */",
    ),
    StrategyEntry(
        "so_busy_poll",
        "SO_BUSY_POLL=N on the socket: blocking reads busy poll the NAPI for "
        "up to N µs before sleeping",
        Wait.BLOCK,
        busy_polls=True,
        socket_options={"SO_BUSY_POLL": US},
        c_code=_BUSY_RECV,
    ),
    StrategyEntry(
        "so_busy_poll_prefer",
        "SO_BUSY_POLL=N with SO_PREFER_BUSY_POLL and "
        "SO_BUSY_POLL_BUDGET=8: the kernel may keep device IRQs masked",
        Wait.BLOCK,
        busy_polls=True,
        default_in=PINGPONG_ONLY_BY_DEFAULT,
        socket_options={"SO_BUSY_POLL": US, "SO_PREFER_BUSY_POLL": 1, "SO_BUSY_POLL_BUDGET": 8},
        c_code=_BUSY_RECV,
    ),
    StrategyEntry(
        "busy_read",
        "net.core.busy_read=N (whole host) with blocking reads",
        Wait.BLOCK,
        busy_polls=True,
        default_in=PINGPONG_ONLY_BY_DEFAULT,
        sysctls={"net.core.busy_read": US},
        c_code=_BUSY_RECV,
    ),
    StrategyEntry(
        "busy_poll_epoll",
        "net.core.busy_poll=N and busy_read=N (whole host) with epoll",
        Wait.EPOLL,
        busy_polls=True,
        sysctls={"net.core.busy_poll": US, "net.core.busy_read": US},
        c_code=_EPOLL,
    ),
    StrategyEntry(
        "epoll_params",
        "epoll with EPIOCSPARAMS busy_poll_usecs=N, budget 8, prefer on (6.9+)",
        Wait.EPOLL,
        busy_polls=True,
        epoll_params=EpollParams(US, 8, True),
        c_code=_EPOLL_PARAMS,
    ),
    StrategyEntry(
        "irq_suspend",
        "epoll busy poll with prefer, napi defer-hard-irqs=2, "
        "gro-flush-timeout=200 µs, irq-suspend-timeout=20 ms (6.13+)",
        Wait.EPOLL,
        busy_polls=True,
        default_in=PINGPONG_ONLY_BY_DEFAULT,
        epoll_params=EpollParams(US, 8, True),
        napi={
            "defer-hard-irqs": 2,
            "gro-flush-timeout": 200_000,
            "irq-suspend-timeout": 20_000_000,
        },
        c_code=_EPOLL_PARAMS,
    ),
    StrategyEntry(
        "recvmmsg",
        "recvmmsg with MSG_WAITFORONE: sleep for the first packet, then take up "
        "to a batch per call",
        Wait.BLOCK,
        modes=HIGH_RATE,
        default_in=HIGH_RATE,
        sleeps=True,
        c_code="recvmmsg(fd, msgs, {batch}, MSG_WAITFORONE, NULL);  /* up to {batch} a call */",
    ),
    StrategyEntry(
        "io_uring",
        "io_uring multishot recv with a provided buffer ring",
        Wait.BLOCK,
        Receiver.IO_URING,
        modes=HIGH_RATE,
        default_in=HIGH_RATE,
        sleeps=True,
        caveats=(_IO_URING_NOTE,),
        c_code=_IO_URING,
    ),
    StrategyEntry(
        "io_uring_napi",
        "io_uring multishot recv with NAPI busy poll registered (IORING_REGISTER_NAPI, 6.9+)",
        Wait.BLOCK,
        Receiver.IO_URING,
        modes=HIGH_RATE,
        default_in=HIGH_RATE,
        busy_polls=True,
        caveats=(_IO_URING_NOTE,),
        c_code=_IO_URING + "\nio_uring_register_napi(&ring, &(struct io_uring_napi){{"
        ".busy_poll_to = {us}, .prefer_busy_poll = 1}});   /* 6.9+ */",
    ),
    StrategyEntry(
        "tpacket_v3",
        "PACKET_MMAP TPACKET_V3 ring: blocks handed over when full or at their "
        "timeout, so latency at low rates is bounded by the timeout",
        Wait.BLOCK,
        Receiver.TPACKET,
        modes=HIGH_RATE,
        default_in=HIGH_RATE,
        sleeps=True,
        caveats=(
            Caveat(
                "tpacket-timeout",
                "TPACKET_V3 hands a block over when it fills or "
                "its 1 ms timeout expires: at low rates that timeout, not the wakeup, "
                "sets the latency",
                frozenset({LOAD}),
            ),
        ),
        c_code="setsockopt(fd, SOL_PACKET, PACKET_VERSION, &(int){{TPACKET_V3}}, sizeof(int));\n"
        "setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req3, sizeof req3);\n"
        "/* req3.tp_retire_blk_tov = 1 (ms): at a low rate, the latency */",
    ),
    StrategyEntry(
        "af_xdp",
        "AF_XDP copy mode, spinning on the RX ring (rxtune attaches the XDP redirect "
        "program for the run)",
        Wait.SPIN,
        Receiver.AF_XDP,
        modes=HIGH_RATE,
        default_in=HIGH_RATE,
        caveats=(_AF_XDP_NOTE,),
        c_code=_AF_XDP.format(how="spin on the RX ring"),
    ),
    StrategyEntry(
        "af_xdp_poll",
        "AF_XDP copy mode, sleeping in poll() until the RX ring has frames",
        Wait.POLL,
        Receiver.AF_XDP,
        modes=HIGH_RATE,
        default_in=HIGH_RATE,
        sleeps=True,
        caveats=(_AF_XDP_NOTE,),
        c_code=_AF_XDP.format(how="poll() the socket"),
    ),
)


def check(entries: tuple[StrategyEntry, ...]) -> None:
    """Every knob a strategy names is a knob of the registry, of the scope it is used in,
    and each name is declared once; raises InvalidValue otherwise."""
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise InvalidValue("a strategy is declared twice", sorted(set(names)))
    for entry in entries:
        for scope, knobs in (
            (Scope.SOCKET, entry.socket_options),
            (Scope.HOST, entry.sysctls),
            (Scope.NAPI, entry.napi),
        ):
            for name in knobs:
                get(name, scope)


check(TABLE)
BY_NAME = {entry.name: entry for entry in TABLE}
NAMES = tuple(BY_NAME)


def names_for(mode: str) -> tuple[str, ...]:
    return tuple(e.name for e in TABLE if mode in e.modes)


def default_names(mode: str) -> tuple[str, ...]:
    return tuple(e.name for e in TABLE if mode in e.default_in and mode in e.modes)


def build(name: str, busy_poll_us: int | None = None, batch: int = 32) -> Strategy:
    return BY_NAME[name].resolve(busy_poll_us, batch)


def select(
    names: list[str] | None, busy_poll_us: list[int], mode: str = PINGPONG, batch: int = 32
) -> list[Strategy]:
    """The strategies to run, one per µs value for those that take one."""
    if mode not in MODES:
        raise InvalidValue(f"unknown mode '{mode}'", MODES)
    available = names_for(mode)
    chosen = names or list(default_names(mode))
    unknown = [n for n in chosen if n not in BY_NAME]
    if unknown:
        raise InvalidValue(f"unknown strategy {', '.join(unknown)}", NAMES)
    wrong_mode = [n for n in chosen if n not in available]
    if wrong_mode:
        modes = " or ".join(m for m in MODES if m in BY_NAME[wrong_mode[0]].modes)
        raise InvalidValue(f"{', '.join(wrong_mode)} runs only with --mode {modes}", available)
    if not 1 <= batch <= 256:
        raise InvalidValue(f"batch {batch} is out of range", "1..256")
    if not busy_poll_us:
        raise InvalidValue("no busy-poll µs value given", "one or more whole numbers 1..1000000")
    for us in busy_poll_us:
        if not 1 <= us <= 1_000_000:
            raise InvalidValue(f"busy-poll µs {us} is out of range", "1..1000000")
    strategies: list[Strategy] = []
    for name in chosen:
        entry = BY_NAME[name]
        values: list[int | None] = list(busy_poll_us) if entry.takes_busy_poll_us else [None]
        strategies.extend(entry.resolve(us, batch) for us in values)
    return strategies
