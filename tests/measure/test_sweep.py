"""The sweep: its frontier is non-dominated, it fits a budget and says what it left out,
and an interrupted sweep resumes where it stopped."""

from __future__ import annotations

import jsonschema
import pytest

from rxtune.measure import sweep
from rxtune.strategies import select


def _point(label: str, p99: float, cores: float, rate: int = 10_000) -> dict:
    row = {"latency_ns": {"p99": p99}, "cost": {"receive_cores": cores}, "notes": []}
    return {"rate": rate, "label": label, "strategy": label, "row": row}


def test_the_frontier_holds_exactly_the_points_no_other_beats_on_both():
    points = [
        _point("spin", 3_000, 1.1),
        _point("busy", 3_000, 1.0),  # beats spin: as fast, cheaper
        _point("epoll", 8_000, 0.5),
        _point("blocking", 7_000, 0.5),  # beats epoll
        _point("tpacket", 900_000, 0.1),
        _point("slow", 950_000, 0.2),  # beaten by tpacket
    ]
    on = sweep.frontier(points)
    assert sorted(on) == ["blocking", "busy", "tpacket"]
    for label in on:  # non-dominated, checked the long way
        mine = next(p for p in points if p["label"] == label)["row"]
        a, b = mine["latency_ns"]["p99"], mine["cost"]["receive_cores"]
        assert not any(
            p["row"]["latency_ns"]["p99"] <= a
            and p["row"]["cost"]["receive_cores"] <= b
            and (p["row"]["latency_ns"]["p99"], p["row"]["cost"]["receive_cores"]) != (a, b)
            for p in points
        )


def test_a_budget_shortens_points_then_drops_middle_rates_and_says_so():
    options = sweep.SweepOptions(
        select(None, [50], "load"), [10_000, 50_000, 100_000, 200_000], point_s=3.0, budget_s=60
    )
    fitted = sweep.fit(options)
    assert fitted.estimate_s() <= 60 or len(fitted.rates) == 1
    assert fitted.point_s < 3.0 and fitted.left_out
    assert fitted.left_out[0].startswith("points shortened")
    assert 10_000 in fitted.rates  # the lowest rate stays
    assert sweep.fit(sweep.SweepOptions(options.strategies, [10_000], 1.0)).left_out == []


def test_rates_are_measured_low_high_then_between():
    assert sweep.measuring_order([50_000, 10_000, 0, 200_000, 100_000]) == [
        10_000,
        0,
        50_000,
        200_000,
        100_000,
    ]


@pytest.mark.root
def test_a_tiny_sweep_is_valid_and_an_interrupted_one_resumes(tmp_path):
    chosen = select(["epoll", "spin"], [50], "load")
    saved: list[dict] = []
    first = sweep.run(
        sweep.SweepOptions(chosen, [20_000], point_s=0.5, rounds=2), save=saved.append
    )
    jsonschema.validate(first, sweep.SWEEP_SCHEMA)
    assert {p["label"] for p in first["points"]} == {"epoll", "spin"}
    assert set(first["frontiers"]["20,000/s"]) <= {"epoll", "spin"}
    assert first["frontiers"]["20,000/s"]
    # as if interrupted after the first rate of a grid of two: resume measures the other
    interrupted = {**saved[-1], "interrupted": True}
    interrupted["metadata"] = {**interrupted["metadata"], "rates": [20_000, 40_000]}
    resumed = sweep.run(
        sweep.SweepOptions(chosen, [20_000, 40_000], point_s=0.5, rounds=2), resume=interrupted
    )
    assert resumed["interrupted"] is False
    assert sorted({p["rate"] for p in resumed["points"]}) == [20_000, 40_000]
    assert [p for p in resumed["points"] if p["rate"] == 20_000] == first["points"]
