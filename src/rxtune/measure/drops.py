"""Why packets die: every drop the kernel records with a reason (the kfree_skb tracepoint
carries enum skb_drop_reason, 5.17+), counted by a BPF program while this is open, named
as the running kernel names them (BTF), each with where to look. The reasons cover the
whole host, every namespace; the counters that say *where* (a socket, a device, a CPU's
backlog) are read beside them by live.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.btf import enum_values
from ..engine import _engine
from ..errors import Unsupported
from .machine import possible_cpus

PREFIX = "SKB_DROP_REASON_"

# what to look at for the reasons a receive path meets; the knob names are the registry's
LOOK_AT: dict[str, str] = {
    "SOCKET_RCVBUFF": "the socket's receive buffer was full: a larger SO_RCVBUF (up to "
    "net.core.rmem_max; net.core.rmem_default for every socket), or a reader that keeps up "
    "(batches, busy polling)",
    "SOCKET_BACKLOG": "the socket's backlog overflowed while its owner held the lock: a "
    "larger receive buffer (net.core.rmem_max), or a reader that keeps up",
    "PROTO_MEM": "the protocol's memory limit (net.ipv4.udp_mem / tcp_mem) was reached",
    "CPU_BACKLOG": "a CPU's input backlog (RPS, or a device without NAPI) was full: "
    "net.core.netdev_max_backlog, or spread the load (rps_cpus)",
    "NO_SOCKET": "nothing was bound to the destination port (or the socket was closed)",
    "SOCKET_FILTER": "a socket filter (SO_ATTACH_FILTER / BPF) refused it",
    "XDP": "an XDP program dropped it (XDP_DROP, or an aborted program)",
    "FULL_RING": "a ring was full: the device's RX ring (rx ring size, ethtool -G), or an "
    "AF_XDP / packet socket ring that its reader did not empty in time",
    "NETFILTER_DROP": "a firewall rule (netfilter) dropped it",
    "TC_INGRESS": "a tc ingress filter or action dropped it",
    "OTHERHOST": "it was addressed to another host's MAC (promiscuous mode sees these)",
    "UDP_CSUM": "a bad UDP checksum",
    "IP_CSUM": "a bad IP header checksum",
    "PKT_TOO_SMALL": "shorter than its headers say",
    "NOMEM": "the kernel could not allocate memory for it",
    "QUEUE_PURGE": "a queue was purged (a socket or device shut down with packets queued)",
    "NOT_SPECIFIED": "freed on a path that gives no reason (older code paths and drivers)",
}


@dataclass(frozen=True)
class Reason:
    name: str  # the kernel's, without SKB_DROP_REASON_
    count: int
    look_at: str


def reason_names() -> dict[int, str]:
    """This kernel's drop reasons by number (its BTF's enum skb_drop_reason)."""
    return {
        value: name.removeprefix(PREFIX) for value, name in enum_values("skb_drop_reason").items()
    }


class DropReasons:
    """The counting program, attached while open (root; BPF raw tracepoints)."""

    def __init__(self) -> None:
        try:
            self.names = reason_names()
            self._drops: Any = _engine.drops_open(possible_cpus())
        except OSError as error:
            raise Unsupported(
                "counting drops by reason needs a BPF program on the kfree_skb tracepoint "
                f"(root, kernel 5.17+): {error.strerror}"
            ) from None

    def read(self) -> dict[str, int]:
        """{reason name: drops} since open."""
        last = _engine.DROP_SLOTS - 1
        return {
            self.names.get(slot, f"reason {slot}" if slot < last else "subsystem reasons"): n
            for slot, n in _engine.drops_read(self._drops).items()
        }

    def close(self) -> None:
        self._drops = None  # the capsule's destructor detaches the program

    def __enter__(self) -> DropReasons:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def explain(counts: dict[str, int]) -> list[Reason]:
    """Each reason that counted, most first, with where to look."""
    return [
        Reason(name, n, LOOK_AT.get(name, "see the kernel's include/net/dropreason-core.h"))
        for name, n in sorted(counts.items(), key=lambda item: -item[1])
        if n
    ]
