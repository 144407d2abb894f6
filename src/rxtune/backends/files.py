"""Knobs that are files: sysctls under /proc/sys, device and queue attributes under
/sys/class/net, IRQ affinity under /proc/irq."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidValue, NotPermitted, RxtuneError, Unsupported
from ..host import Host
from ..knobs.model import Knob, Rendered, Scope, Target
from .context import ReadContext
from .netlink_knobs import QueueAttr


def _read_file(path: Path, knob: Knob) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise Unsupported(
            f"{path} does not exist (needs kernel {knob.since[0]}.{knob.since[1]}+"
            f" or a device that has it)"
        ) from None
    except PermissionError:
        raise NotPermitted(f"{path} is not readable by this user") from None
    except OSError as error:
        raise Unsupported(f"{path}: {error.strerror}") from None


def _write_file(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except FileNotFoundError:
        raise Unsupported(f"{path} does not exist") from None
    except PermissionError:
        raise NotPermitted(f"writing {path} needs root") from None
    except OSError as error:
        if error.errno == errno.EOPNOTSUPP:
            raise Unsupported(f"{path}: {error.strerror}") from None
        raise RxtuneError(f"writing {text!r} to {path}: {error.strerror}") from None


def _check_writable(path: Path) -> None:
    # as root, a file it cannot write is read-only for everyone; another user's plan (a
    # dry run) cannot tell, and a real run refuses it before anything
    if path.exists() and os.geteuid() == 0 and not os.access(path, os.W_OK):
        raise Unsupported(
            f"{path} is read-only here (in a network namespace other than the "
            "initial one, a host-wide value)"
        )


def _parse(knob: Knob, text: str) -> Any:
    if knob.unit == "bool":
        return text not in ("0", "")
    if knob.unit in ("cpu list", "hex cpu mask"):
        return text
    return int(text)


def _render(value: Any) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def _echo(path: str, value: Any) -> Rendered:
    return Rendered(f"echo {_render(value)} > {path}", ("sysfs", path, _render(value)))


class Sysctl:
    kind = "sysctl"

    def path(self, ctx: ReadContext, knob: Knob) -> Path:
        return ctx.host.proc / "sys" / knob.where.replace(".", "/")

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        path = self.path(ctx, knob)
        if not path.exists() and knob.scope == Scope.HOST and not ctx.host.in_initial_netns:
            raise Unsupported(f"{knob.name} exists only in the initial network namespace")
        return _parse(knob, _read_file(path, knob))

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        _write_file(self.path(ctx, knob), _render(value))

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        _check_writable(self.path(ctx, knob))

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        text = _render(value)
        return Rendered(f"sysctl -w {knob.name}={text}", ("sysctl", knob.name, text))


class DeviceFile:
    """/sys/class/net/{dev}/{where}; {queue} in `where` for per-queue files."""

    kind = "sysfs"

    def path(self, ctx: ReadContext, knob: Knob, target: Target) -> Path:
        return ctx.host.sys / "class/net" / str(target.dev) / knob.where.format(queue=target.queue)

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        return _parse(knob, _read_file(self.path(ctx, knob, target), knob))

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        _write_file(self.path(ctx, knob, target), _render(value))

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        _check_writable(self.path(ctx, knob, target))

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        return _echo(f"/sys/class/net/{target.dev}/{knob.where.format(queue=target.queue)}", value)


def online_cpus(host: Host) -> list[int]:
    """The online CPUs, from /sys/devices/system/cpu/online ("0-3,6")."""
    text = (host.sys / "devices/system/cpu/online").read_text().strip()
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


class CpuFile:
    """/sys/devices/system/cpu/cpu{N}/{where}: how a CPU idles and at what frequency."""

    kind = "sysfs"

    def path(self, ctx: ReadContext, knob: Knob, target: Target) -> Path:
        return ctx.host.sys / f"devices/system/cpu/cpu{target.cpu}" / knob.where

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        text = _read_file(self.path(ctx, knob, target), knob)
        return text if knob.unit == "name" or not text.isdigit() else int(text)  # n/a stays

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        _write_file(self.path(ctx, knob, target), _render(value))

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        _check_writable(self.path(ctx, knob, target))

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        return _echo(f"/sys/devices/system/cpu/cpu{target.cpu}/{knob.where}", value)


class CpuIdleStates:
    """Which cpuidle states a CPU may not enter: each stateN/disable under
    /sys/devices/system/cpu/cpu{N}/cpuidle, as the names of the disabled states."""

    kind = "sysfs"

    def _states(self, ctx: ReadContext, target: Target) -> dict[str, Path]:
        base = ctx.host.sys / f"devices/system/cpu/cpu{target.cpu}/cpuidle"
        states = {
            (state / "name").read_text().strip(): state
            for state in sorted(base.glob("state[0-9]*"))
        }
        if not states:
            driver = ctx.host.sys / "devices/system/cpu/cpuidle/current_driver"
            name = driver.read_text().strip() if driver.exists() else "absent"
            raise Unsupported(f"cpu{target.cpu} has no cpuidle states (cpuidle driver {name})")
        return states

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        states = self._states(ctx, target)
        off = [name for name, path in states.items() if _read_file(path / "disable", knob) == "1"]
        return ",".join(off) or "none"

    def _wanted(self, states: dict[str, Path], value: str) -> dict[str, str]:
        names = [] if value == "none" else value.split(",")
        unknown = [n for n in names if n not in states]
        if unknown:
            raise InvalidValue(f"no idle state {', '.join(unknown)}", list(states))
        return {name: "1" if name in names else "0" for name in states}

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        states = self._states(ctx, target)
        for name, flag in self._wanted(states, value).items():
            _write_file(states[name] / "disable", flag)

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        for path in self._states(ctx, target).values():
            _check_writable(path / "disable")

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        # by name, as the host lists its states: the same line works wherever they differ
        off = "|".join(value.split(",")) if value != "none" else "''"
        base = f"/sys/devices/system/cpu/cpu{target.cpu}/cpuidle"
        return Rendered(
            f'for s in {base}/state*; do case "$(cat $s/name)" in {off}) echo 1;; '
            f"*) echo 0;; esac > $s/disable; done"
        )


class IrqAffinity:
    """/proc/irq/N/smp_affinity_list of the IRQ that serves a queue's NAPI."""

    kind = "procfs"

    def _irq(self, ctx: ReadContext, target: Target) -> int:
        irq = QueueAttr().irq(ctx, target)
        if not irq:
            raise Unsupported(
                f"napi-get reports no IRQ for the NAPI of {target.describe()} "
                "(software devices such as veth have none)"
            )
        return irq

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        return _read_file(ctx.host.proc / "irq" / str(self._irq(ctx, target)) / knob.where, knob)

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        _write_file(ctx.host.proc / "irq" / str(self._irq(ctx, target)) / knob.where, str(value))

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        _check_writable(ctx.host.proc / "irq" / str(self._irq(ctx, target)) / knob.where)

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        if ctx is None:
            raise Unsupported(
                f"{knob.name}: the IRQ of {target.describe()} is known only on "
                "the host, and changes at reboot"
            )
        return Rendered(f"echo {value} > /proc/irq/{self._irq(ctx, target)}/{knob.where}")
