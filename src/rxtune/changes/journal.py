"""The journal of host changes: one record per write, written (and fsynced) before the
write, so whatever rxtune changed can be put back, also after kill -9.

A journal is JSON lines: a header (format, owner, meta), then one record a line, each line
with a checksum of its own. It is rewritten whole and atomically, so a crash leaves the old
or the new file; damage from outside (truncation, an editor, a disk) costs only the lines it
touches, and `read` names them beside what it could prove.

Journals with pending work (a bench's transient changes, a change awaiting confirmation)
are announced under /run/rxtune/journals, so the next rxtune replays them whatever its
state directory."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotPermitted, RxtuneError
from ..knobs.model import Knob, Scope, Target
from ..knobs.registry import get
from .process import ProcessId

FORMAT = "rxtune.journal/1"
DEFAULT_STATE_DIR = Path("/var/lib/rxtune")
ANNOUNCED = Path("/run/rxtune/journals")


def state_dir() -> Path:
    return Path(os.environ.get("RXTUNE_STATE_DIR") or DEFAULT_STATE_DIR)


def knob_of(name: str, scope: str) -> Knob:
    return get(name, Scope(scope))


@dataclass(frozen=True)
class Record:
    """One write: the value found before it and the value written, and the run (group)
    that wrote it, so a confirmation timer reverts its own changes and no others."""

    knob: str
    scope: str
    dev: str | None
    queue: int | None
    napi: int | None
    netns: str | None
    previous: Any
    new: Any
    group: str
    cpu: int | None = None  # last: journals written before per-CPU knobs have no cpu

    @property
    def key(self) -> tuple:
        return (self.knob, self.scope, self.dev, self.queue, self.napi, self.netns, self.cpu)

    @property
    def target(self) -> Target:
        return Target(dev=self.dev, queue=self.queue, napi=self.napi, cpu=self.cpu)

    def describe(self) -> str:
        where = self.target.describe()
        return (
            self.knob
            + (f" on {where}" if where else "")
            + (f" (namespace {self.netns})" if self.netns else "")
        )

    def knob_object(self) -> Knob:
        return knob_of(self.knob, self.scope)

    @classmethod
    def from_dict(cls, data: Any) -> Record:
        """A record as read back, refused unless every field has its type and both values
        are valid for the knob (a garbled value is never written back)."""
        fields = set(cls.__dataclass_fields__)
        if not isinstance(data, dict) or not fields - {"cpu"} <= set(data) <= fields:
            raise ValueError("not a journal record")
        for name in ("dev", "netns"):
            if data[name] is not None and not isinstance(data[name], str):
                raise ValueError(f"{name} is not a name")
        for name in ("queue", "napi", "cpu"):
            if data.get(name) is not None and type(data[name]) is not int:
                raise ValueError(f"{name} is not a number")
        if not isinstance(data["group"], str) or not isinstance(data["knob"], str):
            raise ValueError("knob or group is not a name")
        try:
            knob = knob_of(data["knob"], data["scope"])
        except (ValueError, RxtuneError) as error:
            raise ValueError(f"unknown knob or scope: {error}") from None
        for name in ("previous", "new"):
            try:
                knob.check(data[name])
            except RxtuneError as error:
                raise ValueError(f"{name} value: {error}") from None
        return cls(**data)


def _digest(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _line(kind: str, payload: Any) -> str:
    return json.dumps({kind: payload, "sum": _digest(payload)}, sort_keys=True)


def _unwrap(kind: str, text: str) -> Any:
    data = json.loads(text)
    if not isinstance(data, dict) or set(data) != {kind, "sum"}:
        raise ValueError(f"not a {kind} line")
    if data["sum"] != _digest(data[kind]):
        raise ValueError("checksum does not match: the line was changed or cut")
    return data[kind]


@dataclass
class Contents:
    """What a journal holds: what could be proved, and what could not (`damaged`)."""

    exists: bool = False
    owner: ProcessId | None = None
    command: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)


class Journal:
    def __init__(self, name: str, directory: Path | None = None):
        self.path = (directory or state_dir()) / name

    def read(self) -> Contents:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Contents()
        except PermissionError:
            raise NotPermitted(f"reading rxtune's journal {self.path} needs root") from None
        except OSError as error:
            return Contents(True, damaged=[f"cannot read it: {error.strerror}"])
        contents = Contents(True)
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if not lines:
            contents.damaged.append("the file is empty")
            return contents
        for number, line in enumerate(lines, 1):
            try:
                text = line.decode("utf-8")
                if number == 1:
                    header = _unwrap("journal", text)
                    if not isinstance(header, dict) or header.get("format") != FORMAT:
                        raise ValueError(f"not a {FORMAT} header")
                    contents.owner = ProcessId.from_dict(header["owner"])
                    contents.command = str(header.get("command", ""))
                    if not isinstance(header.get("meta"), dict):
                        raise ValueError("meta is not a table")
                    contents.meta = header["meta"]
                else:
                    contents.records.append(Record.from_dict(_unwrap("record", text)))
            except (ValueError, KeyError, UnicodeDecodeError) as error:
                reason = "not UTF-8" if isinstance(error, UnicodeDecodeError) else str(error)
                contents.damaged.append(f"line {number}: {reason}")
        return contents

    def write(
        self,
        records: list[Record],
        meta: dict[str, Any] | None = None,
        command: str = "",
        announce: bool = False,
    ) -> None:
        """Replace the journal atomically (temporary file, fsync, rename, fsync of the
        directory); `announce` makes it visible to the next rxtune whatever its state
        directory."""
        header = {
            "format": FORMAT,
            "owner": ProcessId.current().as_dict(),
            "command": command,
            "meta": meta or {},
        }
        text = (
            "\n".join([_line("journal", header)] + [_line("record", asdict(r)) for r in records])
            + "\n"
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as error:
            raise RxtuneError(
                f"cannot write the journal {self.path}: {error.strerror} "
                "(set RXTUNE_STATE_DIR to a writable directory); nothing "
                "changed"
            ) from None
        (self._announce if announce else self._unannounce)()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self._unannounce()

    def set_aside(self) -> Path:
        """Keep a damaged journal for the user to read, out of the way of the next run."""
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(self.path, aside)
        self._unannounce()
        return aside

    def _link(self) -> Path:
        return ANNOUNCED / hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:16]

    def _announce(self) -> None:
        link = self._link()
        if link.is_symlink() and os.readlink(link) == str(self.path.resolve()):
            return
        ANNOUNCED.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(self.path.resolve())

    def _unannounce(self) -> None:
        try:
            self._link().unlink(missing_ok=True)
        except OSError:
            pass


def announced() -> list[Journal]:
    """Journals with pending work, wherever their state directory is; links whose journal
    is gone are dropped."""
    found = []
    for link in sorted(ANNOUNCED.glob("*")) if ANNOUNCED.is_dir() else []:
        target = Path(os.readlink(link)) if link.is_symlink() else None
        if target is None or not target.exists():
            link.unlink(missing_ok=True)
            continue
        found.append(Journal(target.name, target.parent))
    return found
