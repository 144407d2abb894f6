"""rxtune advise: what to do, from your own measurements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.panel import Panel

from .. import documents
from ..apply import profile
from ..decide.advice import GOALS, Advice, advise_sweep
from ..decide.advice import advise as decide
from ..errors import InvalidValue
from ..measure import bench as bench_run
from ..measure.schema import BENCH_SCHEMA, SUPERSEDED
from ..measure.sweep import SWEEP_SCHEMA, SWEEP_SCHEMA_ID
from ..strategies import select
from .bench import writable_place
from .common import console, friendly_errors, print_json, strict_float


def _load(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8")).get("schema")
    except (OSError, ValueError, AttributeError):
        schema = None  # documents.load says what is wrong
    if schema == SWEEP_SCHEMA_ID:
        return documents.load(path, SWEEP_SCHEMA, "rxtune sweep")
    return documents.load(path, BENCH_SCHEMA, "rxtune bench --save", SUPERSEDED)


def _panel(advice: Advice, goal: str, where: str) -> Panel | str:
    if advice.choice is None:
        fixes = "".join(f"\n  {escape(c)}" for c in advice.fixes)
        return f"{where}: " + " ".join(escape(r) for r in advice.reasons) + fixes
    body = "\n".join(f"• {escape(r)}" for r in advice.reasons)
    if advice.warnings:
        body += "\n\n[yellow]" + "\n".join(f"! {escape(w)}" for w in advice.warnings) + "[/]"
    if advice.fixes:
        body += "\n\n[bold]Fix the device first[/]\n" + "\n".join(escape(c) for c in advice.fixes)
    if advice.commands:
        body += "\n\n[bold]On the host[/]\n" + "\n".join(escape(c) for c in advice.commands)
    body += "\n\n[bold]In the program (C)[/]\n" + escape(advice.code)
    if advice.python:
        body += "\n\n[bold]In Python[/]\n" + escape(advice.python)
    title = f"rxtune advise ({goal}, {where}): use {escape(advice.choice['label'])}"
    return Panel(body, title=title, title_align="left")


def _write_profile(path: Path, advice: Advice, where: str) -> str:
    if advice.choice is None:
        raise InvalidValue(
            " ".join(
                ["no recommendation", *([where] if where else []), "to write:", *advice.reasons]
            ),
            "a result with a strategy that ran at its rate without losses",
        )
    if not advice.settings:
        return (
            f"{advice.choice['label']} needs no host or device setting (what it needs is in the "
            f"program): no profile written"
        )
    text = profile.render(
        f"rxtune advise: {advice.choice['label']} {where}".strip(), advice.settings
    )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InvalidValue(f"cannot write {path}: {error.strerror}", "a writable file") from None
    return f"written: {path} (apply with `rxtune tune --profile {path}`)"


@friendly_errors
def advise(
    result: Path | None = typer.Argument(
        None,
        metavar="[RESULT.json]",
        help="a `rxtune bench --save` or `rxtune sweep` result (default: a short bench now)",
    ),
    goal: str = typer.Option("balanced", help=f"what to optimise: {', '.join(GOALS)}"),
    dev: str | None = typer.Option(None, "--dev", help="the device the commands are for"),
    cpu_budget: float | None = typer.Option(
        None, "--cpu-budget", parser=strict_float, help="cores the receive path may take"
    ),
    write_profile: Path | None = typer.Option(
        None, "--write-profile", help="write the recommended settings as a profile for `tune`"
    ),
    rate: str | None = typer.Option(
        None, "--rate", help="on a sweep: the load level whose advice --write-profile writes"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the advice as JSON"),
) -> None:
    """Recommend a receive strategy from measured figures, with the commands and code; on a
    sweep, per load level, with the rate up to which busy polling pays."""
    if goal not in GOALS:
        raise InvalidValue(f"unknown goal '{goal}'", GOALS)
    if cpu_budget is not None and not 0 < cpu_budget <= 4096:  # before any measuring
        raise InvalidValue(f"--cpu-budget {cpu_budget}", "cores, more than 0 and at most 4096")
    if rate is not None and not write_profile:
        raise InvalidValue(f"--rate {rate!r} alone", "--rate RATE with --write-profile FILE")
    if write_profile and not writable_place(write_profile):  # before any measuring
        raise InvalidValue(
            f"cannot write {write_profile}", "a file in an existing, writable directory"
        )
    if result:
        data = _load(result)
    else:
        console.print("no result given: measuring (rxtune bench -d 1) ...")
        data = bench_run.run(bench_run.Options(select(None, [50]), duration_s=1.0))
    if data.get("schema") == SWEEP_SCHEMA_ID:
        levels, knee = advise_sweep(data, goal, dev, cpu_budget)
    else:
        levels, knee = [(data["mode"], decide(data, goal, dev, cpu_budget))], ""
    chosen = None
    if write_profile:
        names = [name for name, _ in levels]
        wanted = rate if rate else (names[0] if len(names) == 1 else None)
        if wanted not in names:
            raise InvalidValue(f"--rate {rate!r} to write a profile from", names)
        chosen = dict(levels)[wanted]
    if as_json:  # a bench: its advice; a sweep: the knee and the advice of each level
        print_json(
            {"knee": knee, "levels": {name: a.as_dict() for name, a in levels}}
            if knee
            else levels[0][1].as_dict()
        )
    else:
        for name, advice in levels:
            console.print(_panel(advice, goal, name))
        if knee:
            console.print(f"[bold]{escape(knee)}[/]")
    if write_profile and chosen is not None:
        console.print(_write_profile(write_profile, chosen, f"at {rate}" if rate else ""))
