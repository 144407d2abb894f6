"""How to apply each strategy: the host commands come from the knob registry; the code is
what a program does on its own socket."""

from __future__ import annotations

from ..knobs.registry import get
from ..measure.strategies import Strategy

_SOCKOPT = "setsockopt(fd, SOL_SOCKET, {name}, &(int){{{value}}}, sizeof(int));"

# str.format templates: literal braces are doubled
_CODE = {
    "blocking": "recv(fd, buf, sizeof buf, 0);   /* sleep until a packet wakes the thread */",
    "poll": (
        "poll(&(struct pollfd){{.fd = fd, .events = POLLIN}}, 1, -1);\n"
        "recv(fd, buf, sizeof buf, MSG_DONTWAIT);"
    ),
    "epoll": "epoll_wait(ep, &ev, 1, -1); recv(fd, buf, sizeof buf, MSG_DONTWAIT);",
    "busy_recv": (
        "recv(fd, buf, sizeof buf, 0);   /* busy polls the NAPI up to {us} µs, then sleeps */"
    ),
    "spin": (
        "while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN)\n"
        "    ;  /* one core at 100% */"
    ),
    "recvmmsg": (
        "recvmmsg(fd, msgs, {batch}, MSG_WAITFORONE, NULL);  /* up to {batch} datagrams a call */"
    ),
    "epoll_params": (
        "struct epoll_params p = {{.busy_poll_usecs = {us}, .busy_poll_budget = 8, "
        ".prefer_busy_poll = 1}};\nioctl(ep, EPIOCSPARAMS, &p);   /* 6.9+ */\n"
        "epoll_wait(ep, &ev, 1, -1);"
    ),
    "io_uring": (
        "/* liburing 2.5+: multishot recv with a provided buffer ring */\n"
        "io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);\n"
        "sqe->flags |= IOSQE_BUFFER_SELECT; sqe->buf_group = BGID;"
    ),
    "tpacket_v3": (
        "setsockopt(fd, SOL_PACKET, PACKET_VERSION, &(int){{TPACKET_V3}}, sizeof(int));\n"
        "setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req3, sizeof req3);\n"
        "/* req3.tp_retire_blk_tov = 1 (ms): at a low rate, the latency */"
    ),
    "af_xdp": (
        "/* xdp-tools / libxdp: xsk_socket__create(..) in copy or zero-copy mode,\n"
        "   then spin on the RX ring */"
    ),
}


def code(strategy: Strategy) -> str:
    """C for the program's side of a strategy."""
    lines = [
        _SOCKOPT.format(name=name, value=value) for name, value in strategy.socket_options.items()
    ]
    if strategy.name == "io_uring_napi":
        lines.append(_CODE["io_uring"])
        lines.append(
            f"io_uring_register_napi(&ring, &(struct io_uring_napi){{.busy_poll_to = "
            f"{strategy.busy_poll_us}, .prefer_busy_poll = 1}});   /* 6.9+ */"
        )
    elif strategy.name in ("so_busy_poll", "so_busy_poll_prefer", "busy_read"):
        lines.append(_CODE["busy_recv"].format(us=strategy.busy_poll_us))
    elif strategy.name in ("busy_poll_epoll", "irq_suspend"):
        if strategy.epoll_params:
            lines.append(_CODE["epoll_params"].format(us=strategy.busy_poll_us))
        else:
            lines.append(_CODE["epoll"])
    elif strategy.name == "af_xdp_poll":
        lines.append(_CODE["af_xdp"].replace("spin on the RX ring", "poll() the socket"))
    else:
        lines.append(_CODE[strategy.name].format(batch=strategy.batch, us=strategy.busy_poll_us))
    return "\n".join(lines)


def commands(strategy: Strategy, dev: str | None) -> list[str]:
    """The host side: sysctls and NAPI settings, as `rxtune set` and as plain commands."""
    out = []
    if strategy.sysctls:
        pairs = " ".join(
            f"{name.split('.')[-1]}={value}" for name, value in strategy.sysctls.items()
        )
        out.append(f"rxtune set {pairs}        # journaled; undo with rxtune revert")
        out += [get(name).command(value) for name, value in strategy.sysctls.items()]
    if strategy.napi:
        target = f"--dev {dev}" if dev else "--dev DEV"
        pairs = " ".join(f"{name}={value}" for name, value in strategy.napi.items())
        out.append(f"rxtune set {pairs} {target}   # per NAPI, over netlink (6.13+)")
    return out
