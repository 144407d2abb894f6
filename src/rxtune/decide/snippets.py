"""The host side of a strategy: its commands, from the knob registry (the program's side,
C and Python, is in the strategy table)."""

from __future__ import annotations

from ..knobs.registry import get
from ..strategies import Strategy


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
