"""Changes that last as long as a run: journaled before each write, restored in reverse on
exit, exception or Ctrl-C, and by the next run after kill -9."""
from __future__ import annotations

import os
from typing import Any

from ..errors import Busy, RxtuneError
from ..host import Host
from ..knobs.model import Knob, Target
from .journal import Entry, Journal, pid_alive
from .writer import knob_of, read_value, write_verified

TRANSIENT = "transient.json"


def restore(entries: list[Entry]) -> list[str]:
    """Put every entry's previous value back, newest first; returns the failures."""
    failures = []
    for entry in reversed(entries):
        target = Target(dev=entry.dev, queue=entry.queue, napi=entry.napi)
        try:
            write_verified(Host(netns=entry.netns), knob_of(entry.knob, entry.scope), target,
                           entry.previous)
        except RxtuneError as error:
            if entry.netns and not Host.netns_exists(entry.netns):
                continue  # its namespace is gone, and the value with it
            failures.append(f"{entry.knob} {target.describe()}: {error}")
    return failures


def recover_leftovers() -> list[str]:
    """Restore what a killed run left changed. Returns what was restored, for the user."""
    journal = Journal(TRANSIENT)
    owner = journal.owner()
    if owner is None:
        return []
    if owner != os.getpid() and pid_alive(owner):
        raise Busy(f"rxtune pid {owner} is running a benchmark that changed host settings")
    entries = journal.entries()
    failures = restore(entries)
    if failures:
        raise RxtuneError("could not restore what an earlier run changed: " + "; ".join(failures)
                          + f" (journal {journal.path})")
    journal.remove()
    return [f"{e.knob}={e.previous}" for e in entries]


class TransientChanges:
    """with TransientChanges() as changes: changes.set(knob, value) ... restored on exit."""

    def __init__(self) -> None:
        self.journal = Journal(TRANSIENT)
        self.entries: list[Entry] = []

    def set(self, knob: Knob, value: Any, target: Target = Target(), netns: str | None = None
            ) -> None:
        host = Host(netns=netns)
        previous = read_value(host, knob, target)
        entry = Entry(knob.name, knob.scope.value, target.dev, target.queue, target.napi, netns,
                      previous, knob.check(value))
        self.entries.append(entry)
        self.journal.save(self.entries)  # before the write: a crash during it is covered
        write_verified(host, knob, target, value)

    def mark(self) -> int:
        """A point to restore back to with restore(mark), keeping older changes."""
        return len(self.entries)

    def restore(self, mark: int = 0) -> None:
        failures = restore(self.entries[mark:])
        if failures:
            raise RxtuneError("could not restore: " + "; ".join(failures)
                              + f" (journal {self.journal.path}; the next run retries)")
        del self.entries[mark:]
        if self.entries:
            self.journal.save(self.entries)
        else:
            self.journal.remove()

    def __enter__(self) -> "TransientChanges":
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
