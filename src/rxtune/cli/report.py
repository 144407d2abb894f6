"""rxtune report: one self-contained HTML file (and PNGs) from bench and sweep results."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .. import documents
from ..errors import InvalidValue
from ..measure.schema import BENCH_SCHEMA, SCHEMA_ID, SUPERSEDED
from ..measure.sweep import SWEEP_SCHEMA, SWEEP_SCHEMA_ID
from ..report import html
from .common import console, friendly_errors


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
) -> None:
    """Draw the results: latency by percentile, its split, where the CPU goes, p99 against
    receive CPU with the frontier, and (sweeps) p99 against offered rate."""
    loaded = [_load(path) for path in results]
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
