"""One lock per host: held by every command that changes anything (bench included), in
/run whatever RXTUNE_STATE_DIR says, so two runs with different state directories cannot
both change busy_read. Re-entrant within a process; forked workers share it."""

from __future__ import annotations

import fcntl
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import Busy, InvalidValue, NotPermitted
from .process import ProcessId

LOCK_PATH = Path("/run/rxtune/lock")
POLL_S = 0.05
_held: dict[int, int] = {}  # pid -> depth: a process takes the lock once, however nested


def check_wait(seconds: float) -> float:
    if not (math.isfinite(seconds) and 0 <= seconds <= 86400):
        raise InvalidValue(f"--wait {seconds}", "a number of seconds from 0 to 86400")
    return seconds


def holder() -> str:
    """Who holds the lock, as its holder wrote it ("rxtune bench, pid 123")."""
    try:
        return LOCK_PATH.read_text().strip() or "another rxtune"
    except OSError:
        return "another rxtune"


@contextmanager
def host_lock(command: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the host-wide lock for `command`. Another holder: wait up to `wait` seconds,
    then raise Busy naming it."""
    pid = os.getpid()
    if _held.get(pid):
        _held[pid] += 1
        try:
            yield
        finally:
            _held[pid] -= 1
        return
    check_wait(wait)
    try:
        LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        raise NotPermitted(
            f"{command} changes the host and needs root (the lock {LOCK_PATH} is not writable)"
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(
                        f"{command}: {holder()} is changing this host now; nothing "
                        f"changed (wait for it with --wait SECONDS; lock {LOCK_PATH})"
                    ) from None
                time.sleep(POLL_S)
        me = ProcessId.current()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{command}, pid {me.pid}".encode(), 0)
        _held[pid] = 1
        try:
            yield
        finally:
            del _held[pid]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
