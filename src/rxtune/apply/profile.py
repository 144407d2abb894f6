"""Profiles: small TOML files a user can copy and edit. Sections name scopes (host, device,
queue, napi); keys are knob names from the registry; `kernel_defaults = true` stands for
every knob whose kernel default is known."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends.context import ReadContext
from ..backends.netlink_knobs import napi_ids
from ..errors import InvalidValue, RxtuneError
from ..host import Host
from ..knobs.model import Knob, Scope, Target
from ..knobs.registry import REGISTRY, get

PROFILES = Path(__file__).parent / "profiles"
SECTIONS = {
    "host": (Scope.HOST, Scope.NAMESPACE),
    "device": (Scope.DEVICE,),
    "queue": (Scope.QUEUE,),
    "napi": (Scope.NAPI,),
    "cpu": (Scope.CPU,),
}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    values: tuple[tuple[Knob, Any], ...]

    def for_devices(self, devices: list[str]) -> tuple[list[tuple[Knob, Any]], list[str]]:
        """The values that apply with these devices (host knobs always, the others only
        with a device), and the names of those skipped; refused if nothing applies."""
        host = (Scope.HOST, Scope.NAMESPACE, Scope.CPU)  # no device needed
        values = [(k, v) for k, v in self.values if devices or k.scope in host]
        skipped = sorted({k.name for k, _ in self.values if not devices and k.scope not in host})
        if not values:
            raise InvalidValue(
                f"profile {self.name} sets only device knobs "
                f"({', '.join(skipped)}): name the device",
                "--dev DEV",
            )
        return values, skipped


def builtin() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.toml"))


def _path(name: str) -> Path:
    if name.endswith(".toml") or "/" in name:
        return Path(name)
    if name not in builtin():
        raise InvalidValue(f"no profile '{name}'", builtin() + ["./FILE.toml"])
    return PROFILES / f"{name}.toml"


def _knob(section: str, name: str) -> Knob:
    for scope in SECTIONS[section]:
        try:
            return get(name, scope)
        except InvalidValue:
            continue
    names = sorted(k.name for k in REGISTRY if k.scope in SECTIONS[section] and k.writable)
    raise InvalidValue(f"[{section}] has no knob '{name}'", names)


def load(name: str) -> Profile:
    path = _path(name)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidValue(f"no profile file {path}", builtin() + ["./FILE.toml"]) from None
    except OSError as error:
        raise InvalidValue(
            f"cannot read profile {path}: {error.strerror}", builtin() + ["./FILE.toml"]
        ) from None
    except UnicodeDecodeError:
        raise InvalidValue(f"{path} is not a text file", "a TOML profile") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidValue(f"{path} is not valid TOML: {error}", "a TOML profile") from None
    values: list[tuple[Knob, Any]] = []
    defaults = data.pop("kernel_defaults", False)
    if not isinstance(defaults, bool):
        raise InvalidValue(f"{path}: kernel_defaults = {defaults!r}", "true or false")
    if defaults:
        values.extend(
            (k, k.default)
            for k in REGISTRY
            if k.writable
            and not k.persist_only  # the default is that nobody holds it: nothing to write
            and k.default is not None
            and k.scope in (Scope.HOST, Scope.NAMESPACE, Scope.DEVICE)
        )
    description = data.pop("description", "")
    if not isinstance(description, str):
        raise InvalidValue(f"{path}: description = {description!r}", "a string")
    for section, table in data.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise InvalidValue(
                f"{path}: unknown section [{section}]",
                [*SECTIONS, "description", "kernel_defaults"],
            )
        for key, value in table.items():
            knob = _knob(section, key)
            knob.check(value)  # refuse the whole profile before anything is read or written
            values.append((knob, value))
    if not values:
        raise InvalidValue(
            f"{path} sets no knob",
            "[host], [device], [queue] or [napi] tables of knob = value, or kernel_defaults = true",
        )
    return Profile(path.stem, description.strip(), tuple(values))


def render(description: str, values: list[tuple[Knob, Any]]) -> str:
    """A profile's TOML text, which load() reads back as these values."""
    lines = [f"description = {_toml(description)}"]
    for section, scopes in SECTIONS.items():
        mine = [(k, v) for k, v in values if k.scope in scopes]
        if mine:
            lines += ["", f"[{section}]"] + [f"{_toml(k.name)} = {_toml(v)}" for k, v in mine]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{text}"'


HOST_BUSY_POLL = ("net.core.busy_read", "net.core.busy_poll")


def busy_poll_pitfalls(
    values: list[tuple[Knob, Any]], devices: list[str], netns: str | None = None
) -> list[str]:
    """What host-wide busy polling (busy_read/busy_poll > 0 in `values`, as the latency
    profile and tuned's network-latency set them) meets on these devices, or on every
    device of the namespace but lo: each pitfall with its consequence and its fix, to say
    before anything changes."""
    if not any(k.name in HOST_BUSY_POLL and v for k, v in values):
        return []

    def read() -> list[str]:
        found = []
        host = Host()
        gro_forwarding = get("rx-udp-gro-forwarding", Scope.DEVICE)
        with ReadContext(host) as ctx:
            for dev in devices or [d for d in host.devices() if d != "lo"]:
                try:
                    forwarding = gro_forwarding.read(ctx, Target(dev=dev))
                    napis = napi_ids(ctx, dev)
                except RxtuneError:
                    continue  # a device that cannot say: nothing to claim about it
                if forwarding:
                    found.append(
                        f"{dev}: rx-udp-gro-forwarding is on, so GRO holds each UDP datagram "
                        "until the NAPI poll completes, and a busy-polling reader skips that "
                        "completion: every datagram waits out the busy-poll window, and "
                        "latency grows with busy_read/busy_poll instead of falling. Fix: "
                        f"`ethtool -K {dev} rx-udp-gro-forwarding off` "
                        f"(`rxtune set rx-udp-gro-forwarding=off --dev {dev}`)"
                    )
                if not napis:
                    found.append(
                        f"{dev} has no NAPI instance (netdev napi-get lists none): its packets "
                        "reach sockets with NAPI id 0, so busy polling has nothing to poll and "
                        "its readers only spin. Fix: give it a NAPI path (on veth, "
                        f"`ethtool -K {dev} gro on` or an XDP program; a NIC's driver has one "
                        "NAPI per queue), or do not busy poll for this device's traffic"
                    )
        return found

    return Host(netns=netns).call(read)
