"""rxtune set / tune / revert / confirm / export: change the receive path safely."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..apply import persist as persisting
from ..apply import tune as tuning
from ..apply.journal import Journal
from ..apply.plan import Assignment, Change, assignments, plan
from ..apply.profile import builtin, load
from ..apply.writer import knob_of
from ..errors import InvalidValue, NotPermitted, Unsupported
from ..host import is_root
from ..knobs.model import Knob, Scope, Target
from ..knobs.registry import get
from .common import console, friendly_errors

_DEV = typer.Option(None, "--dev", help="device(s) for device, queue and NAPI knobs")
_NETNS = typer.Option(None, "--netns", help="the devices' network namespace")
_DRY = typer.Option(False, "--dry-run", help="print the plan and its shell commands; touch nothing")
_PERSIST = typer.Option(False, "--persist", help="also write what survives a reboot")
_ROOT = typer.Option(Path("/"), "--persist-root", help="where /etc is (for tests and images)")
_CONFIRM = typer.Option(None, "--confirm-within", metavar="SECONDS",
                        help="revert by itself unless `rxtune confirm` comes in time")
_STYLE = {"applied": "green", "change": "yellow", "unchanged": "dim", "unsupported": "dim"}


def _shown(knob: Knob, value: Any) -> str:
    return "-" if value is None else knob.display(value)


def _table(title: str, rows: list[tuple[Change, str, str]], commands: bool) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("knob", "target", "before", "wanted", "status", "command" if commands else "note"):
        table.add_column(column, overflow="fold")
    for change, status, note in rows:
        a = change.assignment
        target = (a.target.describe() or "host") + (f" ({a.netns})" if a.netns else "")
        table.add_row(a.knob.name, target, _shown(a.knob, change.previous),
                      _shown(a.knob, a.value), f"[{_STYLE.get(status, 'red')}]{status}[/]",
                      change.command if commands and status != "unsupported" else note)
    return table


def _run(values: list[tuple[Knob, Any]], title: str, devices: list[str], netns: str | None,
         dry_run: bool, persist: bool, persist_root: Path, confirm_within: float | None,
         queue: int | None = None, napi: int | None = None, strict: bool = False) -> None:
    """strict (set): a knob the target lacks refuses the whole request; a profile (tune)
    skips it and says so."""
    if confirm_within is not None and confirm_within <= 0:
        raise InvalidValue(f"--confirm-within {confirm_within}", "a number of seconds > 0")
    items = assignments(values, devices, netns, queue, napi)   # refuses bad input first
    if persist:
        persisting.check_persistable(items)
    if not dry_run and not is_root():
        raise NotPermitted("changing the receive path needs root (try --dry-run to see the plan)")
    changes = plan(items)
    lacking = [c for c in changes if c.status == "unsupported"]
    if strict and lacking and not dry_run:
        raise Unsupported("nothing changed: " + "; ".join(
            f"{c.assignment.knob.name} on {c.assignment.target.describe() or 'host'}: {c.reason}"
            for c in lacking))
    if dry_run:
        console.print(_table(f"{title}: plan (nothing changed)",
                             [(c, c.status, c.reason) for c in changes], commands=True))
        return
    outcomes = tuning.apply(changes, persist_root if persist else None)
    console.print(_table(title, [(o.change, o.status, o.detail) for o in outcomes], commands=False))
    if persist:
        kept = [c.assignment for c in changes if c.status != "unsupported"]
        for path in persisting.write(persist_root, kept):
            console.print(f"persisted: {path}")
    if confirm_within:
        tuning.arm_confirmation(confirm_within)
        console.print(f"[bold yellow]run `rxtune confirm` within {confirm_within:g} s, or this "
                      "is reverted[/]")
    if any(o.status == "applied" for o in outcomes):
        console.print("undo with `rxtune revert`")


def _parse(pairs: list[str], napi: int | None) -> list[tuple[Knob, Any]]:
    values = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise InvalidValue(f"'{pair}' is not KNOB=VALUE", "e.g. busy_read=50 rx-usecs=8")
        values.append((get(name, Scope.NAPI if napi is not None and name in
                           ("threaded", "irq") else None), value))
    return values


@friendly_errors
def set_(
    pairs: list[str] = typer.Argument(..., metavar="KNOB=VALUE..."),
    devices: Optional[list[str]] = _DEV, netns: Optional[str] = _NETNS,
    queue: Optional[int] = typer.Option(None, help="only this RX queue (queue knobs)"),
    napi: Optional[int] = typer.Option(None, help="only this NAPI id (NAPI knobs)"),
    dry_run: bool = _DRY, persist: bool = _PERSIST, persist_root: Path = _ROOT,
    confirm_within: Optional[float] = _CONFIRM,
) -> None:
    """Set single knobs, all or nothing, each read back; `rxtune revert` undoes them."""
    _run(_parse(pairs, napi), "rxtune set", devices or [], netns, dry_run, persist,
         persist_root, confirm_within, queue, napi, strict=True)


@friendly_errors
def tune(
    profile: str = typer.Option(..., "--profile", "-p",
                                help=f"{', '.join(builtin())}, or a TOML file of your own"),
    devices: Optional[list[str]] = _DEV, netns: Optional[str] = _NETNS,
    dry_run: bool = _DRY, persist: bool = _PERSIST, persist_root: Path = _ROOT,
    confirm_within: Optional[float] = _CONFIRM,
) -> None:
    """Apply a profile: host knobs always, device knobs on --dev devices. Knobs a device
    lacks are reported unsupported and skipped; a failed write undoes the whole profile."""
    chosen = load(profile)
    values = [(k, v) for k, v in chosen.values if devices or k.scope in (Scope.HOST, Scope.NAMESPACE)]
    if chosen.description:
        console.print(f"[bold]{chosen.name}[/]: {chosen.description}")
    _run(values, f"rxtune tune --profile {chosen.name}", devices or [], netns, dry_run, persist,
         persist_root, confirm_within)


@friendly_errors
def revert(
    persist: bool = typer.Option(False, "--persist", help="also remove the persisted files"),
    persist_root: Optional[Path] = typer.Option(None, "--persist-root",
                                                help="where /etc is (default: where tune wrote)"),
) -> None:
    """Restore every value rxtune set/tune changed to exactly what was there before."""
    if not is_root():
        raise NotPermitted("revert writes host settings: run as root")
    root = persist_root or Path(tuning.persist_root_of_journal() or "/")
    restored = tuning.revert()
    for item in restored:
        console.print(f"restored {item}")
    if persist:
        for path in persisting.remove(root):
            console.print(f"removed {path}")
    if not restored:
        console.print("nothing to revert")


@friendly_errors
def confirm() -> None:
    """Keep a tune applied with --confirm-within."""
    console.print("confirmed: the tune stays" if tuning.confirm()
                  else "nothing waits for confirmation")


@friendly_errors
def export(
    fmt: str = typer.Option(..., "--format", "-f", help="tuned or sh"),
    profile: Optional[str] = typer.Option(None, "--profile", "-p",
                                          help="a profile (default: what rxtune tune applied)"),
    devices: Optional[list[str]] = _DEV,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="file (default: stdout)"),
) -> None:
    """Write the same settings for other tools: a tuned profile or a shell script."""
    renderers = {"tuned": persisting.export_tuned, "sh": persisting.export_sh}
    if fmt not in renderers:
        raise InvalidValue(f"unknown format '{fmt}'", renderers)
    if profile:
        chosen = load(profile)
        items = assignments([(k, v) for k, v in chosen.values
                             if devices or k.scope in (Scope.HOST, Scope.NAMESPACE)], devices or [])
        title = f"rxtune profile {chosen.name}"
    else:
        entries = Journal(tuning.TUNE).entries()
        if not entries:
            raise InvalidValue("no tune is applied and no --profile given",
                               "--profile NAME, or run `rxtune tune` first")
        items = [Assignment(knob_of(e.knob, e.scope), e.new,
                            Target(dev=e.dev, queue=e.queue, napi=e.napi), e.netns) for e in entries]
        title = "rxtune applied settings"
    text = renderers[fmt](items, title)
    if output:
        output.write_text(text)
        console.print(f"written: {output}")
    else:
        print(text, end="")
