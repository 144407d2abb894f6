"""Percentiles from every sample (numpy), never from a histogram or a subsample; intervals
over rounds. Samples of one run are autocorrelated and most of the variance on a shared
machine is between runs, so a bootstrap over one run's samples would be too narrow: a
figure's 95% confidence interval comes from its values in interleaved rounds (Student's t
over the round values)."""

from __future__ import annotations

from typing import Any

import numpy as np

PERCENTILES = {
    "min": 0, "p50": 50, "p90": 90, "p99": 99, "p999": 99.9, "p9999": 99.99, "max": 100
}  # fmt: skip
# a percentile is reported only with this many samples beyond it: p99 needs 1,000 samples,
# p99.99 100,000 (with fewer, "p99.99" is the maximum of a handful, and moves with it)
MIN_BEYOND = 10


def supported(q: float, count: int) -> bool:
    """Whether `count` samples support the q-th percentile (min, max and p50 always do)."""
    return q in (0, 50, 100) or count * (1 - q / 100) >= MIN_BEYOND - 1e-9


# two-sided 95% quantiles of Student's t by degrees of freedom; 1.96 beyond the table
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip
INTERVAL_KEYS = ("p50", "p99")


def interval(values: list[float]) -> list[float] | None:
    """The 95% confidence interval of the mean of per-round values; None under 2 rounds."""
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    t = T_975[len(data) - 2] if len(data) - 1 <= len(T_975) else 1.96
    half = t * float(data.std(ddof=1)) / np.sqrt(len(data))
    mean = float(data.mean())
    return [round(mean - half, 1), round(mean + half, 1)]


def summarize(samples: np.ndarray, rounds: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """{min, p50, p90, p99, p999, p9999, max, mean, count} in the samples' unit; None when
    empty, and a percentile None where too few samples lie beyond it (`supported`).
    Negative entries mark samples without a value (e.g. no kernel stamp) and are dropped.
    With the summaries of the rounds the samples came from: p50_ci and p99_ci."""
    values = samples[samples >= 0]
    if values.size == 0:
        result: dict[str, Any] = {**{k: None for k in PERCENTILES}, "mean": None, "count": 0}
    else:
        points = np.percentile(values, list(PERCENTILES.values()), method="linear")
        result = {
            k: round(float(v)) if supported(q, values.size) else None
            for (k, q), v in zip(PERCENTILES.items(), points, strict=True)
        }
        result["mean"] = round(float(values.mean()))
        result["count"] = int(values.size)
    if rounds is not None:
        for key in INTERVAL_KEYS:
            result[f"{key}_ci"] = interval([r[key] for r in rounds if r[key] is not None])
    return result


def overlaps(a: list[float] | None, b: list[float] | None) -> bool:
    """Whether two intervals overlap; a missing interval overlaps everything (no claim)."""
    return a is None or b is None or (a[0] <= b[1] and b[0] <= a[1])
