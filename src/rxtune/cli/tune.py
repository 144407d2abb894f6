"""rxtune set / tune / revert / confirm / export: change the receive path safely. This
module parses and prints; rxtune.apply does the work."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..apply import persist as persisting
from ..apply import tune as tuning
from ..apply.profile import builtin, busy_poll_pitfalls, load
from ..changes.journal import knob_of
from ..changes.plan import Assignment, Change, assignments
from ..errors import InvalidValue
from ..knobs.model import CpuList, Knob, Scope
from ..knobs.registry import get
from .common import WAIT, console, errors, friendly_errors, said, strict_float, strict_int

_DEV = typer.Option(None, "--dev", help="device(s) for device, queue and NAPI knobs")
_NETNS = typer.Option(None, "--netns", help="the devices' network namespace")
_DRY = typer.Option(False, "--dry-run", help="print the plan and its shell commands; touch nothing")
_PERSIST = typer.Option(False, "--persist", help="also write what survives a reboot")
_ROOT = typer.Option(Path("/"), "--persist-root", help="where /etc is (for tests and images)")
_CONFIRM = typer.Option(
    None,
    "--confirm-within",
    metavar="SECONDS",
    parser=strict_float,
    help="revert by itself unless `rxtune confirm` comes in time",
)
_STYLE = {
    "applied": "green",
    "persisted": "green",
    "change": "yellow",
    "persist only": "yellow",
    "unchanged": "dim",
    "unsupported": "dim",
}


def _shown(knob: Knob, value: Any) -> str:
    return "-" if value is None else knob.display(value)


def _table(title: str, rows: list[tuple[Change, str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("knob", "target", "before", "wanted", "status", "note"):
        table.add_column(column, overflow="fold")
    for change, status, note in rows:
        a = change.assignment
        target = (a.target.describe() or "host") + (f" ({a.netns})" if a.netns else "")
        table.add_row(
            a.knob.name,
            target,
            _shown(a.knob, change.previous),
            _shown(a.knob, a.value),
            f"[{_STYLE.get(status, 'red')}]{status}[/]",
            note,
        )
    return table


def _run(request: tuning.Request, title: str) -> None:
    result = tuning.run(request)
    said(result.recovered)
    if request.dry_run:
        console.print(
            _table(
                f"{title}: plan (nothing changed)", [(c, c.status, c.reason) for c in result.plan]
            )
        )
        commands = [c.command for c in result.plan if c.status == "change"]
        if commands:  # one per line, never folded: for copying
            console.print("\nThe same as shell commands:")
            print("\n".join(commands))
        return
    console.print(_table(title, [(o.change, o.status, o.detail) for o in result.outcomes]))
    for path in result.persisted:
        console.print(f"persisted: {path}")
    if result.confirm_deadline is not None:
        console.print(
            f"[bold yellow]run `rxtune confirm` before "
            f"{time.strftime('%H:%M:%S', time.localtime(result.confirm_deadline))}"
            f" ({request.confirm_within:g} s), or this is reverted[/]"
        )
    if any(o.status == "applied" for o in result.outcomes):
        console.print("undo with `rxtune revert`")


_CPUS = typer.Option(
    None, "--cpu", help="per-CPU knobs: only these CPUs, e.g. 1 or 0-3 (default: every CPU)"
)


def cpu_list(text: str | None) -> list[int] | None:
    """--cpu 0-2,5 as CPU numbers."""
    if text is None:
        return None
    checked = CpuList().check("--cpu", text)
    cpus: list[int] = []
    for part in checked.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def _parse(pairs: list[str], napi: int | None) -> list[tuple[Knob, Any]]:
    values = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise InvalidValue(f"'{pair}' is not KNOB=VALUE", "e.g. busy_read=50 rx-usecs=8")
        values.append(
            (
                get(name, Scope.NAPI if napi is not None and name in ("threaded", "irq") else None),
                value,
            )
        )
    return values


@friendly_errors
def set_(
    pairs: list[str] = typer.Argument(..., metavar="KNOB=VALUE..."),
    devices: list[str] | None = _DEV,
    netns: str | None = _NETNS,
    queue: int | None = typer.Option(
        None, parser=strict_int, help="only this RX queue (queue knobs)"
    ),
    napi: int | None = typer.Option(None, parser=strict_int, help="only this NAPI id (NAPI knobs)"),
    cpus: str | None = _CPUS,
    dry_run: bool = _DRY,
    persist: bool = _PERSIST,
    persist_root: Path = _ROOT,
    confirm_within: float | None = _CONFIRM,
    wait: float = WAIT,
) -> None:
    """Set single knobs, all or nothing, each read back; `rxtune revert` undoes them."""
    _run(
        tuning.Request(
            _parse(pairs, napi),
            "rxtune set " + " ".join(pairs),
            devices or [],
            netns,
            queue,
            napi,
            cpu_list(cpus),
            strict=True,
            dry_run=dry_run,
            persist_root=persist_root if persist else None,
            confirm_within=confirm_within,
            wait=wait,
        ),
        "rxtune set",
    )


@friendly_errors
def tune(
    profile: str = typer.Option(
        ..., "--profile", "-p", help=f"{', '.join(builtin())}, or a TOML file of your own"
    ),
    devices: list[str] | None = _DEV,
    netns: str | None = _NETNS,
    cpus: str | None = _CPUS,
    dry_run: bool = _DRY,
    persist: bool = _PERSIST,
    persist_root: Path = _ROOT,
    confirm_within: float | None = _CONFIRM,
    wait: float = WAIT,
) -> None:
    """Apply a profile: host and per-CPU knobs always, device knobs on --dev devices. Knobs a device
    lacks are reported unsupported and skipped; a failed write undoes the whole profile."""
    chosen = load(profile)
    values, skipped = chosen.for_devices(devices or [])
    if chosen.description:
        console.print(f"[bold]{escape(chosen.name)}[/]: {escape(chosen.description)}")
    if skipped:
        console.print(f"[yellow]skipped without --dev: {', '.join(skipped)}[/]")
    for pitfall in busy_poll_pitfalls(values, devices or [], netns):
        console.print(f"[bold yellow]warning:[/] {escape(pitfall)}")
    _run(
        tuning.Request(
            values,
            f"rxtune tune --profile {chosen.name}",
            devices or [],
            netns,
            cpus=cpu_list(cpus),
            dry_run=dry_run,
            persist_root=persist_root if persist else None,
            confirm_within=confirm_within,
            wait=wait,
        ),
        f"rxtune tune --profile {chosen.name}",
    )


@friendly_errors
def revert(
    persist: bool = typer.Option(False, "--persist", help="also remove the persisted files"),
    persist_root: Path | None = typer.Option(
        None, "--persist-root", help="where /etc is (default: where tune wrote)"
    ),
    force: bool = typer.Option(
        False, "--force", help="also put back values someone changed since rxtune wrote them"
    ),
    wait: float = WAIT,
) -> None:
    """Restore every value rxtune set/tune changed to exactly what was there before; a
    value someone changed since is left as found and named (exit status 1) unless --force."""
    result = tuning.revert(force=force, wait=wait)
    said(result.recovered)
    report = result.report
    said([f"restored {item}" for item in report.restored])
    if persist:
        root = persist_root or Path(result.persist_root or "/")
        for path in persisting.remove(root):
            console.print(f"removed {path}")
    for text in report.left + report.failed:
        errors.print(f"[yellow]not restored:[/] {escape(text)}", highlight=False)
    if result.damaged:
        errors.print(
            f"[yellow]the journal was damaged[/] ({escape('; '.join(result.damaged))});"
            f" restored what it proves; the file is kept as {result.set_aside}: check "
            "the values it names by hand",
            highlight=False,
        )
    if not report.restored and result.complete:
        console.print("nothing to revert")
    if not result.complete:
        raise typer.Exit(1)


@friendly_errors
def confirm(wait: float = WAIT) -> None:
    """Keep changes applied with --confirm-within; after the deadline, say what happened."""
    result = tuning.confirm(wait)
    said(result.recovered)
    for command in result.confirmed:
        console.print(f"confirmed: `{escape(command)}` stays")
    for text in result.too_late:
        errors.print(f"[yellow]too late:[/] {escape(text)}", highlight=False)
    if not result.confirmed and not result.too_late:
        console.print("nothing waits for confirmation")
    if result.too_late and not result.confirmed:
        raise typer.Exit(1)


@friendly_errors
def export(
    fmt: str = typer.Option(..., "--format", "-f", help="tuned, sh or ansible"),
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="a profile (default: what rxtune tune applied)"
    ),
    devices: list[str] | None = _DEV,
    output: Path | None = typer.Option(None, "--output", "-o", help="file (default: stdout)"),
) -> None:
    """Write the same settings for other tools: a tuned profile, a shell script, or an
    Ansible playbook for a fleet (with a `revert` tag)."""
    renderers = {
        "tuned": persisting.export_tuned,
        "sh": persisting.export_sh,
        "ansible": persisting.export_ansible,
    }
    if fmt not in renderers:
        raise InvalidValue(f"unknown format '{fmt}'", renderers)
    if profile:
        chosen = load(profile)
        items = assignments(chosen.for_devices(devices or [])[0], devices or [])
        title = f"rxtune profile {chosen.name}"
    else:
        contents = tuning.journal().read()
        if contents.damaged:
            raise InvalidValue(
                f"the journal {tuning.journal().path} is damaged ({'; '.join(contents.damaged)})",
                "--profile NAME, or `rxtune revert` first",
            )
        if not contents.records:
            raise InvalidValue(
                "no tune is applied and no --profile given",
                "--profile NAME, or run `rxtune tune` first",
            )
        latest = {r.key: r for r in contents.records}  # the value each knob has now
        items = [
            Assignment(knob_of(r.knob, r.scope), r.new, r.target, r.netns) for r in latest.values()
        ]
        title = "rxtune applied settings"
    text = renderers[fmt](items, title)
    if output:
        try:
            output.write_text(text)
        except OSError as error:
            raise InvalidValue(
                f"cannot write {output}: {error.strerror}",
                "a file in an existing, writable directory",
            ) from None
        console.print(f"written: {escape(str(output))}")
    else:
        print(text, end="")
