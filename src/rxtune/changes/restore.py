"""Put journaled values back, newest first, never over a value someone else set since:
each record's current value is compared with the value rxtune wrote; where they differ
the value is left as found and named (unless forced)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..errors import RxtuneError
from ..host import Host
from .journal import Record
from .writer import read_value, same, write_verified


@dataclass
class Report:
    restored: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # changed since by someone else
    failed: list[str] = field(default_factory=list)
    handed_over: list[str] = field(default_factory=list)  # a later rxtune change keeps it
    remaining: list[Record] = field(default_factory=list)  # still owed a revert
    left_keys: set[tuple] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return not self.left and not self.failed


def revert(
    records: list[Record], chosen: Callable[[Record], bool] = lambda r: True, force: bool = False
) -> Report:
    """Revert the chosen records, newest first. A chosen record followed by a later record
    of the same knob that is not reverted (another run's change) is handed over: the later
    record now goes back to this record's previous value, and the knob keeps its value."""
    report = Report()
    remaining = list(records)
    blocked: set[tuple] = set()  # knobs left or failed: their older records stay too
    for record in reversed(records):
        if not chosen(record):
            continue
        index = remaining.index(record)
        later = next((r for r in remaining[index + 1 :] if r.key == record.key), None)
        if record.key in blocked:
            continue
        if later is not None:
            remaining[remaining.index(later)] = replace(later, previous=record.previous)
            del remaining[index]
            knob = record.knob_object()
            report.handed_over.append(
                f"{record.describe()} stays {knob.display(later.new)} (a later rxtune change "
                f"set it); reverting that goes back to {knob.display(record.previous)}"
            )
            continue
        outcome = _restore_one(record, force)
        if outcome is None:
            del remaining[index]
            knob = record.knob_object()
            report.restored.append(f"{record.describe()}={knob.display(record.previous)}")
        else:
            blocked.add(record.key)
            kind, text = outcome
            if kind == "left":
                report.left.append(text)
                report.left_keys.add(record.key)
            else:
                report.failed.append(text)
    report.remaining = remaining
    return report


def _restore_one(record: Record, force: bool) -> tuple[str, str] | None:
    """None when the previous value is back (or its namespace, and the value, are gone)."""
    knob, host = record.knob_object(), Host(netns=record.netns)
    if record.netns and not Host.netns_exists(record.netns):
        return None
    try:
        current = read_value(host, knob, record.target)
        if same(knob, current, record.previous):  # e.g. killed after journaling, before writing
            return None
        if not force and not same(knob, current, record.new):
            return (
                "left",
                f"{record.describe()} is {knob.display(current)}, not the "
                f"{knob.display(record.new)} rxtune wrote: someone changed it "
                f"since, so it is left as found (--force puts back "
                f"{knob.display(record.previous)})",
            )
        write_verified(host, knob, record.target, record.previous)
    except RxtuneError as error:
        return ("failed", f"{record.describe()}: {error}")
    return None
