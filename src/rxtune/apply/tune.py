"""Apply a plan all or nothing, journaled; revert exactly; confirm-or-revert for remote hosts."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RxtuneError
from ..host import Host
from .journal import Entry, Journal, host_lock, state_dir
from .plan import Change
from .transient import restore
from .writer import write_verified

TUNE = "tune.json"


class ApplyFailed(RxtuneError):
    """A write failed; everything this run wrote was put back."""


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: str        # applied, unchanged, unsupported
    detail: str = ""


def _entry(change: Change) -> Entry:
    a = change.assignment
    return Entry(a.knob.name, a.knob.scope.value, a.target.dev, a.target.queue, a.target.napi,
                 a.netns, change.previous, a.value)


def _key(entry: Entry) -> tuple:
    return (entry.knob, entry.scope, entry.dev, entry.queue, entry.napi, entry.netns)


def apply(changes: list[Change], persist_root: Path | None = None) -> list[Outcome]:
    """Write every "change", reading each back. On a failure, restore what this run wrote
    (newest first) and raise ApplyFailed. The journal keeps, per knob, the value found
    before the first rxtune tune, so `revert` goes back to the host as it was."""
    with host_lock("rxtune tune"):
        journal = Journal(TUNE)
        entries = journal.entries()
        known = {_key(e) for e in entries}
        meta = {"persist_root": str(persist_root) if persist_root else journal.meta("persist_root")}
        done: list[Entry] = []
        added: list[Entry] = []
        for change in changes:
            if change.status != "change":
                continue
            entry = _entry(change)
            if _key(entry) not in known:
                entries.append(entry)
                added.append(entry)
                known.add(_key(entry))
                journal.save(entries, **meta)  # before the write: kill -9 during it is covered
            a = change.assignment
            try:
                write_verified(Host(netns=a.netns), a.knob, a.target, a.value)
            except RxtuneError as error:
                failures = restore(done)
                entries = [e for e in entries if e not in added]
                journal.save(entries, **meta) if entries else journal.remove()
                undo = ("everything written was restored" if not failures
                        else "could not restore: " + "; ".join(failures))
                raise ApplyFailed(f"{a.knob.name} {a.target.describe() or ''}: {error}; "
                                  f"{undo}") from None
            done.append(entry)
        return [Outcome(c, "applied" if c.status == "change" else c.status, c.reason)
                for c in changes]


def revert() -> list[str]:
    """Put back every value the journal holds, newest first; returns what was restored."""
    with host_lock("rxtune revert"):
        journal = Journal(TUNE)
        entries = journal.entries()
        if not entries:
            return []
        failures = restore(entries)
        if failures:
            raise RxtuneError("could not restore: " + "; ".join(failures)
                              + f" (journal kept: {journal.path})")
        journal.remove()
        return [f"{e.knob}{' ' + e.dev if e.dev else ''}"
                f"{' napi ' + str(e.napi) if e.napi is not None else ''}"
                f"{' rx-' + str(e.queue) if e.queue is not None else ''}={e.previous}"
                for e in entries]


def persist_root_of_journal() -> str | None:
    return Journal(TUNE).meta("persist_root")


def arm_confirmation(seconds: float) -> str:
    """Start a watchdog that reverts in `seconds` unless `rxtune confirm` comes first."""
    journal = Journal(TUNE)
    token = secrets.token_hex(8)
    data = journal.load() or {"entries": []}
    journal.save(journal.entries(), persist_root=data.get("persist_root"),
                 confirm={"token": token, "deadline": time.time() + seconds})
    subprocess.Popen([sys.executable, "-m", "rxtune.apply.watchdog", token, str(seconds)],
                     start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, env={**os.environ, "RXTUNE_STATE_DIR": str(state_dir())})
    return token


def confirm() -> bool:
    """Keep the applied tune: the watchdog finds no pending token and leaves it."""
    journal = Journal(TUNE)
    data = journal.load()
    if not data or not data.get("confirm"):
        return False
    journal.save(journal.entries(), persist_root=data.get("persist_root"))
    return True


def pending_token() -> Any:
    confirm_meta = Journal(TUNE).meta("confirm")
    return confirm_meta["token"] if confirm_meta else None

