"""Percentiles from every sample (numpy), never from a histogram or a subsample."""

from __future__ import annotations

from typing import Any

import numpy as np

PERCENTILES = {"min": 0, "p50": 50, "p90": 90, "p99": 99, "p999": 99.9, "max": 100}


def summarize(samples: np.ndarray) -> dict[str, Any]:
    """{min, p50, p90, p99, p999, max, mean, count} in the samples' unit; None when empty.
    Negative entries mark samples without a value (e.g. no kernel stamp) and are dropped."""
    values = samples[samples >= 0]
    if values.size == 0:
        return {**{k: None for k in PERCENTILES}, "mean": None, "count": 0}
    points = np.percentile(values, list(PERCENTILES.values()), method="linear")
    result: dict[str, Any] = {k: round(float(v)) for k, v in zip(PERCENTILES, points, strict=True)}
    result["mean"] = round(float(values.mean()))
    result["count"] = int(values.size)
    return result
