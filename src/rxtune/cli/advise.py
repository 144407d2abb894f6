"""rxtune advise: what to do, from your own measurements."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.panel import Panel

from .. import documents
from ..decide.advice import GOALS
from ..decide.advice import advise as decide
from ..errors import InvalidValue
from ..measure import bench as bench_run
from ..measure.schema import BENCH_SCHEMA, SUPERSEDED
from ..strategies import select
from .common import console, friendly_errors, print_json


@friendly_errors
def advise(
    result: Path | None = typer.Argument(
        None,
        metavar="[RESULT.json]",
        help="a `rxtune bench --save` result (default: run a short ping-pong bench now)",
    ),
    goal: str = typer.Option("balanced", help=f"what to optimise: {', '.join(GOALS)}"),
    dev: str | None = typer.Option(None, "--dev", help="the device the commands are for"),
    as_json: bool = typer.Option(False, "--json", help="print the advice as JSON"),
) -> None:
    """Recommend a receive strategy from measured figures, with the commands and code."""
    if goal not in GOALS:
        raise InvalidValue(f"unknown goal '{goal}'", GOALS)
    if result:
        data = documents.load(result, BENCH_SCHEMA, "rxtune bench --save", SUPERSEDED)
    else:
        console.print("no result given: measuring (rxtune bench -d 1) ...")
        data = bench_run.run(bench_run.Options(select(None, [50]), duration_s=1.0))
    advice = decide(data, goal, dev)
    if as_json:
        print_json(advice.as_dict())
        return
    if advice.choice is None:
        console.print("\n".join(advice.reasons))
        return
    body = "\n".join(f"• {escape(r)}" for r in advice.reasons)
    if advice.warnings:
        body += "\n\n[yellow]" + "\n".join(f"! {escape(w)}" for w in advice.warnings) + "[/]"
    if advice.commands:
        body += "\n\n[bold]On the host[/]\n" + "\n".join(escape(c) for c in advice.commands)
    body += "\n\n[bold]In the program (C)[/]\n" + escape(advice.code)
    if advice.python:
        body += "\n\n[bold]In Python[/]\n" + escape(advice.python)
    console.print(
        Panel(
            body,
            title=f"rxtune advise ({goal}, {advice.mode}): use {escape(advice.choice['label'])}",
            title_align="left",
        )
    )
