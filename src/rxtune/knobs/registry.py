"""THE registry: every receive-path knob, declared once. show, tune, revert, persist and
export walk it; nothing lists the knobs a second time."""

from __future__ import annotations

from ..errors import InvalidValue
from . import cpu, device, napi, queue, socket, sysctls
from .model import Knob, Scope

REGISTRY: tuple[Knob, ...] = (
    sysctls.KNOBS + device.KNOBS + queue.KNOBS + napi.KNOBS + socket.KNOBS + cpu.KNOBS
)

_BY_NAME: dict[tuple[Scope, str], Knob] = {(k.scope, k.name): k for k in REGISTRY}
assert len(_BY_NAME) == len(REGISTRY), "a knob is declared twice"


def of_scope(*scopes: Scope) -> tuple[Knob, ...]:
    return tuple(k for k in REGISTRY if k.scope in scopes)


def get(name: str, scope: Scope | None = None) -> Knob:
    """A knob by the name users know ("busy_read" finds net.core.busy_read). A name two
    scopes share (irq, threaded) needs the scope, or resolves in the order queue, device."""
    matches = [
        k
        for k in REGISTRY
        if (k.name == name or (k.group == "sysctl" and k.name.endswith(f".{name}")))
        and (scope is None or k.scope == scope)
    ]
    if len(matches) > 1:
        order = [Scope.QUEUE, Scope.DEVICE, Scope.HOST, Scope.NAMESPACE, Scope.NAPI, Scope.SOCKET,
                 Scope.CPU]  # fmt: skip
        matches.sort(key=lambda k: order.index(k.scope))
    if not matches:
        raise InvalidValue(
            f"unknown knob '{name}'", sorted({k.name for k in REGISTRY if k.writable})
        )
    return matches[0]
