"""Set a UDP socket up for a receive strategy: the options that make the kernel busy poll,
the epoll fd with its params, the software RX timestamps. The loops themselves are C."""

from __future__ import annotations

import errno
import fcntl
import select
import socket
import struct
from dataclasses import dataclass

from ..backends.sockopt import OPTIONS, SO_INCOMING_NAPI_ID, SO_TIMESTAMPNS
from ..errors import NotPermitted, Unsupported
from ..strategies import Strategy, Wait
from . import _engine

RCVTIMEO_S = 0.1  # blocking reads wake this often to look at their deadline


@dataclass
class StrategySocket:
    sock: socket.socket
    epoll: select.epoll | None
    strategy: Strategy

    @property
    def epfd(self) -> int:
        return self.epoll.fileno() if self.epoll else -1

    def napi_id(self) -> int:
        """NAPI id of the last packet received (0: it did not come through a NAPI)."""
        return self.sock.getsockopt(socket.SOL_SOCKET, SO_INCOMING_NAPI_ID)

    def close(self) -> None:
        if self.epoll:
            self.epoll.close()
        self.sock.close()


def _setsockopt(sock: socket.socket, name: str, value: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, OPTIONS[name], value)
    except OSError as error:
        if error.errno == errno.EPERM:
            raise NotPermitted(f"{name}={value} needs CAP_NET_ADMIN") from None
        raise Unsupported(f"{name}: {error.strerror}") from None


def open_udp(
    strategy: Strategy,
    bind: tuple[str, int],
    connect: tuple[str, int] | None = None,
    rx_timestamps: bool = True,
    rcvbuf: int | None = None,
) -> StrategySocket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    epoll = None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(bind)
        if connect:
            sock.connect(connect)
        if rx_timestamps:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, int(RCVTIMEO_S * 1e6))
        )
        for name, value in strategy.socket_options.items():
            _setsockopt(sock, name, value)
        if strategy.wait in (Wait.SPIN, Wait.POLL, Wait.EPOLL):
            sock.setblocking(False)
        if strategy.wait == Wait.EPOLL:
            epoll = select.epoll()
            epoll.register(sock.fileno(), select.EPOLLIN)
            if strategy.epoll_params:
                params = strategy.epoll_params
                try:
                    fcntl.ioctl(
                        epoll.fileno(),
                        _engine.EPIOCSPARAMS,
                        struct.pack(
                            "IHBB",
                            params.busy_poll_usecs,
                            params.busy_poll_budget,
                            int(params.prefer_busy_poll),
                            0,
                        ),
                    )
                except OSError as error:
                    needs = "6.9+" + (
                        "; raising the budget needs CAP_NET_ADMIN"
                        if error.errno == errno.EPERM
                        else ""
                    )
                    raise Unsupported(f"EPIOCSPARAMS: {error.strerror} (needs {needs})") from None
    except BaseException:
        if epoll:
            epoll.close()
        sock.close()
        raise
    return StrategySocket(sock, epoll, strategy)
