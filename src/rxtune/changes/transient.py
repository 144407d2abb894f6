"""Changes that last as long as a run: journaled before each write, restored in reverse on
exit, exception or Ctrl-C, and by the next run after kill -9 (changes.recover)."""

from __future__ import annotations

import secrets
from typing import Any

from ..errors import RxtuneError
from ..host import Host
from ..knobs.model import Knob, Target
from .journal import Journal, Record
from .restore import revert
from .writer import read_value, write_verified

TRANSIENT = "transient.journal"


class TransientChanges:
    """with TransientChanges("rxtune bench") as changes: changes.set(knob, value) ...
    restored on exit. The caller holds the host lock."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.journal = Journal(TRANSIENT)
        self.group = secrets.token_hex(6)
        self.records: list[Record] = []

    def set(
        self, knob: Knob, value: Any, target: Target = Target(), netns: str | None = None
    ) -> None:
        host = Host(netns=netns)
        previous = read_value(host, knob, target)
        record = Record(
            knob.name,
            knob.scope.value,
            target.dev,
            target.queue,
            target.napi,
            netns,
            previous,
            knob.check(value),
            self.group,
            cpu=target.cpu,
        )
        self.records.append(record)
        # before the write, announced: a kill -9 during it is replayed by the next rxtune
        self.journal.write(self.records, command=self.command, announce=True)
        write_verified(host, knob, target, value)

    def mark(self) -> int:
        """A point to restore back to with restore(mark), keeping older changes."""
        return len(self.records)

    def restore(self, mark: int = 0) -> None:
        ours = set(map(id, self.records[mark:]))
        report = revert(self.records, lambda r: id(r) in ours)
        # a value someone else set during the run is theirs now: not ours to restore later
        owed = [r for r in report.remaining if id(r) in ours and r.key not in report.left_keys]
        self.records = self.records[:mark] + owed
        if self.records:
            self.journal.write(self.records, command=self.command, announce=True)
        else:
            self.journal.remove()
        problems = report.failed + report.left
        if problems:
            raise RxtuneError(
                "could not restore: "
                + "; ".join(problems)
                + (f" (journal {self.journal.path}; the next rxtune retries)" if owed else "")
            )

    def __enter__(self) -> TransientChanges:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
