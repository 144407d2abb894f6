"""Per-NAPI knobs over netdev netlink (napi-get; napi-set since 6.13)."""

from __future__ import annotations

from ..backends.netlink_knobs import NapiAttr, NapiThreadCpus
from .model import U32, CpuList, Knob, Range, Scope

_NAPI = NapiAttr()


def _napi(
    name: str,
    unit: str,
    default: int | None,
    since: tuple[int, int],
    doc: str,
    valid: Range | None = U32,
    absent: str = "",
) -> Knob:
    return Knob(
        name,
        Scope.NAPI,
        unit,
        default,
        since,
        _NAPI,
        name,
        doc,
        valid=valid,
        group="napi",
        extra={"absent": absent},
    )


KNOBS = (
    _napi("ifindex", "index", None, (6, 9), "the device this NAPI belongs to", valid=None),
    _napi(
        "irq",
        "irq",
        None,
        (6, 9),
        "the IRQ that schedules this NAPI",
        valid=None,
        absent="none reported: no device IRQ is linked to this NAPI (veth has none)",
    ),
    _napi(
        "pid",
        "pid",
        None,
        (6, 9),
        "the kernel thread that polls it when threaded",
        valid=None,
        absent="none: polled in softirq, not by a kernel thread",
    ),
    _napi(
        "defer-hard-irqs",
        "polls",
        0,
        (6, 13),
        "empty polls before the IRQ is re-enabled (per-NAPI napi_defer_hard_irqs)",
    ),
    _napi(
        "gro-flush-timeout",
        "ns",
        0,
        (6, 13),
        "timer that replaces the IRQ while deferring (per-NAPI gro_flush_timeout)",
    ),
    _napi(
        "irq-suspend-timeout",
        "ns",
        0,
        (6, 13),
        "how long a busy-polling app may keep the IRQ suspended (needs prefer busy poll)",
    ),
    _napi(
        "threaded",
        "mode",
        0,
        (6, 18),
        "0: softirq, 1: kernel thread, 2: busy-poll thread",
        valid=Range(0, 2),
    ),
    Knob(
        "thread-cpus",
        Scope.NAPI,
        "cpu list",
        None,
        (5, 12),
        NapiThreadCpus(),
        "pid",
        "CPUs the NAPI's kernel thread may run on (threaded NAPI): where the poll runs",
        valid=CpuList(),
        group="napi",
        default_note="every CPU",
    ),
)
