"""rxtune compare: did a change help? Two saved bench results, strategy by strategy."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .. import documents
from ..decide.compare import METRICS, worse_than
from ..decide.compare import compare as decide
from ..errors import InvalidValue
from ..measure.schema import BENCH_SCHEMA, SUPERSEDED
from .common import console, friendly_errors, print_json, strict_float

EXIT_WORSE = 1  # --fail-if-worse found a figure worse beyond its limit
_COLOUR = {"better": "green", "worse": "red", "no significant change": "dim"}


@friendly_errors
def compare(
    base: Path = typer.Argument(..., metavar="BASE.json", help="the result before the change"),
    new: Path = typer.Argument(..., metavar="NEW.json", help="the result after it"),
    fail_if_worse: float | None = typer.Option(
        None,
        "--fail-if-worse",
        parser=strict_float,
        metavar="PCT",
        help="exit 1 if a p50, p99 or receive cost got significantly worse by more than PCT %",
    ),
    as_json: bool = typer.Option(False, "--json", help="print rxtune.compare/1 JSON"),
) -> None:
    """The ratio new/base of p50, p99 and the receive cost of every strategy in both
    results, each with a 95% interval over the rounds, and whether the change is
    significant (exit status 0; see --fail-if-worse for pipelines)."""
    if fail_if_worse is not None and not 0 <= fail_if_worse <= 1000:
        raise InvalidValue(f"--fail-if-worse {fail_if_worse}", "a percentage, 0..1000")
    loaded = [
        documents.load(p, BENCH_SCHEMA, "rxtune bench --save", SUPERSEDED) for p in (base, new)
    ]
    comparison = decide(*loaded)
    worse = [] if fail_if_worse is None else worse_than(comparison, fail_if_worse)
    if as_json:
        print_json({**comparison, "worse_than_limit": worse})
    else:
        out = Table(
            title=f"{new} against {base}: new/base with its 95% interval over the rounds",
            title_justify="left",
            show_edge=False,
            pad_edge=False,
        )
        out.add_column("strategy", no_wrap=True)
        for metric in METRICS:
            out.add_column("receive cost" if metric == "cost" else metric, no_wrap=True)
        for row in comparison["rows"]:
            cells = []
            for metric in METRICS:
                found = row["metrics"][metric]
                if found is None:
                    cells.append("[dim]under 2 rounds[/]")
                    continue
                low, high = found["ci"]
                colour = _COLOUR[found["verdict"]]
                cells.append(f"[{colour}]{found['ratio']:.2f} ({low:.2f}-{high:.2f})[/]")
            out.add_row(row["strategy"], *cells)
        console.print(out)
        console.print(
            "[dim]green: better, red: worse (the interval leaves out 1); "
            "dim: no significant change[/]"
        )
        if worse:
            console.print(f"[red]worse by more than {fail_if_worse}%: {', '.join(worse)}[/]")
    if worse:
        raise typer.Exit(EXIT_WORSE)
