"""Plan: every value validated and every target resolved and read before anything is
written, so a bad name, value or device changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.context import ReadContext
from ..backends.files import online_cpus
from ..backends.netlink_knobs import napi_ids_in
from ..changes.writer import same
from ..errors import InvalidValue, NotPermitted, RxtuneError, Unsupported
from ..host import Host
from ..knobs.model import Knob, Scope, Target


@dataclass(frozen=True)
class Assignment:
    knob: Knob
    value: Any  # checked against knob.valid
    target: Target
    netns: str | None


@dataclass(frozen=True)
class Change:
    assignment: Assignment
    previous: Any
    status: str  # "change", "unchanged", "unsupported", or "persist only" (a held value)
    reason: str = ""
    command: str = ""  # the same write as a shell command, rendered where the knob lives


def _devices_in(netns: str | None) -> list[str]:
    return Host(netns=netns).call(lambda: Host().devices())


def _resolve(
    knob: Knob,
    devices: list[str],
    netns: str | None,
    queue: int | None,
    napi: int | None,
    cpus: list[int] | None = None,
) -> list[Target]:
    if knob.scope == Scope.SOCKET:
        raise InvalidValue(
            f"{knob.name} is a socket option: a program sets it on its socket "
            "(see `rxtune advise`)",
            "host, namespace, device, queue, napi knobs",
        )
    if knob.scope in (Scope.HOST, Scope.NAMESPACE):
        return [Target()]
    if knob.scope == Scope.CPU:
        online = online_cpus(Host())
        for cpu in cpus or []:
            if cpu not in online:
                raise InvalidValue(f"--cpu {cpu}: no such online CPU", [str(c) for c in online])
        return [Target(cpu=c) for c in (cpus or online)]
    if not devices:
        raise InvalidValue(
            f"{knob.name} is a {knob.scope.value} knob: name the device", "--dev DEV"
        )
    present = _devices_in(netns)
    for dev in devices:
        if dev not in present:
            raise InvalidValue(
                f"no network device '{dev}'{' in namespace ' + netns if netns else ''}", present
            )
    if knob.scope == Scope.DEVICE:
        return [Target(dev=d) for d in devices]
    if knob.scope == Scope.QUEUE:

        def queues(dev: str) -> list[int]:
            path = Host().sys / "class/net" / dev / "queues"
            return sorted(int(p.name[3:]) for p in path.glob("rx-*"))

        return [
            Target(dev=d, queue=q)
            for d in devices
            for q in ([queue] if queue is not None else Host(netns=netns).call(queues, d))
        ]

    targets: list[Target] = []
    for dev in devices:
        ids = napi_ids_in(netns, dev)
        if napi is not None:
            if napi not in ids:
                raise InvalidValue(f"{dev} has no NAPI {napi}", [str(i) for i in ids] or ["none"])
            ids = [napi]
        targets.extend(Target(dev=dev, napi=i) for i in ids)
    return targets


def assignments(
    values: list[tuple[Knob, Any]],
    devices: list[str],
    netns: str | None = None,
    queue: int | None = None,
    napi: int | None = None,
    cpus: list[int] | None = None,
) -> list[Assignment]:
    """Checked values with their targets; raises InvalidValue before anything is read."""
    for option, number in (("--queue", queue), ("--napi", napi)):
        if number is not None and not 0 <= number < 2**32:
            raise InvalidValue(f"{option} {number}", "a whole number from 0")
    checked = [(knob, knob.check(value)) for knob, value in values]
    result = []
    for knob, value in checked:
        for target in _resolve(knob, devices, netns, queue, napi, cpus):
            ns = None if knob.scope in (Scope.HOST, Scope.CPU) else netns  # no namespace has them
            result.append(Assignment(knob, value, target, ns))
    return result


def plan(items: list[Assignment]) -> list[Change]:
    """Read what each assignment would replace; unsupported targets are marked, not fatal."""
    changes = []
    for item in items:

        def read(item: Assignment = item) -> tuple[Any, str, str]:
            with ReadContext(Host()) as ctx:
                value = item.knob.read(ctx, item.target)
                command = item.knob.command(item.value, item.target, ctx)
                try:
                    item.knob.backend.check_writable(ctx, item.knob, item.target)
                except Unsupported as error:
                    if not item.knob.persist_only:
                        raise
                    return value, command, error.reason  # held by a service, once persisted
                return value, command, ""

        try:
            previous, command, held = Host(netns=item.netns).call(read)
        except Unsupported as error:
            changes.append(Change(item, None, "unsupported", error.reason))
            continue
        except NotPermitted:
            raise
        except RxtuneError as error:
            changes.append(Change(item, None, "unsupported", str(error)))
            continue
        prefix = f"ip netns exec {item.netns} " if item.netns else ""
        if same(item.knob, previous, item.value):
            status = "unchanged"
        else:
            status = "persist only" if held else "change"
        changes.append(Change(item, previous, status, held, command=prefix + command))
    return changes
