"""The CPU latency PM QoS request of /dev/cpu_dma_latency: while a process keeps the file
open with a value written, cpuidle governors pick no idle state whose exit latency exceeds
it (0: only polling in idle). The kernel drops the request when the file is closed, also
when the process dies (kill -9 included), so holding it needs no journal: nothing can be
left behind by an exited rxtune."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvalidValue, NotPermitted, Unsupported
from ..knobs.model import Knob, Rendered, Target
from .context import ReadContext

DEVICE = "/dev/cpu_dma_latency"
NO_CONSTRAINT = 2_000_000_000  # what it reads with no limit (PM_QOS_CPU_LATENCY_DEFAULT_VALUE)
MAX_US = NO_CONSTRAINT


def check(us: int) -> int:
    if not 0 <= us <= MAX_US:
        raise InvalidValue(f"--pm-qos {us}", f"0..{MAX_US} µs of CPU wake-up latency")
    return us


def _open(flags: int) -> int:
    try:
        return os.open(DEVICE, flags)
    except FileNotFoundError:
        raise Unsupported(
            f"{DEVICE} does not exist: the kernel has no CPU latency PM QoS"
        ) from None
    except PermissionError:
        raise NotPermitted(f"{DEVICE} opens for root only") from None


@contextmanager
def held(us: int | None) -> Iterator[None]:
    """Hold the CPU latency request at `us` µs while inside (None: do nothing)."""
    if us is None:
        yield
        return
    fd = _open(os.O_RDWR)
    try:
        os.write(fd, struct.pack("=i", check(us)))  # 4 bytes: a binary s32
        yield
    finally:
        os.close(fd)  # the kernel removes the request


def in_force() -> int:
    """The CPU latency limit in force, µs (NO_CONSTRAINT when nobody holds one). Opening the
    file adds a request at the default value, which constrains nothing, until it closes."""
    fd = _open(os.O_RDONLY)
    try:
        return int(struct.unpack("=i", os.read(fd, 4))[0])
    finally:
        os.close(fd)


def holders(proc: str = "/proc") -> list[dict[str, object]]:
    """The processes that hold the file open (pid and command), as far as /proc shows them."""
    found = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with os.scandir(f"{entry.path}/fd") as fds:
                if any(os.readlink(fd.path) == DEVICE for fd in fds):
                    comm = Path(entry.path, "comm").read_text().strip()
                    found.append({"pid": int(entry.name), "command": comm})
        except OSError:
            continue  # gone, or not ours to look at
    return found


HELD_ONLY_OPEN = (
    "a CPU latency request lasts only while a process keeps /dev/cpu_dma_latency open, and "
    "rxtune does not stay running to hold it: `--persist` installs a service that holds it "
    "from boot, `rxtune advise` gives the code to hold it in your receiver, and `rxtune bench "
    "--pm-qos US` measures it"
)


def holder_command(us: int) -> str:
    """A shell line that holds the request at `us` for as long as it runs: the shell opens the
    file, writes the value (hex text, which the kernel parses), and becomes a sleep that
    inherits the open file."""
    return f"exec 3>{DEVICE} && printf %x {us} >&3 && exec sleep infinity"


class CpuLatencyRequest:
    """The system-wide request as a knob: read is the limit in force (the tightest of all
    holders'); a live write is refused (HELD_ONLY_OPEN) and only persisted, as a service."""

    kind = "pm_qos_request"
    persist_only = True

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> int:
        if not ctx.host.in_initial_netns:
            raise Unsupported(f"{knob.name} is host-wide: read it in the initial namespace")
        return in_force()

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: int) -> None:
        raise Unsupported(HELD_ONLY_OPEN)

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        raise Unsupported(HELD_ONLY_OPEN)

    def render(self, knob: Knob, target: Target, value: int, ctx: ReadContext | None) -> Rendered:
        return Rendered(f"({holder_command(value)}) &", ("cpu", "force_latency", str(value)))
