"""Device knobs: sysfs NAPI settings, netdev features, rings, channels, coalescing, driver."""

from __future__ import annotations

from ..backends.devinfo import DriverInfo
from ..backends.files import DeviceFile
from ..backends.netlink.ethtool import CHANNELS_ATTRS, COALESCE_ATTRS, RINGS_ATTRS
from ..backends.netlink_knobs import EthtoolFeature, EthtoolGroup
from .model import BOOLEAN, U32, Knob, Scope

_FILE, _FEATURE, _GROUP, _DRIVER = DeviceFile(), EthtoolFeature(), EthtoolGroup(), DriverInfo()

SYSFS = (
    Knob(
        "napi_defer_hard_irqs",
        Scope.DEVICE,
        "polls",
        0,
        (5, 8),
        _FILE,
        "napi_defer_hard_irqs",
        "empty NAPI polls before the device IRQ is re-enabled (with gro_flush_timeout)",
        valid=U32,
        group="sysfs",
    ),
    Knob(
        "gro_flush_timeout",
        Scope.DEVICE,
        "ns",
        0,
        (3, 19),
        _FILE,
        "gro_flush_timeout",
        "timer that replaces the IRQ while NAPI defers; also delays GRO flushes",
        valid=U32,
        group="sysfs",
    ),
    Knob(
        "threaded",
        Scope.DEVICE,
        "bool",
        False,
        (5, 12),
        _FILE,
        "threaded",
        "run this device's NAPI polls in kernel threads napi/DEV-ID instead of softirq",
        valid=BOOLEAN,
        group="sysfs",
    ),
)

# kernel feature names, and the names `ethtool -K` takes
_FEATURES = (
    ("rx-gro", "gro", (2, 6), "generic receive offload; on veth it also turns NAPI on"),
    (
        "rx-udp-gro-forwarding",
        "rx-udp-gro-forwarding",
        (5, 11),
        "GRO for UDP not addressed to a GRO-enabled socket; holds datagrams until GRO flushes",
    ),
    ("rx-gro-list", "rx-gro-list", (5, 6), "GRO fraglist: keep segments as a list"),
    (
        "tx-tcp-segmentation",
        "tso",
        (2, 6),
        "TCP segmentation offload; on veth, a TSO-capable sender bypasses the peer's NAPI",
    ),
)
FEATURES = tuple(
    Knob(
        name,
        Scope.DEVICE,
        "bool",
        None,
        since,
        _FEATURE,
        name,
        doc,
        valid=BOOLEAN,
        group="feature",
        cli=alias,
    )
    for name, alias, since, doc in _FEATURES
)

_READ_ONLY_SUFFIX = "-max"
_COALESCE_DOC = {
    "rx-usecs": "µs the device waits after a packet before raising the RX interrupt",
    "rx-max-frames": "packets the device gathers before raising the RX interrupt",
    "use-adaptive-rx": "let the driver adapt RX moderation to the load (DIM)",
}


def _ethtool_cli_name(name: str) -> str:
    """ethtool's command line spells some netlink attributes differently."""
    return (
        name.replace("max-frames", "frames")
        .replace("use-adaptive-", "adaptive-")
        .replace("use-cqe-mode-", "cqe-mode-")
        .replace("rate-sample-interval", "sample-interval")
        .removesuffix("-count")
    )


def _group_knobs(
    group: str, attrs: dict[int, tuple[str, str]], since: tuple[int, int]
) -> tuple[Knob, ...]:
    knobs = []
    for name, kind in attrs.values():
        if name == "header":
            continue
        unit = (
            "bool"
            if kind == "u8"
            else ("µs" if "usecs" in name else "packets/s" if "pkt-rate" in name else "count")
        )
        read_only = group != "coalesce" and name.endswith(_READ_ONLY_SUFFIX)
        knob_name = name if group == "coalesce" else f"{group}.{name}"
        knobs.append(
            Knob(
                knob_name,
                Scope.DEVICE,
                unit,
                None,
                since,
                _GROUP,
                f"{group}:{name}",
                _COALESCE_DOC.get(name, f"{group}: {name}"),
                valid=None if read_only else (BOOLEAN if kind == "u8" else U32),
                default_note="set by the driver",
                group=group,
                cli=_ethtool_cli_name(name),
            )
        )
    return tuple(knobs)


COALESCE = _group_knobs("coalesce", COALESCE_ATTRS, (5, 6))
RINGS = _group_knobs("rings", RINGS_ATTRS, (5, 6))
CHANNELS = _group_knobs("channels", CHANNELS_ATTRS, (5, 6))

DRIVER = tuple(
    Knob(
        f"driver.{field}",
        Scope.DEVICE,
        "text",
        None,
        (2, 6),
        _DRIVER,
        field,
        f"the device's driver {field}",
        valid=None,
        group="driver",
    )
    for field in ("driver", "version")
)

KNOBS = DRIVER + SYSFS + FEATURES + CHANNELS + RINGS + COALESCE
