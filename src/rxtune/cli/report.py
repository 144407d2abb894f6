"""rxtune report: one self-contained HTML file (and PNGs) from bench and sweep results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from .. import documents
from ..errors import InvalidValue
from ..measure.schema import BENCH_SCHEMA, SCHEMA_ID, SUPERSEDED
from ..measure.sweep import SWEEP_SCHEMA, SWEEP_SCHEMA_ID
from ..report import html
from .common import console, friendly_errors

_LABEL = re.compile(r"[A-Za-z0-9_.-]+=[A-Za-z0-9_.:/-]+")


def _load(path: Path) -> dict:
    try:
        schema = json.loads(path.read_text(encoding="utf-8")).get("schema")
    except (OSError, ValueError, AttributeError):
        schema = None
    if schema == SWEEP_SCHEMA_ID:
        return documents.load(path, SWEEP_SCHEMA, "rxtune sweep")
    return documents.load(path, BENCH_SCHEMA, "rxtune bench --save", SUPERSEDED)


@friendly_errors
def report(
    results: list[Path] = typer.Argument(
        ..., metavar="RESULT.json...", help=f"{SCHEMA_ID} or {SWEEP_SCHEMA_ID} files"
    ),
    output: Path = typer.Option(Path("report.html"), "--output", "-o"),
    png: Path | None = typer.Option(None, "--png", help="also write each figure here as a PNG"),
    labels: list[str] | None = typer.Option(
        None,
        "--label",
        help="one per result, in order, e.g. host=gw1: results of several hosts side by side",
    ),
) -> None:
    """Draw the results: latency by percentile, its split, where the CPU goes, p99 against
    receive CPU with the frontier, and (sweeps) p99 against offered rate."""
    if labels and (
        len(labels) != len(results) or not all(_LABEL.fullmatch(label) for label in labels)
    ):
        raise InvalidValue(
            f"--label {' '.join(labels)} for {len(results)} result(s)",
            "one KEY=VALUE per result, in order, e.g. --label host=gw1 --label host=gw2",
        )
    loaded = [_load(path) for path in results]
    if labels:
        loaded = html.labelled(loaded, labels)
    made = html.figures_of(loaded)
    try:
        output.write_text(html.report(loaded, made), encoding="utf-8")
        if png:
            png.mkdir(parents=True, exist_ok=True)
            for figure in made:
                (png / figure.name).write_bytes(figure.png)
    except OSError as error:
        raise InvalidValue(
            f"cannot write the report: {error.strerror} ({error.filename})", "a writable place"
        ) from None
    console.print(f"{output}: {len(made)} figures" + (f"; PNGs in {png}" if png else ""))
