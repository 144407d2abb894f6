"""Who owns a change: a process named by its pid and its start time, so a pid the kernel
has since given to another process is not taken for the owner. And signals: SIGTERM and
SIGHUP unwind like Ctrl-C in the main process only; a forked helper (a Worker, pyroute2's
netns helper) that inherits the handler dies the default way instead of unwinding a copy of
the parent's stack (which would remove the parent's namespaces)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or
    None if there is no such living process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may hold spaces and parentheses: count from the last ')'
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):  # dead, not yet reaped (an init that does not reap)
        return None
    return int(fields[19])


@dataclass(frozen=True)
class ProcessId:
    pid: int
    start: int | None  # None: recorded by an older rxtune, known by pid alone

    @classmethod
    def current(cls) -> ProcessId:
        return cls(os.getpid(), start_time(os.getpid()))

    def alive(self) -> bool:
        now = start_time(self.pid)
        return now is not None and (self.start is None or now == self.start)

    def as_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_dict(cls, data: Any) -> ProcessId:
        if not (
            isinstance(data, dict)
            and type(data.get("pid")) is int
            and (data.get("start") is None or type(data.get("start")) is int)
        ):
            raise ValueError(f"not a process id: {data!r}")
        return cls(data["pid"], data["start"])


def unwind_on_termination() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt in this process, so its `finally` blocks
    restore host settings and remove namespaces; in a forked child they kill as usual."""
    main = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != main:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
