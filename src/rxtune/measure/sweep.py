"""The trade-off over load levels: every chosen strategy at every offered rate (load mode,
or a flood), and per rate the Pareto frontier of p99 latency against the machine's receive
CPU. Each rate is one bench (its strategies in interleaved rounds, settings applied and
restored as the bench does); rates run low, high, then the ones between, and the sweep is
saved after each, so Ctrl-C keeps what was measured and `resume` continues from there."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidValue
from ..strategies import LOAD, THROUGHPUT, Strategy
from ..testbed import veth
from . import bench, load

SWEEP_SCHEMA_ID = "rxtune.sweep/1"
FLOOD = 0  # the rate that stands for a flood (throughput mode)
ROUND_OVERHEAD_S = 0.45  # workers, start allowance and drain of one round, measured here
MIN_POINT_S = 0.5


@dataclass(frozen=True)
class SweepOptions:
    strategies: list[Strategy]
    rates: list[int]  # packets/s; FLOOD for a flood
    point_s: float = 1.0  # per strategy and rate, over its rounds
    rounds: int = 3
    testbed: str = "A"
    message_size: int = 64
    budget_s: float | None = None
    wait_s: float = 0.0
    left_out: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if not self.rates:
            raise InvalidValue("no rate to sweep", "e.g. --rates 10000,50000,200000,flood")
        for rate in self.rates:
            if rate != FLOOD and not 1 <= rate <= load.MAX_RATE:
                raise InvalidValue(f"rate {rate}", f"1..{load.MAX_RATE} packets/s, or flood")
        if not MIN_POINT_S <= self.point_s <= 600:
            raise InvalidValue(f"point duration {self.point_s} s", f"{MIN_POINT_S}..600 s")
        if self.budget_s is not None and self.budget_s < 10:
            raise InvalidValue(f"--budget {self.budget_s} s", "10 s or more")
        if not 1 <= self.rounds <= 100:
            raise InvalidValue(f"--rounds {self.rounds}", "1..100")
        veth.configuration(self.testbed)

    def estimate_s(self) -> float:
        per_point = self.point_s + self.rounds * ROUND_OVERHEAD_S
        return len(self.rates) * (len(self.strategies) * per_point + per_point)  # + null


def fit(options: SweepOptions) -> SweepOptions:
    """Shrink a sweep to its budget: shorter points first (down to MIN_POINT_S), then fewer
    rates (the middle ones first); what was left out is said in `left_out`."""
    if options.budget_s is None or options.estimate_s() <= options.budget_s:
        return options
    fitted = options
    while fitted.estimate_s() > options.budget_s and fitted.point_s > MIN_POINT_S:
        fitted = _with(fitted, point_s=max(MIN_POINT_S, round(fitted.point_s * 0.75, 2)))
    left = []
    rates = list(fitted.rates)
    while _with(fitted, rates=rates).estimate_s() > options.budget_s and len(rates) > 1:
        dropped = rates.pop(len(rates) // 2)
        left.append(f"rate {rate_name(dropped)}")
    fitted = _with(fitted, rates=rates)
    if fitted.point_s < options.point_s:
        left.insert(0, f"points shortened from {options.point_s} to {fitted.point_s} s")
    return _with(fitted, left_out=left)


def _with(options: SweepOptions, **changes: Any) -> SweepOptions:
    return SweepOptions(**{**options.__dict__, **changes})


def rate_name(rate: int) -> str:
    return "flood" if rate == FLOOD else f"{rate:,}/s"


def rates_text(rates: list[int]) -> str:
    """Rates as --rates takes them."""
    return ",".join("flood" if r == FLOOD else str(r) for r in rates)


def frontier_points(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per rate, the points on its frontier, cheapest first."""
    out = {}
    for name, labels in result["frontiers"].items():
        mine = [
            p for p in result["points"] if rate_name(p["rate"]) == name and p["label"] in labels
        ]
        out[name] = sorted(mine, key=lambda p: cores_of(p["row"]))
    return out


def measuring_order(rates: list[int]) -> list[int]:
    """Lowest, highest, then the middle ones alternating: a drift of the machine over the
    sweep does not line up with the rate."""
    ordered = sorted(rates, key=lambda r: (r == FLOOD, r))
    out = []
    while ordered:
        out.append(ordered.pop(0))
        if ordered:
            out.append(ordered.pop())
    return out


def cores_of(row: dict[str, Any]) -> float:
    """The machine's CPU a row took, in cores (a bench row of any mode)."""
    cost = row["cost"]
    return float(cost.get("receive_cores", cost.get("machine_cores", 0.0)))


def frontier(points: list[dict[str, Any]]) -> list[str]:
    """Labels of the points no other point beats on both p99 latency and receive cores
    (a flood has no latency: packets received per second against receive cores)."""

    def axes(point: dict[str, Any]) -> tuple[float, float] | None:
        row = point["row"]
        cores = cores_of(row)
        if "latency_ns" in row:
            p99 = row["latency_ns"]["p99"]
            return None if p99 is None else (float(p99), cores)
        return (-float(row["rate"]["received_pps"]), cores)

    measured = [(p["label"], found) for p in points if (found := axes(p)) is not None]
    return [
        label
        for label, (a, b) in measured
        if not any(
            (x <= a and y <= b) and (x < a or y < b) for other, (x, y) in measured if other != label
        )
    ]


Progress = Callable[[str, float], None]  # (what is measured now, seconds left)


def run(
    options: SweepOptions,
    progress: Progress | None = None,
    resume: dict[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The sweep; `resume` is an earlier, interrupted sweep of the same grid, whose rates
    are kept; `save` is called with the sweep after each rate."""
    options.validate()
    result: dict[str, Any] = (
        copy.deepcopy(resume)
        if resume
        else {
            "schema": SWEEP_SCHEMA_ID,
            "metadata": {
                "strategies": [s.label for s in options.strategies],
                "rates": options.rates,
                "point_s": options.point_s,
                "rounds": options.rounds,
                "testbed": options.testbed,
                "message_size": options.message_size,
                "left_out": options.left_out,
            },
            "points": [],
            "frontiers": {},
            "interrupted": False,
        }
    )
    done = {p["rate"] for p in result["points"]}
    todo = [r for r in measuring_order(options.rates) if r not in done]
    started = time.monotonic()
    per_rate = options.estimate_s() / max(len(options.rates), 1)
    result["interrupted"] = True  # until the last rate is in
    for index, rate in enumerate(todo):
        if progress:
            left = (len(todo) - index) * per_rate
            progress(f"{rate_name(rate)}: {len(options.strategies)} strategies", left)
        measured = bench.run(
            bench.Options(
                options.strategies,
                duration_s=options.point_s,
                message_size=options.message_size,
                testbed=options.testbed,
                mode=THROUGHPUT if rate == FLOOD else LOAD,
                rate_pps=rate,
                rounds=options.rounds,
                wait_s=options.wait_s,
            )
        )
        points = [
            {"rate": rate, "label": row["label"], "strategy": row["strategy"], "row": row}
            for row in measured["runs"]
            if not row["unsupported"]
        ]
        result["points"] += points
        result["frontiers"][rate_name(rate)] = frontier([p for p in points if _ranked(p["row"])])
        result["metadata"].setdefault("kernel", measured["metadata"]["kernel"])
        result["metadata"].setdefault("calibration", {})[rate_name(rate)] = measured["metadata"][
            "calibration"
        ]
        if save:
            save(result)
    result["interrupted"] = False
    result["metadata"]["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _ranked(row: dict[str, Any]) -> bool:
    """A point under its offered rate stays in the file, never on a frontier."""
    return not any(n["code"] == "under-rate" for n in row["notes"])


SWEEP_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "an rxtune sweep",
    "type": "object",
    "required": ["schema", "metadata", "points", "frontiers", "interrupted"],
    "properties": {
        "schema": {"const": SWEEP_SCHEMA_ID},
        "metadata": {"type": "object", "required": ["strategies", "rates", "point_s", "rounds"]},
        "points": {
            "type": "array",
            "items": {"type": "object", "required": ["rate", "label", "strategy", "row"]},
        },
        "frontiers": {"type": "object", "additionalProperties": {"type": "array"}},
        "interrupted": {"type": "boolean"},
    },
}
