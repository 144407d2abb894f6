"""The host side of a strategy: its commands, from the knob registry (the program's side,
C and Python, is in the strategy table)."""

from __future__ import annotations

from typing import Any

from ..knobs.model import Knob, Scope
from ..knobs.registry import get
from ..strategies import Strategy


def settings(strategy: Strategy) -> list[tuple[Knob, Any]]:
    """The host side as registry knobs and values, which `rxtune.apply` takes as they are
    (host sysctls; NAPI settings, which need the device)."""
    return [(get(name, Scope.HOST), value) for name, value in strategy.sysctls.items()] + [
        (get(name, Scope.NAPI), value) for name, value in strategy.napi.items()
    ]


def commands(strategy: Strategy, dev: str | None) -> list[str]:
    """The host side: sysctls and NAPI settings, as `rxtune set` and as plain commands."""
    out = []
    if strategy.sysctls:
        pairs = " ".join(
            f"{name.split('.')[-1]}={value}" for name, value in strategy.sysctls.items()
        )
        out.append(f"rxtune set {pairs}        # journaled; undo with rxtune revert")
        out += [get(name).command(value) for name, value in strategy.sysctls.items()]
    if strategy.napi:
        target = f"--dev {dev}" if dev else "--dev DEV"
        pairs = " ".join(f"{name}={value}" for name, value in strategy.napi.items())
        out.append(f"rxtune set {pairs} {target}   # per NAPI, over netlink (6.13+)")
    return out


def knob_command(knob: Knob, value: Any, dev: str | None) -> str:
    """One registry knob as `rxtune set`, for the device where it is a device's."""
    host = knob.scope in (Scope.HOST, Scope.NAMESPACE)
    where = "" if host else f" --dev {dev or 'DEV'}"
    return f"rxtune set {knob.name.split('.')[-1]}={knob.display(value)}{where}"
