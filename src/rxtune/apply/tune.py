"""The set/tune workflow, all or nothing: plan (every value checked, every target read),
journaled writes each read back, persist, and an optional confirmation timer; revert and
confirm. The CLI only parses and prints; the Python API calls the same functions."""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..changes.journal import Contents, Journal, Record
from ..changes.lock import host_lock
from ..changes.plan import Change, assignments, plan
from ..changes.recover import TUNE_JOURNAL, Confirmation, confirmations, recover
from ..changes.restore import Report
from ..changes.restore import revert as revert_records
from ..changes.writer import write_verified
from ..errors import InvalidValue, NotPermitted, RxtuneError, Unsupported
from ..host import Host, is_root
from ..knobs.model import Knob
from . import confirm_timer, persist

TUNE = TUNE_JOURNAL
MAX_CONFIRM_S = 86400.0


class ApplyFailed(RxtuneError):
    """A write failed; everything this run wrote was put back."""


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: str  # applied, unchanged, unsupported
    detail: str = ""


@dataclass(frozen=True)
class Request:
    """What `rxtune set` and `rxtune tune` ask for. strict (set): a knob the target lacks
    refuses the whole request; a profile (tune) skips it and says so."""

    values: list[tuple[Knob, Any]]
    command: str = "rxtune set"
    devices: list[str] = field(default_factory=list)
    netns: str | None = None
    queue: int | None = None
    napi: int | None = None
    cpus: list[int] | None = None  # per-CPU knobs: these CPUs (None: every online CPU)
    strict: bool = False
    dry_run: bool = False
    persist_root: Path | None = None
    confirm_within: float | None = None
    wait: float = 0.0


@dataclass
class Result:
    plan: list[Change]
    outcomes: list[Outcome] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    persisted: list[Path] = field(default_factory=list)
    confirm_deadline: float | None = None


def check_confirm_within(seconds: float | None) -> None:
    if seconds is not None and not (math.isfinite(seconds) and 0 < seconds <= MAX_CONFIRM_S):
        raise InvalidValue(
            f"--confirm-within {seconds}",
            f"a number of seconds greater than 0, at most {MAX_CONFIRM_S:g}",
        )


def journal() -> Journal:
    return Journal(TUNE)


def _undamaged(contents: Contents, path: Path) -> None:
    if contents.damaged:
        raise RxtuneError(
            f"the journal {path} is damaged ({'; '.join(contents.damaged)}); "
            "nothing changed: run `rxtune revert` to restore what it can prove "
            "and set the file aside"
        )


def run(request: Request) -> Result:
    """Plan, then (unless dry_run) apply all or nothing under the host lock."""
    check_confirm_within(request.confirm_within)
    items = assignments(
        request.values, request.devices, request.netns, request.queue, request.napi, request.cpus
    )  # refuses bad input before anything is read
    if request.persist_root is not None:
        persist.check_persistable(items)
    if not request.dry_run and not is_root():
        raise NotPermitted("changing the receive path needs root (try --dry-run to see the plan)")
    if request.dry_run:
        return Result(plan(items))
    with host_lock(request.command, request.wait):
        result = Result([], recovered=recover(request.command))
        j = journal()
        _undamaged(j.read(), j.path)
        result.plan = plan(items)
        lacking = [
            c
            for c in result.plan
            if c.status == "unsupported"
            or (c.status == "persist only" and request.persist_root is None)
        ]
        if request.strict and lacking:
            raise Unsupported(
                "nothing changed: "
                + "; ".join(
                    f"{c.assignment.knob.name} on {c.assignment.target.describe() or 'host'}: "
                    f"{c.reason}"
                    for c in lacking
                )
            )
        group = secrets.token_hex(6)
        result.outcomes = _apply(result.plan, request, group)
        if request.persist_root is not None:
            try:
                result.persisted = persist.write(
                    request.persist_root,
                    [c.assignment for c in result.plan if c.status != "unsupported"],
                )
            except OSError as error:
                _roll_back(group)
                persist.remove(request.persist_root)
                raise ApplyFailed(
                    f"persisting under {request.persist_root} failed "
                    f"({error.strerror}: {error.filename}); everything written "
                    "was restored"
                ) from None
        if request.confirm_within is not None:
            try:
                result.confirm_deadline = _arm(j, group, request.confirm_within, request.command)
            except RxtuneError as error:
                _roll_back(group, drop_confirmation=True)
                raise ApplyFailed(f"{error}; everything written was restored") from None
        return result


def _apply(changes: list[Change], request: Request, group: str) -> list[Outcome]:
    """Write every "change", reading each back, each journaled before its write. On a
    failure, restore what this run wrote (newest first) and raise ApplyFailed."""
    j = journal()
    contents = j.read()
    records = contents.records
    meta = dict(contents.meta)
    if request.persist_root is not None:
        meta["persist_root"] = str(request.persist_root)
    for change in changes:
        if change.status != "change":
            continue
        a = change.assignment
        records.append(
            Record(
                a.knob.name,
                a.knob.scope.value,
                a.target.dev,
                a.target.queue,
                a.target.napi,
                a.netns,
                change.previous,
                a.value,
                group,
                cpu=a.target.cpu,
            )
        )
        j.write(
            records, meta, command=request.command, announce=bool(meta.get("confirmations"))
        )  # before the write: kill -9 is covered
        try:
            write_verified(Host(netns=a.netns), a.knob, a.target, a.value)
        except RxtuneError as error:
            undo = _roll_back(group)
            raise ApplyFailed(f"{a.knob.name} {a.target.describe()}: {error}; {undo}") from None
        except BaseException:  # Ctrl-C, SIGTERM: all or nothing holds
            _roll_back(group)
            raise
    return [_outcome(c, request) for c in changes]


def _outcome(change: Change, request: Request) -> Outcome:
    if change.status == "change":
        return Outcome(change, "applied")
    if change.status == "persist only" and request.persist_root is not None:
        unit = Path(persist.HOLDER_UNIT).name
        return Outcome(
            change, "persisted", f"held by {unit} from the next boot; now: systemctl start {unit}"
        )
    return Outcome(change, change.status, change.reason)


def _roll_back(group: str, drop_confirmation: bool = False) -> str:
    """Undo this run's writes (forced: they are ours, made a moment ago under the lock)."""
    j = journal()
    contents = j.read()
    report = revert_records(contents.records, lambda r: r.group == group, force=True)
    meta = dict(contents.meta)
    if drop_confirmation:
        meta["confirmations"] = [
            c for c in meta.get("confirmations", []) if c.get("group") != group
        ]
    j.write(report.remaining, meta, command="rollback", announce=bool(meta.get("confirmations")))
    return (
        "everything written was restored"
        if report.complete
        else "could not restore: " + "; ".join(report.failed)
    )


def _arm(j: Journal, group: str, seconds: float, command: str) -> float:
    """Record the confirmation first (a crash before its timer starts is then found with no
    timer, and reverted), then start the timer and record it."""
    deadline = time.time() + seconds
    contents = j.read()
    pending = contents.meta.get("confirmations", [])
    unarmed = Confirmation(group, deadline, command)
    j.write(
        contents.records,
        {**contents.meta, "confirmations": pending + [unarmed.as_dict()]},
        command=command,
        announce=True,
    )
    armed = confirm_timer.start(j.path, unarmed)
    j.write(
        contents.records,
        {**contents.meta, "confirmations": pending + [armed.as_dict()]},
        command=command,
        announce=True,
    )
    return deadline


@dataclass
class RevertResult:
    recovered: list[str]
    report: Report
    damaged: list[str]
    set_aside: Path | None
    persist_root: str | None

    @property
    def complete(self) -> bool:
        return self.report.complete and not self.damaged


def revert(force: bool = False, wait: float = 0.0) -> RevertResult:
    """Put back every value set/tune changed, newest first; a value someone changed since
    is left and named unless `force`. A damaged journal: what it proves is restored, the
    file is set aside, and the lines it could not read are named."""
    if not is_root():
        raise NotPermitted("revert writes host settings: run as root")
    with host_lock("rxtune revert", wait):
        recovered = recover("rxtune revert")
        j = journal()
        contents = j.read()
        report = revert_records(contents.records, force=force)
        for confirmation in _readable_confirmations(contents):
            confirm_timer.cancel(confirmation)
        aside = None
        if contents.damaged:
            aside = j.set_aside()
        elif report.remaining:
            j.write(
                report.remaining,
                {"persist_root": contents.meta.get("persist_root")},
                command="rxtune revert",
            )
        else:
            j.remove()
        return RevertResult(
            recovered, report, contents.damaged, aside, contents.meta.get("persist_root")
        )


def _readable_confirmations(contents: Contents) -> list[Confirmation]:
    try:
        return confirmations(contents)
    except ValueError:
        return []


@dataclass
class ConfirmResult:
    recovered: list[str]
    confirmed: list[str]  # the commands whose changes now stay
    too_late: list[str]  # what happened to those that were not confirmed in time


def confirm(wait: float = 0.0) -> ConfirmResult:
    """Keep every change awaiting confirmation. Run after a deadline, it says what
    happened instead: the change was reverted (by the timer, or now)."""
    if not is_root():
        raise NotPermitted("confirm changes rxtune's journal of host settings: run as root")
    with host_lock("rxtune confirm", wait):
        recovered = recover("rxtune confirm")
        j = journal()
        contents = j.read()
        pending = _readable_confirmations(contents)
        for confirmation in pending:
            confirm_timer.cancel(confirmation)
        too_late = [
            f"`{e.get('command') or 'the change'}` was reverted at "
            f"{time.strftime('%H:%M:%S', time.localtime(e['reverted_at']))} by {e['by']} "
            f"({e['why']}): " + (", ".join(e["restored"]) or "nothing to restore")
            for e in contents.meta.get("expired", [])
            if isinstance(e, dict)
        ]
        if contents.exists and (pending or too_late):
            meta = {k: v for k, v in contents.meta.items() if k not in ("confirmations", "expired")}
            j.write(contents.records, meta, command="rxtune confirm")
        return ConfirmResult(recovered, [c.command for c in pending], too_late)


def persist_root_of_journal() -> str | None:
    return journal().read().meta.get("persist_root")
