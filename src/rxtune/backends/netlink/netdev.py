"""The `netdev` generic netlink family (pyroute2 has none): NAPI instances and queues.

Numbers from include/uapi/linux/netdev.h (kernel 6.18). napi-get since 6.9; its
defer-hard-irqs / gro-flush-timeout since 6.13 with napi-set; threaded since 6.18.
"""

from __future__ import annotations

from .genl import Client, Family, Operation

QUEUE_TYPE_RX = 0

NETDEV = Family(
    name="netdev",
    attr_sets={
        "napi": {
            1: ("ifindex", "u32"),
            2: ("id", "u32"),
            3: ("irq", "u32"),
            4: ("pid", "u32"),
            5: ("defer-hard-irqs", "u32"),
            6: ("gro-flush-timeout", "uint"),
            7: ("irq-suspend-timeout", "uint"),
            8: ("threaded", "u32"),
        },
        "queue": {
            1: ("id", "u32"),
            2: ("ifindex", "u32"),
            3: ("type", "u32"),
            4: ("napi-id", "u32"),
        },
    },
    operations={
        "queue-get": Operation(cmd=10, attrs="queue"),
        "napi-get": Operation(cmd=11, attrs="napi"),
        "napi-set": Operation(cmd=14, attrs="napi"),
    },
)


def client() -> Client:
    return Client(NETDEV)


def napi_instances(nl: Client, ifindex: int | None = None) -> list[dict]:
    return nl.call("napi-get", {"ifindex": ifindex} if ifindex else {}, dump=True)


def rx_queues(nl: Client, ifindex: int) -> list[dict]:
    return [
        q
        for q in nl.call("queue-get", {"ifindex": ifindex}, dump=True)
        if q.get("type") == QUEUE_TYPE_RX
    ]


def napi_set(nl: Client, napi_id: int, **values: int) -> None:
    nl.call("napi-set", {"id": napi_id, **{k.replace("_", "-"): v for k, v in values.items()}})
