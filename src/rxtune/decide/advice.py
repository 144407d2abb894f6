"""From bench results to a recommendation. Every claim quotes a measured figure; where the
figures show the path is not set up for busy polling (no NAPI id, GRO holding datagrams),
that comes first, since no strategy can fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidValue
from ..knobs.model import Knob
from ..measure.notes import GRO_FORWARDING, NO_NAPI
from ..strategies import BY_NAME, build
from . import snippets

GOALS = ("latency", "cpu", "balanced")
BALANCED_CPU_FACTOR = 1.5  # balanced: at most this much of the best sleeping row's CPU
SIGNIFICANT = 0.10  # a smaller latency gain is within run-to-run noise
# notes about the path itself, which no strategy can fix: shown first
PATH_NOTES = (NO_NAPI, GRO_FORWARDING)


@dataclass
class Advice:
    goal: str
    mode: str
    choice: dict[str, Any] | None
    baseline: dict[str, Any] | None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    # what `rxtune.tune(values=...)` / apply.tune.Request take as they are
    settings: list[tuple[Knob, Any]] = field(default_factory=list)
    code: str = ""
    python: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "rxtune.advice/1",
            "goal": self.goal,
            "mode": self.mode,
            "strategy": self.choice["label"] if self.choice else None,
            "baseline": self.baseline["label"] if self.baseline else None,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "commands": self.commands,
            "settings": {knob.name: value for knob, value in self.settings},
            "code": self.code,
            "python": self.python,
        }


def _latency(run: dict[str, Any], key: str) -> float:
    value = run.get("latency_ns", {}).get(key)
    return float("inf") if value is None else value


def _cpu(run: dict[str, Any]) -> float:
    return run["cost"]["cpu_ns_per_packet"]


def _core(run: dict[str, Any]) -> float:
    """The receiving thread's share of one core: a busy poller keeps its core whatever the
    rate, so this, not CPU per packet, is what latency is traded against."""
    return run["cost"]["cpu_fraction"]


def _usable(run: dict[str, Any]) -> bool:
    return not run["unsupported"] and not run["packets"]["lost"]


def _throughput(run: dict[str, Any]) -> float:
    rate = run["rate"]
    return rate.get("received_pps") or rate.get("round_trips_per_s") or 0


def advise(result: dict[str, Any], goal: str = "balanced", dev: str | None = None) -> Advice:
    if goal not in GOALS:
        raise InvalidValue(f"unknown goal '{goal}'", GOALS)
    if result.get("schema") != "rxtune.bench/1":
        raise InvalidValue("not an rxtune bench result", "a file written by `rxtune bench --save`")
    runs = [r for r in result["runs"] if _usable(r)]
    advice = Advice(goal, result["mode"], None, None)
    for run in result["runs"]:
        if run["unsupported"]:
            advice.warnings.append(f"{run['label']} could not run here: {run['unsupported']}")
        for note in run.get("notes", []):
            if isinstance(note, dict) and note["code"] in PATH_NOTES:  # bench/1 had text only
                advice.warnings.append(f"{run['label']}: {note['text']}")
    if not runs:
        advice.reasons.append(
            "no strategy ran without losses: nothing to recommend from these figures"
        )
        return advice
    sleeping = [r for r in runs if BY_NAME[r["strategy"]].sleeps]
    advice.baseline = min(
        sleeping or runs,
        key=lambda r: _latency(r, "p50") if result["mode"] != "throughput" else _cpu(r),
    )
    if result["mode"] == "throughput":
        best = max(runs, key=_throughput) if goal != "cpu" else min(runs, key=_cpu)
    elif goal == "latency":
        best = min(runs, key=lambda r: (_latency(r, "p99"), _latency(r, "p50")))
    elif goal == "cpu":
        best = min(runs, key=_core)
    else:
        budget = _core(advice.baseline) * BALANCED_CPU_FACTOR
        affordable = [r for r in runs if _core(r) <= budget] or [advice.baseline]
        best = min(affordable, key=lambda r: (_latency(r, "p99"), _latency(r, "p50")))
        fastest = min(runs, key=lambda r: _latency(r, "p99"))
        if fastest is not best:
            advice.reasons.append(
                f"{fastest['label']} is faster (p99 {_latency(fastest, 'p99') / 1000:.1f} µs) but "
                f"keeps {100 * _core(fastest):.0f}% of a core busy, over the balanced budget of "
                f"{100 * budget:.0f}% ({BALANCED_CPU_FACTOR}× {advice.baseline['label']}); "
                f"--goal latency takes it"
            )
    base = advice.baseline
    if (
        result["mode"] != "throughput"
        and goal != "cpu"
        and best is not base
        and not (
            _latency(best, "p50") < (1 - SIGNIFICANT) * _latency(base, "p50")
            or _latency(best, "p99") < (1 - SIGNIFICANT) * _latency(base, "p99")
        )
    ):
        advice.reasons.append(
            f"{best['label']} is within {SIGNIFICANT:.0%} of "
            f"{base['label']} at p50 and p99: noise, not a reason to change"
        )
        best = base
    advice.choice = best
    if result["mode"] == "throughput":
        advice.reasons.insert(
            0,
            f"{best['label']} received {_throughput(best):,.0f} packets/s at "
            f"{_cpu(best) / 1000:.2f} µs of receiver CPU per packet "
            f"({base['label']}: {_throughput(base):,.0f}/s, "
            f"{_cpu(base) / 1000:.2f} µs)",
        )
    elif best is base:
        advice.reasons.insert(
            0,
            (
                f"keep {base['label']}: p50 {_latency(base, 'p50') / 1000:.1f} µs, p99 "
                f"{_latency(base, 'p99') / 1000:.1f} µs with {100 * _core(base):.0f}% of a core; "
                f"nothing that fits the {goal} goal does better by {SIGNIFICANT:.0%}"
            ),
        )
    else:
        advice.reasons.insert(
            0,
            (
                f"{best['label']}: p50 {_latency(best, 'p50') / 1000:.1f} µs, p99 "
                f"{_latency(best, 'p99') / 1000:.1f} µs against {base['label']}'s "
                f"{_latency(base, 'p50') / 1000:.1f} / {_latency(base, 'p99') / 1000:.1f} µs; "
                f"the receiving thread keeps {100 * _core(best):.0f}% of a core busy against "
                f"{100 * _core(base):.0f}%"
            ),
        )
        split = best.get("split_ns", {}).get("kernel_to_app", {}).get("p50")
        base_split = base.get("split_ns", {}).get("kernel_to_app", {}).get("p50")
        if split is not None and base_split and best is not base and split < base_split:
            advice.reasons.append(
                f"the gain is in the wait from the kernel's RX stamp to the "
                f"application: {base_split / 1000:.1f} → {split / 1000:.1f} µs"
            )
    if best.get("busy_poll_rx_packets") == 0 and BY_NAME[best["strategy"]].busy_polls:
        advice.warnings.append(
            f"{best['label']}: BusyPollRxPackets did not grow: busy polling "
            "never found a packet on this path"
        )
    strategy = build(
        best["strategy"],
        best["params"].get("busy_poll_us") or 50,
        best["params"].get("batch") or 32,
    )
    advice.commands = snippets.commands(strategy, dev)
    advice.settings = snippets.settings(strategy)
    advice.code = strategy.code()
    advice.python = strategy.python()
    return advice
