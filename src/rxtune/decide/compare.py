"""Did a change help? Two bench results of the same mode, strategy by strategy: the ratio
new/base of p50, p99 and the receive cost, each with a 95% confidence interval made from
the rounds of both results (not from one run's samples, which are autocorrelated), and
whether the change is significant: the interval leaves out 1."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidValue
from ..measure.schema import SCHEMA_ID, SUPERSEDED
from ..measure.stats import T_975

COMPARE_SCHEMA_ID = "rxtune.compare/1"
METRICS = ("p50", "p99", "cost")  # all lower-is-better


@dataclass(frozen=True)
class Ratio:
    value: float  # new / base (geometric mean of the rounds' ratios)
    low: float  # 95% interval
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 1 or self.high < 1

    @property
    def verdict(self) -> str:
        if not self.significant:
            return "no significant change"
        return "worse" if self.value > 1 else "better"


def round_values(run: dict[str, Any], metric: str) -> list[float]:
    """One row's per-round values of a metric (positive values only: a ratio needs them)."""
    values = []
    for entry in run.get("per_round", []):
        if metric == "cost":
            value = entry.get(
                "receive_cpu_ns_per_packet", entry.get("machine_cpu_ns_per_round_trip")
            )
        else:
            value = entry.get("latency_ns", entry).get(metric)
        if value is not None and value > 0:
            values.append(float(value))
    return values


def _welch(base: np.ndarray, new: np.ndarray) -> tuple[float, float]:
    """mean(new) - mean(base) and the half-width of its 95% interval (Welch's t)."""
    vb, vn = base.var(ddof=1) / len(base), new.var(ddof=1) / len(new)
    diff = float(new.mean() - base.mean())
    se = math.sqrt(vb + vn)
    if se == 0:
        return diff, 0.0
    df = (vb + vn) ** 2 / (vb**2 / (len(base) - 1) + vn**2 / (len(new) - 1))
    t = T_975[max(1, math.floor(df)) - 1] if df < len(T_975) + 1 else 1.96
    return diff, t * se


def ratio(base: list[float], new: list[float]) -> Ratio | None:
    """new/base with a 95% interval: Welch's t on the logarithms of the round values, so the
    interval of a ratio is symmetric on a log scale. None under 2 rounds on either side."""
    if len(base) < 2 or len(new) < 2:
        return None
    diff, half = _welch(np.log(base), np.log(new))
    return Ratio(math.exp(diff), math.exp(diff - half), math.exp(diff + half))


def difference(base: list[float], new: list[float]) -> tuple[float, float, float] | None:
    """new - base of the round means with a 95% interval (for figures that can be 0, such
    as a loss fraction, which a ratio cannot take). None under 2 rounds on either side."""
    if len(base) < 2 or len(new) < 2:
        return None
    diff, half = _welch(np.asarray(base, dtype=float), np.asarray(new, dtype=float))
    return diff, diff - half, diff + half


def compare(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """rxtune.compare/1: per strategy present in both, each metric's ratio and verdict."""
    for name, result in (("base", base), ("new", new)):
        if result.get("schema") in SUPERSEDED:
            raise InvalidValue(f"{name}: {SUPERSEDED[result['schema']]}", f"a {SCHEMA_ID} result")
    if base["mode"] != new["mode"]:
        raise InvalidValue(
            f"base is a {base['mode']} result and new a {new['mode']} one",
            "two results of the same --mode",
        )
    base_rows = {r["label"]: r for r in base["runs"] if not r["unsupported"]}
    rows = []
    for run in new["runs"]:
        if run["unsupported"] or run["label"] not in base_rows:
            continue
        metrics = {}
        for metric in METRICS:
            found = ratio(round_values(base_rows[run["label"]], metric), round_values(run, metric))
            metrics[metric] = (
                None
                if found is None
                else {
                    "ratio": round(found.value, 3),
                    "ci": [round(found.low, 3), round(found.high, 3)],
                    "significant": found.significant,
                    "verdict": found.verdict,
                }
            )
        rows.append({"strategy": run["label"], "metrics": metrics})
    if not rows:
        raise InvalidValue(
            "the two results have no measured strategy in common",
            "results of the same strategies (the same -s)",
        )
    return {"schema": COMPARE_SCHEMA_ID, "mode": new["mode"], "rows": rows}


def worse_than(comparison: dict[str, Any], percent: float) -> list[str]:
    """What got significantly worse by more than percent: 'strategy metric' entries."""
    limit = 1 + percent / 100
    return [
        f"{row['strategy']} {metric}"
        for row in comparison["rows"]
        for metric, found in row["metrics"].items()
        if found and found["significant"] and found["ratio"] > limit
    ]
