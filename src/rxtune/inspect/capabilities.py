"""Which receive features this kernel and these devices support, found by trying them
(a socket option set, an ioctl, a netlink policy), not by reading the version number."""

from __future__ import annotations

import ctypes
import errno
import os
import select
import socket
import struct
from collections.abc import Callable
from typing import Any

from ..backends import sockopt
from ..backends.context import ReadContext
from ..backends.netlink import ethtool
from ..backends.netlink.genl import accepted_attributes
from ..backends.netlink_knobs import napi_ids
from ..errors import NotPermitted, RxtuneError, Unsupported

# include/uapi/linux/eventpoll.h (6.9): _IOW(0x8A, 0x01, struct epoll_params), _IOR(.., 0x02, ..)
EPIOCSPARAMS = 0x40088A01
EPIOCGPARAMS = 0x80088A02
SYS_IO_URING_SETUP, SYS_IO_URING_REGISTER = 425, 427
IORING_REGISTER_NAPI = 27
AF_XDP = 44
SOL_PACKET, PACKET_VERSION, TPACKET_V3 = 263, 10, 2
NETDEV_CMD_NAPI_SET = 14
NAPI_ATTR_IRQ_SUSPEND_TIMEOUT, NAPI_ATTR_THREADED = 7, 8

_libc = ctypes.CDLL(None, use_errno=True)


def _sockopt(option: int) -> Callable[[], str]:
    def probe() -> str:
        sockopt.probe_set(option, 0)
        return "setsockopt accepted"

    return probe


def _epoll_params() -> str:
    ep = select.epoll()
    try:
        import fcntl

        fcntl.ioctl(ep.fileno(), EPIOCGPARAMS, bytearray(8))
    except OSError as error:
        raise Unsupported(
            f"ioctl EPIOCGPARAMS on an epoll fd: {error.strerror} (needs 6.9+)"
        ) from None
    finally:
        ep.close()
    return "EPIOCSPARAMS/EPIOCGPARAMS accepted"


def _io_uring_napi() -> str:
    params = ctypes.create_string_buffer(120)  # struct io_uring_params
    _libc.syscall.restype = ctypes.c_long
    fd = _libc.syscall(SYS_IO_URING_SETUP, 4, params)
    if fd < 0:
        err = ctypes.get_errno()
        hint = " (kernel.io_uring_disabled?)" if err == errno.EPERM else ""
        raise Unsupported(f"io_uring_setup: {os.strerror(err)}{hint}")
    try:
        napi = ctypes.create_string_buffer(struct.pack("IBBBBII", 0, 0, 0, 0, 0, 0, 0), 16)
        if _libc.syscall(SYS_IO_URING_REGISTER, fd, IORING_REGISTER_NAPI, napi, 1) < 0:
            raise Unsupported(
                f"IORING_REGISTER_NAPI: {os.strerror(ctypes.get_errno())} (needs 6.9+)"
            )
    finally:
        os.close(fd)
    return "IORING_REGISTER_NAPI accepted"


def _af_xdp() -> str:
    try:
        socket.socket(AF_XDP, socket.SOCK_RAW, 0).close()
    except OSError as error:
        if error.errno == errno.EPERM:
            raise NotPermitted("AF_XDP sockets need CAP_NET_RAW") from None
        raise Unsupported(f"socket(AF_XDP): {error.strerror}") from None
    return "AF_XDP socket created (copy mode works on any device; zero-copy needs driver support)"


def _tpacket_v3() -> str:
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
    except OSError as error:
        if error.errno == errno.EPERM:
            raise NotPermitted("packet sockets need CAP_NET_RAW") from None
        raise Unsupported(f"PACKET_VERSION TPACKET_V3: {error.strerror}") from None
    return "PACKET_VERSION TPACKET_V3 accepted"


def _netdev_policy(ctx: ReadContext) -> dict[int, set[int]]:
    return ctx.cached(("netdev-policy",), lambda: accepted_attributes("netdev"))


def _napi_set_attr(ctx: ReadContext, attr: int | None, what: str) -> Callable[[], str]:
    def probe() -> str:
        accepted = _netdev_policy(ctx).get(NETDEV_CMD_NAPI_SET)
        if accepted is None:
            raise Unsupported("netdev has no napi-set (needs 6.13+)")
        if attr is None:
            return "netdev napi-set available"
        if attr not in accepted:
            raise Unsupported(f"napi-set does not take {what} on this kernel")
        return f"napi-set accepts {what}"

    return probe


def _device_probes(ctx: ReadContext, dev: str) -> dict[str, Callable[[], str]]:
    def napi() -> str:
        ids = napi_ids(ctx, dev)
        if not ids:
            raise Unsupported(f"{dev} lists no NAPI instance now (veth: turn GRO on or attach XDP)")
        return f"NAPI ids {', '.join(map(str, ids))}: busy polling can reach this device"

    def coalesce() -> str:
        ethtool.get(ctx.netlink("ethtool"), "coalesce", dev)
        return "coalesce-get answered"

    def threaded() -> str:
        if not (ctx.host.sys / "class/net" / dev / "threaded").exists():
            raise Unsupported(f"/sys/class/net/{dev}/threaded missing (needs 5.12+)")
        return "threaded NAPI switch present"

    return {
        f"NAPI polling on {dev}": napi,
        f"interrupt coalescing on {dev}": coalesce,
        f"threaded NAPI on {dev}": threaded,
    }


def capabilities(ctx: ReadContext, devices: list[str]) -> list[dict[str, Any]]:
    probes: dict[str, Callable[[], str]] = {
        "SO_BUSY_POLL": _sockopt(sockopt.SO_BUSY_POLL),
        "SO_PREFER_BUSY_POLL": _sockopt(sockopt.SO_PREFER_BUSY_POLL),
        "SO_BUSY_POLL_BUDGET": _sockopt(sockopt.SO_BUSY_POLL_BUDGET),
        "epoll busy-poll params (EPIOCSPARAMS)": _epoll_params,
        "io_uring NAPI busy poll": _io_uring_napi,
        "napi-set": _napi_set_attr(ctx, None, "napi-set"),
        "irq-suspend-timeout": _napi_set_attr(
            ctx, NAPI_ATTR_IRQ_SUSPEND_TIMEOUT, "irq-suspend-timeout"
        ),
        "per-NAPI threaded (napi-set threaded)": _napi_set_attr(
            ctx, NAPI_ATTR_THREADED, "threaded"
        ),
        "AF_XDP": _af_xdp,
        "PACKET_MMAP TPACKET_V3": _tpacket_v3,
    }
    for dev in devices:
        probes.update(_device_probes(ctx, dev))
    results = []
    for name, probe in probes.items():
        try:
            results.append({"name": name, "supported": True, "detail": probe()})
        except NotPermitted as error:
            results.append({"name": name, "supported": None, "detail": str(error)})
        except Unsupported as error:
            results.append({"name": name, "supported": False, "detail": error.reason})
        except RxtuneError as error:
            results.append({"name": name, "supported": False, "detail": str(error)})
    return results
