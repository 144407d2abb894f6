"""Write one knob and read it back, inside the namespace the knob lives in."""

from __future__ import annotations

from typing import Any

from ..backends.context import ReadContext
from ..errors import VerifyFailed
from ..host import Host
from ..knobs.model import CpuList, Knob, Target


def read_value(host: Host, knob: Knob, target: Target) -> Any:
    def _read() -> Any:
        with ReadContext(host) as ctx:
            return knob.read(ctx, target)

    return host.call(_read)


def write_verified(host: Host, knob: Knob, target: Target, value: Any) -> Any:
    """Write `value` (checked against knob.valid), read it back, return what was there
    before. Raises VerifyFailed when the kernel kept another value."""
    wanted = knob.check(value)

    def _write() -> Any:
        with ReadContext(host) as ctx:
            previous = knob.read(ctx, target)
            knob.write(ctx, wanted, target)
            ctx.forget()
            now = knob.read(ctx, target)
        if not same(knob, now, wanted):
            raise VerifyFailed(
                f"{knob.name} on {target.describe() or 'host'}: wrote {wanted}, "
                f"kernel reports {now}"
            )
        return previous

    return host.call(_write)


def same(knob: Knob, a: Any, b: Any) -> bool:
    """Equal as the kernel means it: on == 1, "0,3" == "3" for a CPU mask."""
    return _normalize(knob, a) == _normalize(knob, b)


def _normalize(knob: Knob, value: Any) -> Any:
    if knob.unit == "bool":
        return bool(value)
    if knob.unit == "hex cpu mask":
        return int(str(value).replace(",", ""), 16)
    if knob.unit == "cpu list":
        return CpuList.cpus(value)
    return value
