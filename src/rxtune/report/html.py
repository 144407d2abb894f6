"""One self-contained HTML file: every figure embedded as a PNG data URI, tables beside
them, the host and the knob snapshot; nothing is fetched when it is opened."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from typing import Any

from ..decide.advice import Advice, advise, advise_sweep
from ..measure.schema import SCHEMA_ID
from ..measure.sweep import SWEEP_SCHEMA_ID, frontier, rate_name
from . import figures


@dataclass(frozen=True)
class Figure:
    name: str  # file name for --png
    caption: str
    png: bytes


def recommendations(result: dict[str, Any]) -> tuple[dict[str, Advice], str]:
    """What `rxtune advise` (balanced goal) recommends, per load level, and the knee."""
    if result.get("schema") == SWEEP_SCHEMA_ID:
        levels, knee = advise_sweep(result)
        return dict(levels), knee
    return {result["mode"]: advise(result)}, ""


def _bench_figures(result: dict[str, Any], prefix: str) -> list[Figure]:
    runs = result["runs"]
    points = [{"rate": 0, "label": r["label"], "row": r} for r in runs if not r["unsupported"]]
    chosen = recommendations(result)[0][result["mode"]].choice
    pinning = result["metadata"].get("pinning") or {}
    made = [
        ("percentiles", "Latency by percentile", figures.percentile_curve(runs)),
        ("split", "Where the p50 latency goes", figures.split_bars(runs)),
        ("cpu", "Where the receive CPU goes, per packet", figures.cpu_parts(runs)),
        (
            "per-cpu",
            "Each CPU over the traffic windows",
            figures.per_cpu(runs, pinning.get("reflector_cpu")),
        ),
        (
            "frontier",
            "p99 against receive CPU",
            figures.latency_against_cpu(
                points, _frontier(points), "this bench", chosen["label"] if chosen else None
            ),
        ),
    ]
    return [Figure(f"{prefix}{name}.png", caption, png) for name, caption, png in made if png]


def _frontier(points: list[dict[str, Any]]) -> list[str]:
    return frontier([p for p in points if p["row"].get("latency_ns", {}).get("p99")])


def _sweep_figures(result: dict[str, Any], prefix: str) -> list[Figure]:
    points = result["points"]
    advised = recommendations(result)[0]
    made = [("rates", "p99 against offered rate", figures.latency_against_rate(points))]
    for name, on_frontier in result["frontiers"].items():
        mine = [p for p in points if rate_name(p["rate"]) == name]
        chosen = advised[name].choice if name in advised else None
        png = figures.latency_against_cpu(
            mine, on_frontier, f"at {name}", chosen["label"] if chosen else None
        )
        slug = name.split("/")[0].replace(",", "")
        made.append((f"frontier-{slug}", f"p99 against receive CPU at {name}", png))
    return [Figure(f"{prefix}{name}.png", caption, png) for name, caption, png in made if png]


def labelled(results: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Results of several hosts, each row's label prefixed with its result's (host=gw1:
    epoll), so they can stand side by side."""
    out = []
    for result, label in zip(results, labels, strict=True):
        copy = {**result, "metadata": {**result["metadata"], "label": label}}
        if "runs" in result:
            copy["runs"] = [{**run, "label": f"{label}: {run['label']}"} for run in result["runs"]]
        out.append(copy)
    return out


def side_by_side(results: list[dict[str, Any]]) -> tuple[str, list[Figure]]:
    """The labelled bench results' rows in one table and one percentile figure."""
    runs = [run for r in results if r.get("schema") == SCHEMA_ID for run in r["runs"]]
    if not any(r["metadata"].get("label") for r in results) or not runs:
        return "", []
    png = figures.percentile_curve(runs)
    made = [Figure("side-by-side.png", "Latency by percentile, every host", png)] if png else []
    return "<h2>Side by side</h2>" + _table({"schema": SCHEMA_ID, "runs": runs}), made


def figures_of(results: list[dict[str, Any]]) -> list[Figure]:
    out: list[Figure] = side_by_side(results)[1]
    for index, result in enumerate(results):
        prefix = f"{index + 1}-" if len(results) > 1 else ""
        if result.get("schema") == SWEEP_SCHEMA_ID:
            out += _sweep_figures(result, prefix)
        else:
            out += _bench_figures(result, prefix)
    return out


def _table(result: dict[str, Any]) -> str:
    rows = (
        result["runs"]
        if result.get("schema") == SCHEMA_ID
        else [p["row"] for p in result["points"]]
    )
    names = ("strategy", "rate", "p50 µs", "p99 µs", "receive µs/packet", "cores")
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"
    body = []
    for row in rows:
        if row["unsupported"]:
            continue
        latency = row.get("latency_ns", {})
        cost = row.get("cost", {})
        rate = (
            row.get("rate", {}).get("offered_pps") or row.get("rate", {}).get("received_pps") or ""
        )
        cells = [
            row["label"],
            f"{rate:,}" if isinstance(rate, int) else "",
            _us(latency.get("p50")),
            _us(latency.get("p99")),
            _us(cost.get("receive_cpu_ns_per_packet", cost.get("machine_cpu_ns_per_round_trip"))),
            f"{cost.get('receive_cores', cost.get('machine_cores', 0)):.2f}",
        ]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _us(ns: float | None) -> str:
    return "" if ns is None else f"{ns / 1000:.1f}"


def report(results: list[dict[str, Any]], made: list[Figure]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>rxtune report</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}img{max-width:100%}</style></head><body>",
        "<h1>rxtune report</h1>",
        side_by_side(results)[0],
    ]
    for result in results:
        meta = result["metadata"]
        what = "sweep" if result.get("schema") == SWEEP_SCHEMA_ID else f"bench, {result['mode']}"
        if meta.get("label"):
            what = f"{meta['label']}: {what}"
        parts.append(
            f"<h2>{html.escape(what)}</h2><p>kernel {html.escape(str(meta.get('kernel')))}, "
            f"testbed {html.escape(str(meta.get('testbed')))}</p>"
        )
        parts.append(_table(result))
        levels, knee = recommendations(result)
        advice = [
            f"<li><b>{html.escape(level)}</b>: "
            + html.escape(a.reasons[0] if a.reasons else "nothing to recommend")
            + "</li>"
            for level, a in levels.items()
        ]
        parts.append(
            "<h3>Recommended (rxtune advise, balanced goal)</h3><ul>" + "".join(advice) + "</ul>"
            + (f"<p>{html.escape(knee)}</p>" if knee else "")
        )  # fmt: skip
        if meta.get("left_out"):
            parts.append(
                f"<p>left out to fit the budget: {html.escape(', '.join(meta['left_out']))}</p>"
            )
    for figure in made:
        data = base64.b64encode(figure.png).decode()
        caption = html.escape(figure.caption)
        parts.append(
            f"<figure><img alt='{caption}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    for result in results:
        knobs = result["metadata"].get("knobs")
        if knobs:
            parts.append(
                "<h2>Knobs during the bench</h2><pre>"
                + html.escape(json.dumps(knobs, indent=1))
                + "</pre>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
