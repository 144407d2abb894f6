"""Open a strategy's receive path: the UDP socket, io_uring, TPACKET_V3 ring or AF_XDP socket
it reads, set up as the strategy says, as one C receiver (`_engine.Rx`). The bench's own loop
(`Rx.run`) and the Python API (`Rx.recv_batch`) read the same receivers, so the two differ
only in who consumes the packets."""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2 import IPRoute

from ..backends.sockopt import SO_INCOMING_NAPI_ID, SO_RXQ_OVFL
from ..errors import NotPermitted, Unsupported
from ..strategies import Receiver, Strategy
from . import _engine
from .sockets import open_udp

ETH_P_IP = 0x0800
SO_MEMINFO, SK_MEMINFO_VARS, SK_MEMINFO_DROPS = 55, 9, 8  # include/uapi/linux/sock_diag.h
XDP_FLAGS_DRV_MODE = 1 << 2
XSK_BUSY_WAIT_S = 2.0
MAX_BATCH = 1024  # csrc/rx.h: RXT_MAX_BATCH (recvmmsg takes at most UIO_MAXIOV)
# completions run as task work in the waiter itself: no IPI that ends a busy poll (load.h)
URING_SETUP = _engine.IORING_SETUP_SINGLE_ISSUER | _engine.IORING_SETUP_DEFER_TASKRUN


@dataclass(frozen=True)
class PathOptions:
    """How a receive path is sized: the same knobs for the bench and the API."""

    batch: int = 64  # most packets one batch takes
    buffer_size: int = 2048  # a socket's or io_uring's buffer per datagram
    timestamps: bool = True  # SO_TIMESTAMPNS on sockets (rings stamp anyway, or never)
    rcvbuf: int | None = None
    uring_entries: int = 256
    uring_buffers: int = 4096
    uring_wait_nr: int = 1  # completions a wait asks for (a busy poller must ask for 1)
    uring_min_wait_us: int = 0  # ... returning with fewer after this long (6.12)
    uring_setup: int = URING_SETUP
    tpacket_block_size: int = 1 << 20
    tpacket_blocks: int = 16
    tpacket_timeout_ms: int = 1
    xsk_frames: int = 4096  # AF_XDP UMEM frames (and fill ring entries, up to 2048)
    queue: int = 0  # AF_XDP: the device queue bound to


class ReceivePath:
    """A strategy's receive path, open: `rx` receives; close() undoes the setup in reverse
    (the XDP program goes with its link, also when the process dies)."""

    def __init__(self, strategy: Strategy):
        self.strategy = strategy
        self.rx: _engine.Rx | None = None
        self.napi_source: socket.socket | None = None
        self.closers: list[Callable[[], None]] = []

    def napi_id(self) -> int:
        """NAPI id of the last packet the socket took (0: none, or no socket to ask)."""
        if self.napi_source is None or self.napi_source.fileno() < 0:
            return 0
        try:
            return self.napi_source.getsockopt(socket.SOL_SOCKET, SO_INCOMING_NAPI_ID)
        except OSError:
            return 0

    def close(self) -> None:
        if self.rx is not None:
            self.rx.close()
        while self.closers:
            self.closers.pop()()


def refused(strategy: Strategy, error: OSError, what: str = "") -> Unsupported:
    """The kernel refused a piece of the strategy: the reason the bench gives."""
    hint = (
        " (kernel.io_uring_disabled?)"
        if strategy.kind == Receiver.IO_URING and error.errno == errno.EPERM
        else ""
    )
    return Unsupported(f"{what or strategy.label}: {error.strerror}{hint}")


def open_path(
    strategy: Strategy, address: str, port: int, dev: str | None, options: PathOptions
) -> ReceivePath:
    """Set the strategy's receive path up on (address, port); raw receivers (TPACKET_V3,
    AF_XDP) read `dev` and keep UDP to `port` only. Raises Unsupported or NotPermitted with
    the kernel's reason; OSError (EADDRINUSE) when the port is taken."""
    path = ReceivePath(strategy)
    try:
        _OPENERS[strategy.kind](path, address, port, dev, options)
    except BaseException:
        path.close()
        raise
    return path


def _udp(path: ReceivePath, address: str, port: int, rcvbuf: int | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    path.closers.append(sock.close)
    sock.bind((address, port))
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return sock


def _socket(path: ReceivePath, address: str, port: int, dev: str | None, o: PathOptions) -> None:
    opened = open_udp(path.strategy, (address, port), rx_timestamps=o.timestamps, rcvbuf=o.rcvbuf)
    path.closers.append(opened.close)
    opened.sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    path.napi_source = opened.sock
    path.rx = _engine.rx_socket(
        opened.sock.fileno(), opened.epfd, int(path.strategy.wait), o.batch, o.buffer_size
    )


def _uring(path: ReceivePath, address: str, port: int, dev: str | None, o: PathOptions) -> None:
    sock = _udp(path, address, port, o.rcvbuf)
    path.napi_source = sock
    us = path.strategy.busy_poll_us or 0
    try:
        path.rx = _engine.rx_uring(
            sock.fileno(),
            min(o.batch, o.uring_buffers),
            o.uring_entries,
            o.uring_buffers,
            o.buffer_size,
            us,
            1 if us else 0,
            1 if us else o.uring_wait_nr,
            0 if us else o.uring_min_wait_us,
            o.uring_setup,
        )
    except OSError as error:
        raise refused(path.strategy, error) from None


def _device(strategy: Strategy, dev: str | None) -> str:
    if not dev:
        raise Unsupported(f"{strategy.name} reads a device: name the device it reads")
    return dev


def _tpacket(path: ReceivePath, address: str, port: int, dev: str | None, o: PathOptions) -> None:
    dev = _device(path.strategy, dev)
    # a UDP socket swallows the datagrams the stack still delivers (no ICMP unreachable)
    sink = _udp(path, address, port, None)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    except PermissionError:
        raise NotPermitted("packet sockets need CAP_NET_RAW") from None
    path.closers.append(raw.close)
    raw.bind((dev, ETH_P_IP))
    path.napi_source = raw
    try:
        path.rx = _engine.rx_tpacket(
            raw.fileno(),
            o.batch,
            o.tpacket_block_size,
            o.tpacket_blocks,
            o.tpacket_timeout_ms,
            port,
        )
    except OSError as error:
        raise refused(path.strategy, error) from None


def _xdp(path: ReceivePath, address: str, port: int, dev: str | None, o: PathOptions) -> None:
    dev = _device(path.strategy, dev)
    try:
        prog_fd, map_fd = _engine.xdp_prog_load()
    except OSError as error:
        raise Unsupported(
            f"loading the XDP redirect program: {error.strerror} ({error.filename})"
        ) from None
    path.closers += [lambda: os.close(prog_fd), lambda: os.close(map_fd)]
    index = socket.if_nametoindex(dev)
    link = attach_xdp(index, prog_fd)
    path.closers.append(lambda: os.close(link))
    # the previous socket on the queue lingers in a deferred release: EBUSY for a while
    give_up = time.monotonic() + XSK_BUSY_WAIT_S
    while True:
        try:
            path.rx = _engine.rx_xdp(
                index,
                o.queue,
                map_fd,
                o.xsk_frames,
                min(o.batch, MAX_BATCH),
                int(path.strategy.poll_mode),
                port,
            )
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() > give_up:
                raise Unsupported(f"AF_XDP socket on {dev}: {error.strerror}") from None
            time.sleep(0.02)


def device_of(address: str) -> str | None:
    """The device that holds an IPv4 address in this namespace (None: no device holds it,
    0.0.0.0 among them)."""
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=socket.AF_INET, address=address):
            return ipr.get_links(addr["index"])[0].get_attr("IFLA_IFNAME")
    return None


def socket_drops(sock: socket.socket) -> int:
    """Datagrams the kernel dropped at this socket (SO_MEMINFO's SK_MEMINFO_DROPS, 4.12):
    whatever reads it, io_uring included, which carries no SO_RXQ_OVFL."""
    raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * SK_MEMINFO_VARS)
    return struct.unpack(f"{SK_MEMINFO_VARS}I", raw)[SK_MEMINFO_DROPS]


def attach_xdp(index: int, prog_fd: int) -> int:
    """Attach an XDP program in driver mode through a BPF link; returns the link's fd. The
    program stays while the fd is open: closing it, or the process's end, detaches it."""
    try:
        return _engine.xdp_link(prog_fd, index, XDP_FLAGS_DRV_MODE)
    except OSError as error:
        raise Unsupported(f"attaching XDP (BPF link, 5.9+): {error.strerror}") from None


_OPENERS: dict[Receiver, Callable[[ReceivePath, str, int, str | None, PathOptions], None]] = {
    Receiver.SOCKET: _socket,
    Receiver.IO_URING: _uring,
    Receiver.TPACKET: _tpacket,
    Receiver.AF_XDP: _xdp,
}
