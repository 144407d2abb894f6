"""rxtune sweep: every strategy at every offered rate, and the frontier of each rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .. import documents
from ..changes.process import unwind_on_termination
from ..errors import InvalidValue
from ..knobs.model import whole_number
from ..measure import sweep as sweeping
from ..strategies import LOAD, NAMES, select
from .bench import writable_place
from .common import WAIT, console, friendly_errors, print_json, strict_float, strict_int


def _rates(text: str) -> list[int]:
    rates = []
    for item in (v.strip() for v in text.split(",")):
        rate = sweeping.FLOOD if item == "flood" else whole_number(item)
        if rate is None or (rate == sweeping.FLOOD and item != "flood"):
            raise InvalidValue(f"--rates {text!r}", "packets/s as whole numbers, or flood")
        rates.append(rate)
    return rates


def _write(path: Path, result: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(result, indent=1))
    except OSError as error:
        raise InvalidValue(f"cannot write {path}: {error.strerror}", "a writable file") from None


@friendly_errors
def sweep(
    rates: str = typer.Option(
        "10000,50000,200000", "--rates", help="offered rates, packets/s, comma-separated; flood"
    ),
    strategies: str | None = typer.Option(
        None, "--strategy", "-s", help=f"comma-separated (default: load mode's): {', '.join(NAMES)}"
    ),
    busy_poll_us: int = typer.Option(50, "--busy-poll-us", parser=strict_int),
    point_s: float = typer.Option(
        1.0, "--point-seconds", parser=strict_float, help="per strategy and rate, over its rounds"
    ),
    rounds: int = typer.Option(3, "--rounds", parser=strict_int),
    budget: float | None = typer.Option(
        None,
        "--budget",
        parser=strict_float,
        help="seconds: shrink the sweep to fit, and say what was left out",
    ),
    testbed: str = typer.Option("A", "--testbed", "-t"),
    save: Path = typer.Option(
        Path("sweep.json"), "--save", help="the sweep, written after each rate"
    ),
    resume: Path | None = typer.Option(None, "--resume", help="continue an interrupted sweep"),
    as_json: bool = typer.Option(False, "--json", help="print rxtune.sweep/1 JSON"),
    wait: float = WAIT,
) -> None:
    """Every strategy at every offered rate on the testbed: latency from intended send
    times and the whole machine's receive CPU, and per rate the frontier (points no other
    point beats on both p99 and CPU). Ctrl-C keeps the rates measured; --resume continues."""
    earlier = None
    if resume:
        earlier = documents.load(resume, sweeping.SWEEP_SCHEMA, "rxtune sweep")
        rates = ",".join(
            "flood" if r == sweeping.FLOOD else str(r) for r in earlier["metadata"]["rates"]
        )
    names = [n.strip() for n in (strategies or "").split(",") if n.strip()]
    if strategies is not None and not names:
        raise InvalidValue("--strategy names no strategy", NAMES)
    chosen = select(names or None, [busy_poll_us], LOAD)
    options = sweeping.fit(
        sweeping.SweepOptions(
            chosen, _rates(rates), point_s, rounds, testbed, budget_s=budget, wait_s=wait
        )
    )
    options.validate()
    if not writable_place(save):  # refuse before a long run, not after it
        raise InvalidValue(f"cannot write {save}", "a file in an existing, writable directory")
    if options.left_out:
        console.print(f"[yellow]to fit {budget} s: {'; '.join(options.left_out)}[/]")
    unwind_on_termination()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=as_json,
    ) as progress:  # fmt: skip
        task = progress.add_task("sweeping", total=options.estimate_s())

        def report(what: str, left: float) -> None:
            progress.update(
                task, description=f"measuring {what}", completed=options.estimate_s() - left
            )

        try:
            result = sweeping.run(options, report, earlier, lambda r: _write(save, r))
        except KeyboardInterrupt:
            console.print(
                f"interrupted: the rates measured so far are in {save}; "
                f"`rxtune sweep --resume {save}` continues"
            )
            raise
    _write(save, result)
    if as_json:
        print_json(result)
        return
    table = Table(
        title=f"Frontier of each rate (saved: {save})", title_justify="left", show_edge=False
    )
    table.add_column("rate", no_wrap=True)
    table.add_column("on the frontier: p99 at the machine's receive cores")
    for name, points in sweeping.frontier_points(result).items():
        cells = [
            f"{p['label']} {_p99(p['row'])} at {sweeping.cores_of(p['row']):.2f}" for p in points
        ]
        table.add_row(name, "; ".join(cells))
    console.print(table)


def _p99(row: dict[str, Any]) -> str:
    p99 = (row.get("latency_ns") or {}).get("p99")
    return f"{row['rate']['received_pps']:,}/s" if p99 is None else f"{p99 / 1000:.1f} µs"
