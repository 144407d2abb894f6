"""rxtune sweep: every strategy at every offered rate, and the frontier of each rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .. import documents
from ..changes.process import unwind_on_termination
from ..decide import check_advice as checking
from ..errors import InvalidValue
from ..knobs.model import whole_number
from ..knobs.registry import get
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


def _numbers(option: str, text: str) -> list[int]:
    numbers = [whole_number(v.strip()) for v in text.split(",")]
    if not numbers or any(n is None for n in numbers):
        raise InvalidValue(f"{option} {text!r}", "whole numbers, comma-separated")
    return numbers  # type: ignore[return-value]


def _dimension(text: str) -> sweeping.Dimension:
    """--knob NAME=V1,V2: a registry knob and its values, each checked as `rxtune set` does."""
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise InvalidValue(f"--knob {text!r}", "NAME=V1,V2,... e.g. netdev_budget=300,600")
    knob = get(name.strip())
    return sweeping.Dimension(knob, tuple(knob.check(v.strip()) for v in values.split(",")))


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
    busy_poll_us: str = typer.Option(
        "50", "--busy-poll-us", help="µs for the busy-polling strategies, comma-separated"
    ),
    knobs: list[str] | None = typer.Option(
        None,
        "--knob",
        help="a registry knob as a dimension, NAME=V1,V2 (repeatable): e.g. "
        "napi_defer_hard_irqs=0,2 gro_flush_timeout=0,20000 netdev_budget=300,600",
    ),
    point_s: float = typer.Option(
        0.6, "--point-seconds", parser=strict_float, help="screening: per point, over its rounds"
    ),
    rounds: int = typer.Option(2, "--rounds", parser=strict_int, help="screening rounds"),
    confirm: int = typer.Option(
        sweeping.MAX_CANDIDATES,
        "--confirm",
        parser=strict_int,
        help="points per rate near the frontier measured again in 5 longer rounds (0: none)",
    ),
    budget: float | None = typer.Option(
        None,
        "--budget",
        parser=strict_float,
        help="seconds: shrink the sweep to fit, and say what was left out",
    ),
    testbed: str = typer.Option("A", "--testbed", "-t"),
    save: Path | None = typer.Option(
        None, "--save", help="the result (default sweep.json, or check-advice.json)"
    ),
    check_advice: bool = typer.Option(
        False,
        "--check-advice",
        help="test common advice (netdev_budget=600, rx-usecs 100, busy_read=busy_poll=50, "
        "SO_BUSY_POLL=50, ...) against the defaults at the lowest and highest --rates",
    ),
    resume: Path | None = typer.Option(None, "--resume", help="continue an interrupted sweep"),
    as_json: bool = typer.Option(False, "--json", help="print rxtune.sweep/1 JSON"),
    wait: float = WAIT,
) -> None:
    """Every strategy at every offered rate on the testbed: latency from intended send
    times and the whole machine's receive CPU, and per rate the frontier (points no other
    point beats on both p99 and CPU). Ctrl-C keeps the rates measured; --resume continues."""
    if check_advice:
        # the check measures its own pieces: a grid option given with it would be ignored
        given = {
            "--strategy": strategies is not None,
            "--busy-poll-us": busy_poll_us != "50",
            "--knob": bool(knobs),
            "--point-seconds": point_s != 0.6,
            "--confirm": confirm != sweeping.MAX_CANDIDATES,
            "--budget": budget is not None,
            "--resume": resume is not None,
        }
        if any(given.values()):
            raise InvalidValue(
                f"{', '.join(o for o, on in given.items() if on)} with --check-advice",
                "--rates, --rounds, --testbed, --save, --json and --wait",
            )
        if not 1 <= rounds <= 100:
            raise InvalidValue(f"--rounds {rounds}", "1..100 (the check runs at least 5)")
        _check_advice(rates, rounds, testbed, save or Path("check-advice.json"), as_json, wait)
        return
    save = save or Path("sweep.json")
    if resume:  # the same grid: the interrupted sweep's own options
        earlier = documents.load(resume, sweeping.SWEEP_SCHEMA, "rxtune sweep")
        options = sweeping.resumed(earlier, wait)
    else:
        earlier = None
        names = [n.strip() for n in (strategies or "").split(",") if n.strip()]
        if strategies is not None and not names:
            raise InvalidValue("--strategy names no strategy", NAMES)
        chosen = select(names or None, _numbers("--busy-poll-us", busy_poll_us), LOAD)
        options = sweeping.fit(
            sweeping.SweepOptions(
                chosen,
                _rates(rates),
                point_s,
                rounds,
                testbed,
                budget_s=budget,
                wait_s=wait,
                dimensions=tuple(_dimension(k) for k in knobs or []),
                confirm_candidates=confirm,
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
                f"interrupted: what was measured so far is in {save}; "
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


VERDICT_STYLE = {"helped": "green", "traded": "yellow", "hurt": "red"}


def _check_advice(
    rates: str, rounds: int, testbed: str, save: Path, as_json: bool, wait: float
) -> None:
    paced = sorted({r for r in _rates(rates) if r != sweeping.FLOOD})
    if not paced:
        raise InvalidValue(f"--rates {rates!r} for --check-advice", "paced rates: not only flood")
    options = checking.CheckOptions(
        tuple(dict.fromkeys([paced[0], paced[-1]])), rounds=max(rounds, 5), testbed=testbed,
        wait_s=wait,
    )  # fmt: skip
    options.validate()
    if not writable_place(save):
        raise InvalidValue(f"cannot write {save}", "a file in an existing, writable directory")
    unwind_on_termination()
    with console.status("checking") as status:
        result = checking.run(options, lambda what: status.update(f"measuring {what}"))
    _write(save, result)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"Common advice on this host (saved: {save})", title_justify="left")
    table.add_column("advice")
    for rate in options.rates:
        table.add_column(sweeping.rate_name(rate))
    for piece in result["pieces"]:
        cells = []
        for rate in options.rates:
            found = piece["results"][sweeping.rate_name(rate)]
            style = VERDICT_STYLE.get(found["verdict"], "")
            detail = found.get("reason") or _ratios(found["ratios"])
            cells.append(f"[{style}]{found['verdict']}[/]\n{escape(detail)}" if style else
                         f"{found['verdict']}\n{escape(detail)}")  # fmt: skip
        table.add_row(escape(piece["advice"]), *cells)
    console.print(table)
    console.print("ratios are with/without the advice (lower is better), 95% intervals over rounds")
    for text in checking.noisy(result):
        console.print(
            f"[yellow]at {escape(text)}: a difference that size is noise on this host, so "
            "a verdict resting on a ratio no larger is doubtful[/]"
        )


def _ratios(ratios: dict[str, Any]) -> str:
    return ", ".join(
        f"{metric} ×{found['ratio']:.2f} [{found['ci'][0]:.2f}, {found['ci'][1]:.2f}]"
        for metric, found in ratios.items()
        if found
    )
