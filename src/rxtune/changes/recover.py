"""What every changing command replays first, under the host lock: the changes of a bench
that was killed (its transient journal), and changes awaiting a confirmation whose deadline
has passed or whose timer is gone (fail closed). Each says what it did."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

from ..errors import Busy, RxtuneError
from .journal import Contents, Journal, announced
from .process import ProcessId
from .restore import Report, revert
from .transient import TRANSIENT

TUNE_JOURNAL = "tune.journal"
KEEP_EXPIRED = 10  # outcomes of expired confirmations kept for `rxtune confirm` to report


@dataclass(frozen=True)
class Confirmation:
    """A set/tune applied with --confirm-within: its group of records, the deadline (wall
    clock, seconds since the epoch) and what fires at it: a detached watchdog process, or
    a systemd transient timer unit."""

    group: str
    deadline: float
    command: str
    watchdog: ProcessId | None = None
    unit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "deadline": self.deadline,
            "command": self.command,
            "watchdog": self.watchdog.as_dict() if self.watchdog else None,
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Confirmation:
        if not (
            isinstance(data, dict)
            and isinstance(data.get("group"), str)
            and isinstance(data.get("deadline"), (int, float))
            and math.isfinite(data["deadline"])
        ):
            raise ValueError(f"not a confirmation: {data!r}")
        watchdog = data.get("watchdog")
        return cls(
            data["group"],
            float(data["deadline"]),
            str(data.get("command", "")),
            ProcessId.from_dict(watchdog) if watchdog else None,
            data.get("unit"),
        )

    def why_due(self, now: float) -> str | None:
        if now >= self.deadline:
            return "its deadline passed"
        if self.watchdog and not self.watchdog.alive():
            return f"its timer (pid {self.watchdog.pid}) is gone"
        return None


def confirmations(contents: Contents) -> list[Confirmation]:
    return [Confirmation.from_dict(c) for c in contents.meta.get("confirmations", [])]


def expire(journal: Journal, command: str, only_due: bool = True) -> list[str]:
    """Revert the changes of every confirmation that is due (all, if not only_due), and
    keep what happened in the journal for `rxtune confirm` to report."""
    contents = journal.read()
    try:
        pending = confirmations(contents)
    except ValueError as error:
        return [f"{journal.path}: a confirmation cannot be read ({error}); run `rxtune revert`"]
    now = time.time()
    messages, keep = [], []
    records = contents.records
    expired = list(contents.meta.get("expired", []))
    for confirmation in pending:
        why = confirmation.why_due(now) if only_due else "reverting all"
        if why is None:
            keep.append(confirmation)
            continue
        group = confirmation.group
        report = revert(records, lambda r, g=group: r.group == g)  # type: ignore[misc]
        records = report.remaining
        messages += [
            f"reverted {item}: `{confirmation.command}` was not confirmed in time ({why})"
            for item in report.restored
        ]
        messages += _problems(report)
        expired.append(
            {
                "group": confirmation.group,
                "command": confirmation.command,
                "deadline": confirmation.deadline,
                "reverted_at": now,
                "by": command,
                "why": why,
                "restored": report.restored,
                "left": report.left + report.failed,
            }
        )
    if len(keep) != len(pending):
        meta = {
            **contents.meta,
            "confirmations": [c.as_dict() for c in keep],
            "expired": expired[-KEEP_EXPIRED:],
        }
        journal.write(records, meta, command=command, announce=bool(keep))
    return messages


def _problems(report: Report) -> list[str]:
    return (
        [f"left as found: {text}" for text in report.left]
        + [f"could not restore: {text}" for text in report.failed]
        + [f"kept: {text}" for text in report.handed_over]
    )


def _replay_transient(journal: Journal, contents: Contents) -> list[str]:
    owner = contents.owner
    if owner and owner.pid == os.getpid():
        return []
    if owner and owner.alive():
        raise Busy(
            f"{contents.command or 'rxtune'} (pid {owner.pid}) is running and has "
            f"changed host settings (journal {journal.path})"
        )
    who = f"a killed {contents.command or 'rxtune run'}" + (f" (pid {owner.pid})" if owner else "")
    report = revert(contents.records)
    messages = [f"restored {item}, left changed by {who}" for item in report.restored]
    messages += _problems(report)
    if report.failed:
        journal.write(report.remaining, command=contents.command, announce=True)
        raise RxtuneError(
            "could not restore what an earlier run changed: "
            + "; ".join(report.failed)
            + f" (journal {journal.path})"
        )
    if contents.damaged:
        aside = journal.set_aside()
        messages.append(
            f"the journal of {who} is damaged ({'; '.join(contents.damaged)}): "
            f"what it could prove is restored; the rest is kept in {aside}, "
            "check those values by hand"
        )
    else:
        journal.remove()
    return messages


def recover(command: str) -> list[str]:
    """Replay, under the host lock, what killed runs and lapsed confirmations left; returns
    one line per thing done, for the user."""
    messages: list[str] = []
    seen = set()
    for journal in announced() + [Journal(TRANSIENT), Journal(TUNE_JOURNAL)]:
        path = journal.path.resolve()
        if path in seen or not journal.path.exists():
            continue
        seen.add(path)
        if journal.path.name == TRANSIENT:
            messages += _replay_transient(journal, journal.read())
        elif journal.path.name == TUNE_JOURNAL:
            messages += expire(journal, command)
    return messages
