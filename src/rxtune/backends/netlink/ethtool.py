"""The `ethtool` generic netlink family: features, rings, channels, coalescing.

Numbers from include/uapi/linux/ethtool_netlink_generated.h. We speak netlink rather than
read `ethtool`'s text, whose format changes between versions.
"""

from __future__ import annotations

from typing import Any

from .genl import Client, Family, Operation

_HEADER = {1: ("dev-index", "u32"), 2: ("dev-name", "string"), 3: ("flags", "u32")}

COALESCE_ATTRS: dict[int, tuple[str, str]] = {
    1: ("header", "nest:header"),
    2: ("rx-usecs", "u32"),
    3: ("rx-max-frames", "u32"),
    4: ("rx-usecs-irq", "u32"),
    5: ("rx-max-frames-irq", "u32"),
    6: ("tx-usecs", "u32"),
    7: ("tx-max-frames", "u32"),
    8: ("tx-usecs-irq", "u32"),
    9: ("tx-max-frames-irq", "u32"),
    10: ("stats-block-usecs", "u32"),
    11: ("use-adaptive-rx", "u8"),
    12: ("use-adaptive-tx", "u8"),
    13: ("pkt-rate-low", "u32"),
    14: ("rx-usecs-low", "u32"),
    15: ("rx-max-frames-low", "u32"),
    16: ("tx-usecs-low", "u32"),
    17: ("tx-max-frames-low", "u32"),
    18: ("pkt-rate-high", "u32"),
    19: ("rx-usecs-high", "u32"),
    20: ("rx-max-frames-high", "u32"),
    21: ("tx-usecs-high", "u32"),
    22: ("tx-max-frames-high", "u32"),
    23: ("rate-sample-interval", "u32"),
    24: ("use-cqe-mode-tx", "u8"),
    25: ("use-cqe-mode-rx", "u8"),
    26: ("tx-aggr-max-bytes", "u32"),
    27: ("tx-aggr-max-frames", "u32"),
    28: ("tx-aggr-time-usecs", "u32"),
}

RINGS_ATTRS: dict[int, tuple[str, str]] = {
    1: ("header", "nest:header"),
    2: ("rx-max", "u32"),
    3: ("rx-mini-max", "u32"),
    4: ("rx-jumbo-max", "u32"),
    5: ("tx-max", "u32"),
    6: ("rx", "u32"),
    7: ("rx-mini", "u32"),
    8: ("rx-jumbo", "u32"),
    9: ("tx", "u32"),
    10: ("rx-buf-len", "u32"),
}

CHANNELS_ATTRS: dict[int, tuple[str, str]] = {
    1: ("header", "nest:header"),
    2: ("rx-max", "u32"),
    3: ("tx-max", "u32"),
    4: ("other-max", "u32"),
    5: ("combined-max", "u32"),
    6: ("rx-count", "u32"),
    7: ("tx-count", "u32"),
    8: ("other-count", "u32"),
    9: ("combined-count", "u32"),
}

ETHTOOL = Family(
    name="ethtool",
    attr_sets={
        "header": _HEADER,
        "bitset-bit": {1: ("index", "u32"), 2: ("name", "string"), 3: ("value", "flag")},
        "bitset-bits": {1: ("bit", "multi-nest:bitset-bit")},
        "bitset": {1: ("nomask", "flag"), 2: ("size", "u32"), 3: ("bits", "nest:bitset-bits")},
        "features": {
            1: ("header", "nest:header"),
            2: ("hw", "nest:bitset"),
            3: ("wanted", "nest:bitset"),
            4: ("active", "nest:bitset"),
            5: ("nochange", "nest:bitset"),
        },
        "rings": RINGS_ATTRS,
        "channels": CHANNELS_ATTRS,
        "coalesce": COALESCE_ATTRS,
    },
    operations={
        "features-get": Operation(cmd=11, attrs="features"),
        "features-set": Operation(cmd=12, attrs="features"),
        "rings-get": Operation(cmd=15, attrs="rings"),
        "rings-set": Operation(cmd=16, attrs="rings"),
        "channels-get": Operation(cmd=17, attrs="channels"),
        "channels-set": Operation(cmd=18, attrs="channels"),
        "coalesce-get": Operation(cmd=19, attrs="coalesce"),
        "coalesce-set": Operation(cmd=20, attrs="coalesce"),
    },
)


def client() -> Client:
    return Client(ETHTOOL)


def get(nl: Client, group: str, dev: str) -> dict[str, Any]:
    """All values of one group (rings, channels, coalesce) the device reports."""
    reply = nl.call(f"{group}-get", {"header": {"dev-name": dev}})
    values = dict(reply[0]) if reply else {}
    values.pop("header", None)
    return values


def set_values(nl: Client, group: str, dev: str, values: dict[str, int]) -> None:
    nl.call(f"{group}-set", {"header": {"dev-name": dev}, **values})


def _bits(bitset: dict) -> dict[str, bool]:
    # a bitset without a mask lists only the bits that are set, with no value flag
    listed_means_set = bitset.get("nomask", False)
    return {
        b["name"]: listed_means_set or b.get("value", False)
        for b in bitset.get("bits", {}).get("bit", [])
    }


def features(nl: Client, dev: str) -> dict[str, dict[str, bool]]:
    """{feature: {"active": bool, "changeable": bool}} by the kernel's feature names."""
    reply = nl.call("features-get", {"header": {"dev-name": dev}})[0]
    active, hw, nochange = (_bits(reply.get(k, {})) for k in ("active", "hw", "nochange"))
    names = set(active) | set(hw) | set(nochange)
    return {
        name: {
            "active": active.get(name, False),
            "changeable": hw.get(name, False) and not nochange.get(name, False),
        }
        for name in sorted(names)
    }


def set_features(nl: Client, dev: str, wanted: dict[str, bool]) -> None:
    bits = [{"name": name, "value": on} for name, on in wanted.items()]
    nl.call("features-set", {"header": {"dev-name": dev}, "wanted": {"bits": {"bit": bits}}})
