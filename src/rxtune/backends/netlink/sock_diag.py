"""The sockets that can receive, from the kernel's sock_diag (inet_diag: UDP sockets, TCP
listeners and connections, IPv4 and IPv6) through pyroute2's DiagSocket: each one's local
address and port, the device it is bound to, and its inode, which names its owners in
/proc/PID/fd."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.diag import DiagSocket

from ...errors import Unsupported

_TCP_ESTABLISHED, _TCP_LISTEN = 1, 10  # include/net/tcp_states.h
_STATES = {
    socket.IPPROTO_UDP: ("udp", 0xFFFFFFFF),  # every state: a UDP socket is "close" or "connected"
    socket.IPPROTO_TCP: ("tcp", (1 << _TCP_ESTABLISHED) | (1 << _TCP_LISTEN)),
}


@dataclass(frozen=True)
class InetSocket:
    protocol: str  # udp, tcp
    address: str  # local; 0.0.0.0 or :: for any
    port: int
    ifindex: int  # SO_BINDTODEVICE's device, 0 for none
    inode: int
    drops: int | None = None  # packets the kernel dropped at it (SK_MEMINFO_DROPS, 4.12)

    @property
    def wildcard(self) -> bool:
        return self.address in ("0.0.0.0", "::")


_SKMEMINFO = 1 << (7 - 1)  # ask for INET_DIAG_SKMEMINFO (attribute 7): u32[SK_MEMINFO_VARS]
_SK_MEMINFO_DROPS = 8


def _drops(meminfo: str | None) -> int | None:
    """SK_MEMINFO_DROPS from the attribute (pyroute2 hands it over as hex "aa:bb:...")."""
    if not meminfo:
        return None
    raw = bytes.fromhex(meminfo.replace(":", ""))
    if len(raw) < 4 * (_SK_MEMINFO_DROPS + 1):
        return None
    return int.from_bytes(raw[4 * _SK_MEMINFO_DROPS : 4 * _SK_MEMINFO_DROPS + 4], "little")


def inet_sockets() -> list[InetSocket]:
    """Every UDP socket and TCP listener or connection of this network namespace."""
    found = []
    try:
        with DiagSocket() as diag:
            diag.bind()
            for family in (socket.AF_INET, socket.AF_INET6):
                for protocol, (name, states) in _STATES.items():
                    for msg in diag.get_sock_stats(
                        family=family, protocol=protocol, states=states, extensions=_SKMEMINFO
                    ):
                        found.append(
                            InetSocket(
                                name,
                                msg["idiag_src"],
                                msg["idiag_sport"],
                                msg["idiag_if"],
                                msg["idiag_inode"],
                                _drops(msg.get_attr("INET_DIAG_SKMEMINFO")),
                            )
                        )
    except OSError as error:
        raise Unsupported(f"sock_diag (inet_diag): {error.strerror}") from None
    return found


def addresses(ifindex: int) -> set[str]:
    """The addresses of a device in this namespace (rtnetlink), IPv4 and IPv6."""
    with IPRoute() as ipr:
        return {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=ifindex)}
