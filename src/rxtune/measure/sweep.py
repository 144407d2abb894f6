"""The trade-off over load levels: every chosen strategy at every offered rate (load mode,
or a flood) and every combination of the knob dimensions, and per rate the Pareto frontier
of p99 latency against the machine's receive CPU.

Two stages. Screening measures the whole grid with short points; confirming measures again
the points near each rate's frontier, in longer interleaved rounds that hold enough samples
for the percentiles they report (p99.9 needs 10,000), and their figures replace the
screened ones. Each (stage, rate, knob combination) is one bench: its strategies in
interleaved rounds, settings applied and restored as the bench does. Rates run low, high,
then between, and the sweep is saved after each bench, so Ctrl-C keeps what was measured
and `resume` continues from there."""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidValue
from ..knobs.model import Knob
from ..knobs.registry import get
from ..strategies import LOAD, THROUGHPUT, Strategy, select
from ..testbed import veth
from . import bench, load

SWEEP_SCHEMA_ID = "rxtune.sweep/1"
FLOOD = 0  # the rate that stands for a flood (throughput mode)
ROUND_OVERHEAD_S = 0.45  # workers, start allowance and drain of one round, measured here
BENCH_OVERHEAD_S = 1.0  # the testbed built and removed around each bench
MIN_POINT_S = 0.5
MAX_BUDGET_S = 86_400  # a day: a larger budget is a typo, not a plan
SCREEN, CONFIRM = "screen", "confirm"
CONFIRM_SAMPLES = 12_000  # a confirmed load point holds this many: p99.9 needs 10,000
MAX_CONFIRM_S = 20.0
NEAR = 0.15  # a point within this of a frontier point on both axes is confirmed too
NEAR_CORES = 0.05  # ... or within this many cores, where the cores are few
MAX_CANDIDATES = 6  # per rate


@dataclass(frozen=True)
class Dimension:
    """A registry knob and the values the sweep sets it to: each strategy runs once per
    value (per combination, with several), as rows of one bench, interleaved."""

    knob: Knob
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepOptions:
    strategies: list[Strategy]
    rates: list[int]  # packets/s; FLOOD for a flood
    point_s: float = 0.6  # screening: per point (strategy, knob values, rate), over its rounds
    rounds: int = 2  # screening rounds
    testbed: str = "A"
    message_size: int = 64
    budget_s: float | None = None
    wait_s: float = 0.0
    left_out: list[str] = field(default_factory=list)
    dimensions: tuple[Dimension, ...] = ()
    confirm_candidates: int = MAX_CANDIDATES  # per rate; 0: no confirming stage
    confirm_rounds: int = 5
    confirm_min_s: float = 2.0

    def validate(self) -> None:
        if not self.rates:
            raise InvalidValue("no rate to sweep", "e.g. --rates 10000,50000,200000,flood")
        for rate in self.rates:
            if rate != FLOOD and not 1 <= rate <= load.MAX_RATE:
                raise InvalidValue(f"rate {rate}", f"1..{load.MAX_RATE} packets/s, or flood")
        if not MIN_POINT_S <= self.point_s <= 600:
            raise InvalidValue(f"point duration {self.point_s} s", f"{MIN_POINT_S}..600 s")
        if self.budget_s is not None and not 10 <= self.budget_s <= MAX_BUDGET_S:
            raise InvalidValue(f"--budget {self.budget_s} s", f"10..{MAX_BUDGET_S} s")
        if not 1 <= self.rounds <= 100:
            raise InvalidValue(f"--rounds {self.rounds}", "1..100")
        if not 0 <= self.confirm_candidates <= 100:
            raise InvalidValue(f"--confirm {self.confirm_candidates}", "0..100 points per rate")
        names = [d.knob.name for d in self.dimensions]
        if len(set(names)) < len(names):
            raise InvalidValue(f"a knob named twice in {names}", "each --knob once")
        veth.configuration(self.testbed)
        # the knob values checked as the bench checks them, before anything is measured
        self.bench_options(self.variants(), FLOOD, 1.0, 1).validate()

    def combinations(self) -> list[tuple[tuple[Knob, Any], ...]]:
        """Every combination of the dimensions' values; one empty one without dimensions."""
        return [
            tuple(zip((d.knob for d in self.dimensions), values, strict=True))
            for values in itertools.product(*(d.values for d in self.dimensions))
        ]

    def variants(self) -> list[Strategy]:
        """Every strategy with every combination: the rows of each bench, interleaved."""
        return [s.with_knobs(combo) for combo in self.combinations() for s in self.strategies]

    def confirm_s(self, rate: int) -> float:
        """A confirmed point's duration: enough samples for p99.9 at its rate."""
        wanted = CONFIRM_SAMPLES / rate if rate != FLOOD else 0.0
        return round(min(MAX_CONFIRM_S, max(self.confirm_min_s, wanted)), 2)

    def bench_options(
        self, strategies: list[Strategy], rate: int, duration_s: float, rounds: int
    ) -> bench.Options:
        return bench.Options(
            strategies,
            duration_s=duration_s,
            message_size=self.message_size,
            testbed=self.testbed,
            mode=THROUGHPUT if rate == FLOOD else LOAD,
            rate_pps=rate,
            rounds=rounds,
            wait_s=self.wait_s,
        )

    def estimate_s(self) -> float:
        """Seconds the sweep will take: every screening bench, and the confirming benches
        as if each rate had its full share of candidates."""
        points = len(self.variants()) + 1  # + the null receiver
        screen = points * (self.point_s + self.rounds * ROUND_OVERHEAD_S) + BENCH_OVERHEAD_S
        total = len(self.rates) * screen
        candidates = min(self.confirm_candidates, points - 1)
        for rate in self.rates if candidates else []:
            per_point = self.confirm_s(rate) + self.confirm_rounds * ROUND_OVERHEAD_S
            total += (candidates + 1) * per_point + BENCH_OVERHEAD_S
        return total


def fit(options: SweepOptions) -> SweepOptions:
    """Shrink a sweep to its budget: shorter screening points first (down to MIN_POINT_S),
    then fewer points confirmed, then fewer rates (the middle ones first); what was left
    out is said in `left_out`."""
    if options.budget_s is None or options.estimate_s() <= options.budget_s:
        return options
    budget = options.budget_s
    fitted = options
    while fitted.estimate_s() > budget and fitted.point_s > MIN_POINT_S:
        fitted = _with(fitted, point_s=max(MIN_POINT_S, round(fitted.point_s * 0.75, 2)))
    left = []
    if fitted.point_s < options.point_s:
        left.append(f"screening points shortened from {options.point_s} to {fitted.point_s} s")
    while fitted.estimate_s() > budget and fitted.confirm_candidates > 0:
        fitted = _with(fitted, confirm_candidates=fitted.confirm_candidates - 1)
    if fitted.confirm_candidates < options.confirm_candidates:
        left.append(
            f"{fitted.confirm_candidates} points confirmed per rate, not "
            f"{options.confirm_candidates}"
            + (" (the figures are the screening's)" if not fitted.confirm_candidates else "")
        )
    rates = list(fitted.rates)
    while _with(fitted, rates=rates).estimate_s() > budget and len(rates) > 1:
        left.append(f"rate {rate_name(rates.pop(len(rates) // 2))}")
    return _with(fitted, rates=rates, left_out=left)


def _with(options: SweepOptions, **changes: Any) -> SweepOptions:
    return SweepOptions(**{**options.__dict__, **changes})


def rate_name(rate: int) -> str:
    return "flood" if rate == FLOOD else f"{rate:,}/s"


def rates_text(rates: list[int]) -> str:
    """Rates as --rates takes them."""
    return ",".join("flood" if r == FLOOD else str(r) for r in rates)


def frontier_points(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per rate (lowest first, a flood last), the points on its frontier, cheapest first."""
    out = {}
    for rate in sorted({p["rate"] for p in result["points"]}, key=lambda r: (r == FLOOD, r)):
        labels = result["frontiers"].get(rate_name(rate), [])
        mine = [p for p in result["points"] if p["rate"] == rate and p["label"] in labels]
        out[rate_name(rate)] = sorted(mine, key=lambda p: cores_of(p["row"]))
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


def _axes(point: dict[str, Any]) -> tuple[float, float] | None:
    """(p99 ns, cores); a flood has no latency: minus the packets received per second."""
    row = point["row"]
    cores = cores_of(row)
    if "latency_ns" in row:
        p99 = row["latency_ns"]["p99"]
        return None if p99 is None else (float(p99), cores)
    return (-float(row["rate"]["received_pps"]), cores)


def frontier(points: list[dict[str, Any]]) -> list[str]:
    """Labels of the points no other point beats on both p99 latency and receive cores
    (a flood: packets received per second against receive cores)."""
    return _frontier_of({p["label"]: found for p in points if (found := _axes(p)) is not None})


def _frontier_of(axes: dict[str, tuple[float, float]]) -> list[str]:
    return [
        label
        for label, (a, b) in axes.items()
        if not any(
            (x <= a and y <= b) and (x < a or y < b)
            for other, (x, y) in axes.items()
            if other != label
        )
    ]


Progress = Callable[[str, float], None]  # (what is measured now, seconds left)


def run(
    options: SweepOptions,
    progress: Progress | None = None,
    resume: dict[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The sweep; `resume` is an earlier, interrupted sweep of the same grid, whose benches
    are kept; `save` is called with the sweep after each bench."""
    options.validate()
    variants = options.variants()
    result = copy.deepcopy(resume) if resume else _empty(options)
    if options.dimensions and not resume:  # a knob the device lacks: refused before measuring
        bench.preflight(options.bench_options(variants, options.rates[0], 1.0, 1))
    started = time.monotonic()
    budget = options.estimate_s()
    result["interrupted"] = True  # until the last bench is in
    by_label = {v.label: v for v in variants}

    def measure(stage: str, rate: int, strategies: list[Strategy]) -> None:
        if progress:
            what = f"{stage} {rate_name(rate)}: {len(strategies)} points"
            progress(what, _left(options, result, budget))
        screen = stage == SCREEN
        measured = bench.run(
            options.bench_options(
                strategies,
                rate,
                options.point_s if screen else options.confirm_s(rate),
                options.rounds if screen else options.confirm_rounds,
            )
        )
        _add(result, stage, rate, measured)
        if save:
            save(result)

    for rate in measuring_order(options.rates):
        if not _done(result, SCREEN, rate):
            measure(SCREEN, rate, variants)
    for rate in measuring_order(options.rates) if options.confirm_candidates else []:
        screened = [
            p for p in result["points"] + result["screened"]
            if p["rate"] == rate and p["stage"] == SCREEN
        ]  # fmt: skip
        chosen = [by_label[p["label"]] for p in candidates(screened, options.confirm_candidates)]
        if chosen and not _done(result, CONFIRM, rate):
            measure(CONFIRM, rate, chosen)
    result["interrupted"] = False
    result["metadata"]["elapsed_s"] = round(
        result["metadata"].get("elapsed_s", 0) + time.monotonic() - started, 1
    )
    return result


def resumed(earlier: dict[str, Any], wait_s: float = 0.0) -> SweepOptions:
    """The options of an interrupted sweep, from its own metadata: a resumed sweep measures
    the same grid, whatever else the command line says."""
    meta = earlier["metadata"]
    strategies = select(meta["strategy_names"], meta["busy_poll_us"] or [50], LOAD)
    return SweepOptions(
        strategies,
        meta["rates"],
        meta["point_s"],
        meta["rounds"],
        meta["testbed"],
        meta["message_size"],
        wait_s=wait_s,
        left_out=meta["left_out"],
        dimensions=tuple(
            Dimension(get(name), tuple(values)) for name, values in meta["dimensions"].items()
        ),
        confirm_candidates=meta["confirm"]["candidates_per_rate"],
        confirm_rounds=meta["confirm"]["rounds"],
    )


def _empty(options: SweepOptions) -> dict[str, Any]:
    return {
        "schema": SWEEP_SCHEMA_ID,
        "metadata": {
            "strategies": [s.label for s in options.strategies],
            "strategy_names": list(dict.fromkeys(s.name for s in options.strategies)),
            "busy_poll_us": sorted({s.busy_poll_us for s in options.strategies} - {None}),
            "rates": options.rates,
            "dimensions": {d.knob.name: list(d.values) for d in options.dimensions},
            "point_s": options.point_s,
            "rounds": options.rounds,
            "confirm": {
                "candidates_per_rate": options.confirm_candidates,
                "rounds": options.confirm_rounds,
                "seconds_by_rate": {rate_name(r): options.confirm_s(r) for r in options.rates},
                "samples": CONFIRM_SAMPLES,
            },
            "testbed": options.testbed,
            "message_size": options.message_size,
            "left_out": options.left_out,
            "benches": [],
        },
        "points": [],
        "screened": [],
        "frontiers": {},
        "interrupted": False,
    }


def _done(result: dict[str, Any], stage: str, rate: int) -> bool:
    return any(b["stage"] == stage and b["rate"] == rate for b in result["metadata"]["benches"])


def _left(options: SweepOptions, result: dict[str, Any], budget: float) -> float:
    """Seconds left, from the share of benches done (confirming benches count double)."""
    done = sum(1 + (b["stage"] == CONFIRM) for b in result["metadata"]["benches"])
    total = len(options.rates) * (3 if options.confirm_candidates else 1)
    return max(0.0, budget * (1 - done / max(total, done + 1)))


def _add(result: dict[str, Any], stage: str, rate: int, measured: dict[str, Any]) -> None:
    """A bench's rows as points; a confirmed point replaces its screened one, which moves
    to `screened`. The rate's frontier is made again."""
    for row in measured["runs"]:
        if row["unsupported"]:
            continue
        point = {
            "rate": rate, "label": row["label"], "strategy": row["strategy"],
            "settings": row["params"]["knobs"], "stage": stage, "row": row,
        }  # fmt: skip
        earlier = [p for p in result["points"] if p["rate"] == rate and p["label"] == row["label"]]
        for old in earlier:
            result["points"].remove(old)
            result["screened"].append(old)
        result["points"].append(point)
    mine = [p for p in result["points"] if p["rate"] == rate]
    result["frontiers"][rate_name(rate)] = frontier([p for p in mine if _ranked(p["row"])])
    metadata = result["metadata"]
    metadata.setdefault("kernel", measured["metadata"]["kernel"])
    metadata["benches"].append(
        {
            "stage": stage,
            "rate": rate,
            "points": [r["label"] for r in measured["runs"]],
            "calibration": measured["metadata"]["calibration"],
            "unsupported": {
                r["label"]: r["unsupported"] for r in measured["runs"] if r["unsupported"]
            },
        }
    )


def _hopeful(point: dict[str, Any]) -> tuple[float, float] | None:
    """A screened point's axes at its best round's p99: one stall (the hypervisor's, the
    sender preempted) in a short round must not keep a point from being confirmed."""
    found = _axes(point)
    rounds = [
        r["latency_ns"]["p99"] for r in point["row"].get("per_round", []) if "latency_ns" in r
    ]
    rounds = [p for p in rounds if p is not None]
    if found is None or not rounds or found[0] < 0:  # a flood ranks by packets, not p99
        return found
    return (float(min(rounds)), found[1])


def candidates(points: list[dict[str, Any]], most: int) -> list[dict[str, Any]]:
    """The points of one rate worth confirming, judged at their best round (`_hopeful`):
    on the frontier, or so near it that the screening's short rounds cannot tell them from
    a frontier point (no point is as good on both axes and better by NEAR on one); the
    frontier's first, then by p99, at most `most`."""
    axes = {id(p): found for p in points if _ranked(p["row"]) and (found := _hopeful(p))}
    ranked = [p for p in points if id(p) in axes]
    on = set(_frontier_of({p["label"]: axes[id(p)] for p in ranked}))

    def clearly_beaten(point: dict[str, Any]) -> bool:
        a, b = axes[id(point)]
        return any(
            x <= a and y <= b and (x + abs(x) * NEAR < a or y + max(NEAR * y, NEAR_CORES) < b)
            for other in ranked
            if other is not point
            for x, y in [axes[id(other)]]
        )

    near = [p for p in ranked if p["label"] in on or not clearly_beaten(p)]
    near.sort(key=lambda p: (p["label"] not in on, axes[id(p)]))
    return near[:most]


def _ranked(row: dict[str, Any]) -> bool:
    """A point under its offered rate stays in the file, never on a frontier."""
    return not any(n["code"] == "under-rate" for n in row["notes"])


SWEEP_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "an rxtune sweep",
    "type": "object",
    "required": ["schema", "metadata", "points", "screened", "frontiers", "interrupted"],
    "properties": {
        "schema": {"const": SWEEP_SCHEMA_ID},
        "metadata": {
            "type": "object",
            "required": ["strategies", "rates", "dimensions", "point_s", "rounds", "benches"],
        },
        "points": {
            "type": "array",
            "description": "the latest figures of each point: confirmed where it was",
            "items": {
                "type": "object",
                "required": ["rate", "label", "strategy", "settings", "stage", "row"],
                "properties": {"stage": {"enum": [SCREEN, CONFIRM]}},
            },
        },
        "screened": {
            "type": "array",
            "description": "screening figures of the points confirmed since",
        },
        "frontiers": {"type": "object", "additionalProperties": {"type": "array"}},
        "interrupted": {"type": "boolean"},
    },
}
