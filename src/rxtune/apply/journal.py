"""The journal of host changes: written (and fsynced) before each write, so that whatever
rxtune changed can be put back, also after kill -9: the next run replays it.

Two kinds of record live side by side under the state directory:
- transient.json: changes a bench run makes for its duration; any later run restores them
  if their owner process is gone;
- tune.json: changes `rxtune tune/set` leaves applied on purpose; `rxtune revert` restores.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import Busy

DEFAULT_STATE_DIR = Path("/var/lib/rxtune")


def state_dir() -> Path:
    path = Path(os.environ.get("RXTUNE_STATE_DIR", DEFAULT_STATE_DIR))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Entry:
    knob: str
    scope: str
    dev: str | None
    queue: int | None
    napi: int | None
    netns: str | None
    previous: Any
    new: Any


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    """One JSON file of entries plus its owner's pid; rewritten atomically on each change."""

    def __init__(self, name: str, directory: Path | None = None):
        self.path = (directory or state_dir()) / name

    def load(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None

    def entries(self) -> list[Entry]:
        data = self.load()
        return [Entry(**e) for e in data["entries"]] if data else []

    def meta(self, key: str) -> Any:
        data = self.load()
        return data.get(key) if data else None

    def owner(self) -> int | None:
        data = self.load()
        return data["pid"] if data else None

    def save(self, entries: list[Entry], **meta: Any) -> None:
        data = {"pid": os.getpid(), "entries": [asdict(e) for e in entries], **meta}
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@contextmanager
def host_lock(what: str) -> Iterator[None]:
    """One rxtune at a time may change host state; a second is refused, not queued."""
    directory = state_dir()
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = (directory / "lock").read_text().strip() or "another rxtune"
            raise Busy(f"{what}: {holder} is changing this host now; wait for it to end "
                       f"(lock {directory / 'lock'})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"rxtune pid {os.getpid()} ({what})".encode())
        yield
    finally:
        os.close(fd)
