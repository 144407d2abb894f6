"""The figures, each from result data to PNG bytes (matplotlib's Agg backend: no display,
no network). A figure that has nothing to show returns None."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..measure.sweep import cores_of

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9), ("p9999", 99.99))
SPLITS = (
    ("send_delay", "sent late"),
    ("to_rx_stamp", "→ RX stamp"),
    ("rx_stamp_to_app", "stamp → app"),
)
PARTS = (
    ("receiving_cpu_busy", "receiving CPU busy"),
    ("net_rx_softirq_elsewhere", "NET_RX softirq elsewhere"),
    ("napi_threads_elsewhere", "NAPI threads elsewhere"),
)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _with_latency(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if not r["unsupported"] and r.get("latency_ns", {}).get("p50")]


def percentile_curve(runs: list[dict[str, Any]]) -> bytes | None:
    """Latency by percentile, one line per strategy, on the 1/(1-q) axis HdrHistogram uses."""
    rows = _with_latency(runs)
    if not rows:
        return None
    figure, axis = plt.subplots(figsize=(8, 4.5))
    x = [1 / (1 - q / 100) for _, q in PERCENTILES]
    for row in rows:  # each line ends at the last percentile its sample count supports
        shown = [
            (at, row["latency_ns"][key] / 1000)
            for at, (key, _) in zip(x, PERCENTILES, strict=True)
            if row["latency_ns"].get(key) is not None
        ]
        axis.plot(*zip(*shown, strict=True), marker="o", label=row["label"])
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xticks(x, [name for name, _ in PERCENTILES])
    axis.set_xlabel("percentile")
    axis.set_ylabel("latency (µs)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    return _png(figure)


def split_bars(runs: list[dict[str, Any]]) -> bytes | None:
    """Where the p50 latency goes: the parts of the split, stacked, one bar per strategy."""
    rows = [r for r in _with_latency(runs) if "split_ns" in r]
    if not rows:
        return None
    figure, axis = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
    left = [0.0] * len(rows)
    for key, name in SPLITS:
        values = [((r["split_ns"].get(key) or {}).get("p50") or 0) / 1000 for r in rows]
        if any(values):
            axis.barh([r["label"] for r in rows], values, left=left, label=name)
            left = [a + b for a, b in zip(left, values, strict=True)]
    axis.set_xlabel("p50 of each part (µs)")
    axis.invert_yaxis()
    axis.legend(fontsize=7)
    return _png(figure)


def cpu_parts(runs: list[dict[str, Any]]) -> bytes | None:
    """Where each strategy's receive CPU goes, per packet, with the thread's own figure."""
    rows = [r for r in runs if not r["unsupported"] and "receive_parts_ns" in r.get("cost", {})]
    if not rows:
        return None
    figure, axis = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
    left = [0.0] * len(rows)
    for key, name in PARTS:
        values = [
            r["cost"]["receive_parts_ns"][key] / max(r["packets"]["received"], 1) / 1000
            for r in rows
        ]
        axis.barh([r["label"] for r in rows], values, left=left, label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    # a PM QoS limit's cost: CPUs spinning in the idle loop, which busy time counts as idle
    polling = [
        (r["cost"].get("polling_in_idle_ns") or 0) / max(r["packets"]["received"], 1) / 1000
        for r in rows
    ]
    if any(polling):
        axis.barh([r["label"] for r in rows], polling, left=left, hatch="//", color="white",
                  edgecolor="tab:red", label="polling in idle (not busy time)")  # fmt: skip
    thread = [(r["cost"]["thread_cpu_ns_per_packet"] or 0) / 1000 for r in rows]
    axis.scatter(thread, [r["label"] for r in rows], color="black", marker="|", s=200,
                 label="the receiving thread alone", zorder=3)  # fmt: skip
    axis.set_xlabel("receive CPU per packet (µs), the whole machine")
    axis.invert_yaxis()
    axis.legend(fontsize=7)
    return _png(figure)


def per_cpu(runs: list[dict[str, Any]], receiving_cpu: int | None) -> bytes | None:
    """Each CPU's time over each strategy's traffic window, in % of that CPU: NET_RX
    softirq, NAPI threads, and the rest of its busy time (threads: the receiver on the
    receiving CPU, the sender on the other), so a poll that runs on the sender's CPU shows."""
    rows = [
        (r["label"], cpu)
        for r in runs
        if not r["unsupported"]
        for cpu in r.get("cpus", [])
        if cpu.get("busy_ns") is not None and (cpu["busy_ns"] + cpu["idle_ns"]) > 0
    ]
    if not rows:
        return None
    figure, axis = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.4))
    names = [
        f"{label} · cpu{c['cpu']}{' (receiver)' if c['cpu'] == receiving_cpu else ''}"
        for label, c in rows
    ]

    def share(c: dict[str, Any], ns: float) -> float:
        return 100 * ns / (c["busy_ns"] + c["idle_ns"])

    parts = (
        ("NET_RX softirq", [share(c, c["net_rx_softirq_ns"]) for _, c in rows]),
        ("NAPI threads", [share(c, c["napi_thread_ns"]) for _, c in rows]),
        (
            "other busy (threads)",
            [
                share(c, max(0, c["busy_ns"] - c["net_rx_softirq_ns"] - c["napi_thread_ns"]))
                for _, c in rows
            ],
        ),
    )
    left = [0.0] * len(rows)
    for name, values in parts:
        axis.barh(names, values, left=left, label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    axis.set_xlim(0, 100)
    axis.set_xlabel("% of each CPU over the traffic windows")
    axis.invert_yaxis()
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(fontsize=7)
    return _png(figure)


def latency_against_cpu(
    points: list[dict[str, Any]], on_frontier: list[str], title: str, recommended: str | None = None
) -> bytes | None:
    """p99 against the machine's receive cores, one dot per strategy, the frontier drawn,
    the recommended point ringed."""
    shown = [p for p in points if p["row"].get("latency_ns", {}).get("p99")]
    rows = [(p["label"], p["row"]) for p in shown]
    if not rows:
        return None
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for point in shown:
        label, row = point["label"], point["row"]
        x, y = cores_of(row), row["latency_ns"]["p99"] / 1000
        color = "tab:green" if label in on_frontier else "tab:grey"
        if point.get("stage") == "screen":  # short rounds only: its p99 is a rough one
            axis.scatter([x], [y], facecolors="white", edgecolors=color)
        else:
            axis.scatter([x], [y], color=color)
        axis.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if any(p.get("stage") == "screen" for p in shown):
        axis.scatter([], [], facecolors="white", edgecolors="tab:grey",
                     label="screened only (short rounds)")  # fmt: skip
    front = sorted(
        (cores_of(row), row["latency_ns"]["p99"] / 1000)
        for label, row in rows
        if label in on_frontier
    )
    if front:
        axis.plot(*zip(*front, strict=True), color="tab:green", label="frontier")
    for label, row in rows:
        if label == recommended:
            axis.scatter([cores_of(row)], [row["latency_ns"]["p99"] / 1000], s=260,
                         facecolors="none", edgecolors="tab:red", linewidths=2,
                         label="recommended (balanced)")  # fmt: skip
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=7)
    axis.set_yscale("log")
    axis.set_xlabel("CPU the receive path took (cores, the whole machine)")
    axis.set_ylabel("p99 latency (µs)")
    axis.set_title(title, fontsize=9)
    axis.grid(True, alpha=0.3)
    return _png(figure)


def latency_against_rate(points: list[dict[str, Any]]) -> bytes | None:
    """p99 against offered rate, one line per strategy; a point that fell short of its
    offered rate is drawn hollow."""
    paced = [p for p in points if p["rate"] and p["row"].get("latency_ns", {}).get("p99")]
    if not paced:
        return None
    figure, axis = plt.subplots(figsize=(8, 4.5))
    for label in dict.fromkeys(p["label"] for p in paced):
        mine = sorted((p for p in paced if p["label"] == label), key=lambda p: p["rate"])
        rates = [p["rate"] for p in mine]
        p99 = [p["row"]["latency_ns"]["p99"] / 1000 for p in mine]
        (line,) = axis.plot(rates, p99, marker="o", label=label)
        short = [(r, y) for p, r, y in zip(mine, rates, p99, strict=True) if _short(p["row"])]
        if short:
            xs, ys = zip(*short, strict=True)
            axis.scatter(
                xs,
                ys,
                facecolors="white",
                edgecolors=line.get_color(),
                zorder=3,
                s=60,
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("offered rate (packets/s); hollow: the sender fell short of it")
    axis.set_ylabel("p99 latency (µs)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    return _png(figure)


def _short(row: dict[str, Any]) -> bool:
    return any(n["code"] == "under-rate" for n in row.get("notes", []))
