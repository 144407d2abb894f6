"""The `netdev` generic netlink family (pyroute2 has none): NAPI instances, queues, and
the statistics of queues and page pools.

Numbers from include/uapi/linux/netdev.h (kernel 6.18). napi-get since 6.9; its
defer-hard-irqs / gro-flush-timeout since 6.13 with napi-set; threaded since 6.18;
qstats-get since 6.9 (for drivers that report queue statistics); page-pool-stats-get
since 6.8 (CONFIG_PAGE_POOL_STATS).
"""

from __future__ import annotations

from .genl import Client, Family, Operation

QUEUE_TYPE_RX = 0
QSTATS_SCOPE_QUEUE = 1

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
        "qstats": {
            1: ("ifindex", "u32"),
            2: ("queue-type", "u32"),
            3: ("queue-id", "u32"),
            4: ("scope", "uint"),
            8: ("rx-packets", "uint"),
            9: ("rx-bytes", "uint"),
            12: ("rx-alloc-fail", "uint"),
            13: ("rx-hw-drops", "uint"),
            14: ("rx-hw-drop-overruns", "uint"),
            18: ("rx-csum-bad", "uint"),
            19: ("rx-hw-gro-packets", "uint"),
            23: ("rx-hw-drop-ratelimits", "uint"),
        },
        "page-pool": {
            1: ("id", "uint"),
            2: ("ifindex", "u32"),
            3: ("napi-id", "uint"),
            4: ("inflight", "uint"),
            5: ("inflight-mem", "uint"),
        },
        "page-pool-stats": {
            1: ("info", "nest:page-pool"),
            8: ("alloc-fast", "uint"),
            9: ("alloc-slow", "uint"),
            10: ("alloc-slow-high-order", "uint"),
            11: ("alloc-empty", "uint"),
            12: ("alloc-refill", "uint"),
            13: ("alloc-waive", "uint"),
            14: ("recycle-cached", "uint"),
            15: ("recycle-cache-full", "uint"),
            16: ("recycle-ring", "uint"),
            17: ("recycle-ring-full", "uint"),
            18: ("recycle-released-refcnt", "uint"),
        },
    },
    operations={
        "page-pool-stats-get": Operation(cmd=9, attrs="page-pool-stats"),
        "queue-get": Operation(cmd=10, attrs="queue"),
        "napi-get": Operation(cmd=11, attrs="napi"),
        "qstats-get": Operation(cmd=12, attrs="qstats"),
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


def queue_stats(nl: Client, ifindex: int) -> list[dict]:
    """Each RX queue's statistics as the driver reports them (none: the driver has no
    queue statistics; what it does not count is absent)."""
    return [
        q
        for q in nl.call("qstats-get", {"ifindex": ifindex, "scope": QSTATS_SCOPE_QUEUE}, dump=True)
        if q.get("queue-type") == QUEUE_TYPE_RX
    ]


def page_pool_stats(nl: Client, ifindex: int) -> list[dict]:
    """The statistics of each page pool of the device (the pools its RX queues take
    buffers from)."""
    return [
        pool
        for pool in nl.call("page-pool-stats-get", dump=True)
        if pool.get("info", {}).get("ifindex") == ifindex
    ]
