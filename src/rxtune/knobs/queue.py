"""RX queue knobs: steering, the NAPI that serves the queue, its IRQ and the IRQ's CPUs."""

from __future__ import annotations

from ..backends.files import DeviceFile, IrqAffinity
from ..backends.netlink_knobs import QueueAttr
from .model import U32, CpuList, Hexmask, Knob, Scope

_FILE, _QUEUE = DeviceFile(), QueueAttr()

KNOBS = (
    Knob(
        "napi_id",
        Scope.QUEUE,
        "id",
        None,
        (6, 8),
        _QUEUE,
        "napi-id",
        "the NAPI instance that polls this queue (0: none)",
        valid=None,
        group="queue",
    ),
    Knob(
        "irq",
        Scope.QUEUE,
        "irq",
        None,
        (6, 9),
        _QUEUE,
        "irq",
        "the IRQ of the queue's NAPI (0: none)",
        valid=None,
        group="queue",
    ),
    Knob(
        "irq_affinity",
        Scope.QUEUE,
        "cpu list",
        None,
        (2, 6),
        IrqAffinity(),
        "smp_affinity_list",
        "the CPUs the queue's IRQ (and so its softirq) may run on",
        valid=CpuList(),
        group="queue",
    ),
    Knob(
        "rps_cpus",
        Scope.QUEUE,
        "hex cpu mask",
        "0",
        (2, 6),
        _FILE,
        "queues/rx-{queue}/rps_cpus",
        "CPUs that Receive Packet Steering spreads this queue's packets to (0: off)",
        valid=Hexmask(),
        group="queue",
    ),
    Knob(
        "rps_flow_cnt",
        Scope.QUEUE,
        "flows",
        0,
        (2, 6),
        _FILE,
        "queues/rx-{queue}/rps_flow_cnt",
        "RFS flow table size for this queue (0: off)",
        valid=U32,
        group="queue",
    ),
)
