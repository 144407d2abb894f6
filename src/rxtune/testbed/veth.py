"""Two network namespaces joined by a veth pair, in the configurations of
../shared/reference/receive-path.md. Names start with PREFIX and carry the owner's pid and
start time (rxtune-PID.START-tx), so a later run can tell leftovers of a killed run from a
live one, even where the pid has been reused, and remove them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from ..backends.netlink import ethtool
from ..changes.process import ProcessId
from ..errors import InvalidValue, NotPermitted, RxtuneError
from ..host import call_in_netns, is_root, signals_deferred

PREFIX = "rxtune-"
_NAME = re.compile(rf"^{PREFIX}(\d+)(?:\.(\d+))?-")  # the start time: since rxtune 0.2
NUD_PERMANENT = 0x80
# RFC 2544 benchmarking addresses, on the testbed's own veths only
SENDER_ADDRESS, RECEIVER_ADDRESS, PREFIXLEN = "198.18.0.1", "198.18.0.2", 30


@dataclass(frozen=True)
class Configuration:
    name: str
    summary: str
    gro: bool
    udp_gro_forwarding: bool
    tso_off: bool


CONFIGURATIONS = {
    "A": Configuration(
        "A",
        "sender TSO off, receiver GRO on: UDP goes through the "
        "receiving veth's NAPI, and busy polling works",
        gro=True,
        udp_gro_forwarding=False,
        tso_off=True,
    ),
    "B": Configuration(
        "B",
        "receiver GRO + rx-udp-gro-forwarding on, TSO on: NAPI path, "
        "but GRO holds each datagram until the poll completes, so a busy "
        "poller waits out its whole window (a pitfall to see, not a baseline)",
        gro=True,
        udp_gro_forwarding=True,
        tso_off=False,
    ),
    "C": Configuration(
        "C",
        "defaults: UDP from a TSO-capable sender bypasses veth NAPI "
        "(NAPI id 0), so busy polling has nothing to poll",
        gro=False,
        udp_gro_forwarding=False,
        tso_off=False,
    ),
}


@dataclass(frozen=True)
class Side:
    netns: str
    ifname: str
    address: str
    mac: str = ""


@dataclass
class Testbed:
    configuration: Configuration
    sender: Side
    receiver: Side
    cpus: tuple[int | None, int | None] = (None, None)  # sender's, receiver's

    @property
    def namespaces(self) -> tuple[str, str]:
        return self.sender.netns, self.receiver.netns


def configuration(name: str) -> Configuration:
    try:
        return CONFIGURATIONS[name.upper()]
    except KeyError:
        raise InvalidValue(f"unknown testbed configuration '{name}'", CONFIGURATIONS) from None


def _tso_features(dev: str) -> dict[str, bool]:
    with ethtool.client() as nl:
        return {
            name: False
            for name, state in ethtool.features(nl, dev).items()
            if name.startswith("tx-tcp") and name.endswith("segmentation") and state["changeable"]
        }


def _set_features(dev: str, config: Configuration) -> None:
    wanted = {"rx-gro": config.gro, "rx-udp-gro-forwarding": config.udp_gro_forwarding}
    if config.tso_off:
        wanted.update(_tso_features(dev))
    with ethtool.client() as nl:
        ethtool.set_features(nl, dev, wanted)


def _pin_cpus() -> tuple[int | None, int | None]:
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _ipv4_only(dev: str) -> None:
    """Turn IPv6 off on a device of this namespace (where the kernel has IPv6)."""
    knob = Path(f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6")
    if knob.exists():
        knob.write_text("1")


def create(config: Configuration) -> Testbed:
    """Build the testbed; on any failure, remove what was built and raise."""
    if not is_root():
        raise NotPermitted("the testbed creates network namespaces: run as root")
    owner = ProcessId.current()
    tx_ns, rx_ns = f"{PREFIX}{owner.pid}.{owner.start}-tx", f"{PREFIX}{owner.pid}.{owner.start}-rx"
    bed = Testbed(
        config,
        Side(tx_ns, "tx0", SENDER_ADDRESS),
        Side(rx_ns, "rx0", RECEIVER_ADDRESS),
        cpus=_pin_cpus(),
    )
    try:
        with signals_deferred():  # pyroute2 forks a helper for each
            netns.create(tx_ns)
            netns.create(rx_ns)
        with IPRoute(netns=tx_ns) as ipr:
            ipr.link("add", ifname="tx0", kind="veth", peer={"ifname": "rx0", "net_ns_fd": rx_ns})
        macs = {}
        for side in (bed.sender, bed.receiver):
            # no IPv6 on the test link: its router solicitations and MLD reports would be
            # packets no sender sent, taken or dropped among the test's own
            call_in_netns(side.netns, _ipv4_only, side.ifname)
            with IPRoute(netns=side.netns) as ipr:
                index = ipr.link_lookup(ifname=side.ifname)[0]
                ipr.addr("add", index=index, address=side.address, prefixlen=PREFIXLEN)
                ipr.link("set", index=index, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                macs[side.netns] = ipr.get_links(index)[0].get_attr("IFLA_ADDRESS")
            call_in_netns(side.netns, _set_features, side.ifname, config)
        bed.sender = Side(tx_ns, "tx0", SENDER_ADDRESS, macs[tx_ns])
        bed.receiver = Side(rx_ns, "rx0", RECEIVER_ADDRESS, macs[rx_ns])
        # permanent neighbours: no ARP during a run (an XDP program would swallow it)
        for side, peer in ((bed.sender, bed.receiver), (bed.receiver, bed.sender)):
            with IPRoute(netns=side.netns) as ipr:
                ipr.neigh(
                    "add",
                    dst=peer.address,
                    lladdr=peer.mac,
                    state=NUD_PERMANENT,
                    ifindex=ipr.link_lookup(ifname=side.ifname)[0],
                )
    except (NetlinkError, OSError, RxtuneError) as error:
        destroy(bed)
        raise RxtuneError(f"could not build the testbed: {error}") from None
    except BaseException:
        destroy(bed)
        raise
    return bed


def destroy(bed: Testbed) -> None:
    """Remove both namespaces (the veth pair goes with them)."""
    for name in bed.namespaces:
        if name in netns.listnetns():
            with signals_deferred():
                netns.remove(name)


def owner(name: str) -> ProcessId | None:
    """The process that created a namespace of ours (None: not one of ours)."""
    match = _NAME.match(name)
    if not match:
        return None
    return ProcessId(int(match.group(1)), int(match.group(2)) if match.group(2) else None)


def leftovers() -> list[str]:
    """Namespaces of ours whose owner process is gone."""
    found = []
    for name in netns.listnetns():
        created_by = owner(name)
        if created_by and not created_by.alive():
            found.append(name)
    return sorted(found)


def remove_leftovers() -> list[str]:
    removed = leftovers()
    for name in removed:
        netns.remove(name)
    return removed


@contextmanager
def testbed(config: Configuration) -> Iterator[Testbed]:
    """A testbed for the duration of the block, removed also on exception and Ctrl-C."""
    bed = create(config)
    try:
        yield bed
    finally:
        destroy(bed)
