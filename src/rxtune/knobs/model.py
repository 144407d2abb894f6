"""What a knob is: data that show, tune, revert, persist and export all walk."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InvalidValue

if TYPE_CHECKING:
    from ..backends.context import ReadContext


class Scope(str, enum.Enum):
    HOST = "host"  # one value for the machine (initial network namespace only)
    NAMESPACE = "namespace"  # one value per network namespace
    DEVICE = "device"
    QUEUE = "queue"
    NAPI = "napi"
    SOCKET = "socket"  # per socket; shown as what a new socket gets
    CPU = "cpu"  # per CPU: how it idles and at what frequency


@dataclass(frozen=True)
class Target:
    """What a knob of a given scope addresses."""

    dev: str | None = None
    queue: int | None = None
    napi: int | None = None
    cpu: int | None = None

    def describe(self) -> str:
        parts = [self.dev or ""]
        if self.queue is not None:
            parts.append(f"rx-{self.queue}")
        if self.napi is not None:
            parts.append(f"napi {self.napi}")
        if self.cpu is not None:
            parts.append(f"cpu{self.cpu}")
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Rendered:
    """A write as other tools spell it: the equivalent shell command, and the line of a
    tuned profile as (section, key, value), or None where tuned cannot express it."""

    shell: str
    tuned: tuple[str, str, str] | None = None


class Backend(Protocol):
    """How a value is read and written, and how other tools would write it. Raises
    Unsupported / NotPermitted with a reason."""

    kind: str

    def render(
        self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None
    ) -> Rendered: ...

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any: ...

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None: ...

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        """Raise Unsupported when a write would be refused (read-only here)."""


_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_HEX = re.compile(r"[0-9a-fA-F]+(,[0-9a-fA-F]+)*", re.ASCII)
_CPU_LIST = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", re.ASCII)


def whole_number(value: Any) -> int | None:
    """An int, or the ASCII digits of one (from a command line); None for anything else:
    no bool, no float (50.9 is not 50), no '５０', no '5_0'."""
    if type(value) is int:
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


@dataclass(frozen=True)
class Range:
    low: int
    high: int
    note: str = ""  # why the kernel's bound is what it is, where it is not obvious

    def check(self, name: str, value: Any) -> int:
        number = whole_number(value)
        if number is None:
            raise InvalidValue(f"{name}={value!r} is not a whole number", self.describe())
        if not self.low <= number <= self.high:
            raise InvalidValue(f"{name}={number} is out of range", self.describe())
        return number

    def describe(self) -> str:
        return f"{self.low}..{self.high}" + (f" ({self.note})" if self.note else "")


_TRUE = {"1", "on", "true", "yes"}
_FALSE = {"0", "off", "false", "no"}


@dataclass(frozen=True)
class Boolean:
    def check(self, name: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = value.strip().lower() if isinstance(value, str) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidValue(f"{name}={value!r} is not on or off", "on, off, 1, 0")

    def describe(self) -> str:
        return "on|off"


@dataclass(frozen=True)
class CpuList:
    """A CPU list as the kernel writes it in *_list files: "0-3,6"."""

    def check(self, name: str, value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not _CPU_LIST.fullmatch(text) or any(
            int(low) > int(high)
            for low, _, high in (part.partition("-") for part in text.split(","))
            if high
        ):
            raise InvalidValue(f"{name}={value!r} is not a CPU list", "e.g. 0-3,6")
        return text

    def describe(self) -> str:
        return "cpu list"

    @staticmethod
    def cpus(text: str) -> frozenset[int]:
        """The CPUs of a list: "0-2,5" -> {0, 1, 2, 5}."""
        found: set[int] = set()
        for part in str(text).split(","):
            low, _, high = part.strip().partition("-")
            found.update(range(int(low), int(high or low) + 1))
        return frozenset(found)

    @staticmethod
    def of(cpus: set[int] | frozenset[int]) -> str:
        """The shortest list: {0, 1, 2, 5} -> "0-2,5"."""
        parts, ordered = [], sorted(cpus)
        while ordered:
            low = high = ordered.pop(0)
            while ordered and ordered[0] == high + 1:
                high = ordered.pop(0)
            parts.append(f"{low}-{high}" if high > low else f"{low}")
        return ",".join(parts)


@dataclass(frozen=True)
class LatencyLimit:
    """A resume latency limit as sysfs takes it: µs, 0 for no limit, "n/a" for none at all."""

    high: int = 2**31 - 1

    def check(self, name: str, value: Any) -> int | str:
        if isinstance(value, str) and value.strip().lower() == "n/a":
            return "n/a"
        number = whole_number(value)
        if number is None or not 0 <= number <= self.high:
            raise InvalidValue(f"{name}={value!r} is not a latency limit", self.describe())
        return number

    def describe(self) -> str:
        return "µs (0: no limit), or n/a (no idle state at all)"


@dataclass(frozen=True)
class Word:
    """A name the kernel offers (a governor): letters, digits and underscores."""

    def check(self, name: str, value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", text, re.ASCII):
            raise InvalidValue(f"{name}={value!r} is not a name", "e.g. performance, powersave")
        return text

    def describe(self) -> str:
        return "name"


@dataclass(frozen=True)
class Names:
    """A set of names, comma-separated ("C6,C3"), or none."""

    def check(self, name: str, value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if text.lower() == "none":
            return "none"
        parts = text.split(",")
        if not all(re.fullmatch(r"[A-Za-z0-9_-]{1,32}", part, re.ASCII) for part in parts):
            raise InvalidValue(f"{name}={value!r} is not a list of names", self.describe())
        return ",".join(sorted(set(parts), key=parts.index))

    def describe(self) -> str:
        return "names, comma-separated (e.g. C6,C3), or none"


@dataclass(frozen=True)
class Hexmask:
    def check(self, name: str, value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not _HEX.fullmatch(text):
            raise InvalidValue(f"{name}={value!r} is not a hex CPU mask", "e.g. 0, 3, ff")
        return text

    def describe(self) -> str:
        return "hex cpu mask"


U32 = Range(0, 2**32 - 1)
BOOLEAN = Boolean()
INT = Range(0, 2**31 - 1)


@dataclass(frozen=True)
class Knob:
    name: str  # the name users already know
    scope: Scope
    unit: str  # "µs", "ns", "packets", "bool", ...
    default: Any  # the kernel's default; None where the device decides
    since: tuple[int, int]  # first kernel version, for the message when missing
    backend: Backend
    where: str  # the path or attribute the backend addresses
    doc: str  # one line: what it does to the receive path
    valid: Range | Boolean | CpuList | Hexmask | LatencyLimit | Word | Names | None = U32
    default_note: str = ""  # where the default depends on something
    group: str = ""  # display group within a scope (sysfs, coalesce, ...)
    cli: str = ""  # the name ethtool's command line uses, where it differs from `where`
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def writable(self) -> bool:
        return self.valid is not None

    @property
    def persist_only(self) -> bool:
        """A value a process must hold (the CPU latency request): never written by a live
        set or tune, only persisted, as a service that holds it."""
        return bool(getattr(self.backend, "persist_only", False))

    def check(self, value: Any) -> Any:
        if self.valid is None:
            raise InvalidValue(f"{self.name} is read-only")
        return self.valid.check(self.name, value)

    def read(self, ctx: ReadContext, target: Target = Target()) -> Any:
        return self.backend.read(ctx, self, target)

    def write(self, ctx: ReadContext, value: Any, target: Target = Target()) -> None:
        self.backend.write(ctx, self, target, self.check(value))

    def render(
        self, value: Any, target: Target = Target(), ctx: ReadContext | None = None
    ) -> Rendered:
        """How other tools write this value; `ctx` where the backend must look something up
        (the IRQ of a queue), Unsupported where it cannot without one."""
        return self.backend.render(self, target, self.check(value), ctx)

    def command(self, value: Any, target: Target = Target(), ctx: ReadContext | None = None) -> str:
        return self.render(value, target, ctx).shell

    def display(self, value: Any) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        return "" if value is None else str(value)
