"""The sweep: its frontier is non-dominated, it fits a budget and says what it left out,
and an interrupted sweep resumes where it stopped."""

from __future__ import annotations

import jsonschema
import pytest

from rxtune.changes.transient import TransientChanges
from rxtune.errors import Unsupported
from rxtune.knobs.model import Target
from rxtune.knobs.registry import get
from rxtune.measure import sweep
from rxtune.strategies import select

from conftest import host_knobs


def _point(label: str, p99: float, cores: float, rate: int = 10_000) -> dict:
    row = {"latency_ns": {"p99": p99}, "cost": {"receive_cores": cores}, "notes": []}
    return {"rate": rate, "label": label, "strategy": label, "row": row}


def test_confirming_takes_the_frontier_and_what_screening_cannot_tell_from_it():
    points = [
        _point("busy", 3_000, 1.0),  # on the frontier
        _point("spin", 3_100, 1.02),  # beaten, but by less than the screening can tell
        _point("epoll", 20_000, 0.3),  # on the frontier
        _point("blocking", 21_000, 0.31),  # near epoll
        _point("slow", 40_000, 0.6),  # beaten clearly by epoll on both axes
        _point("dear", 3_000, 1.9),  # as fast as busy at almost twice the cores
    ]
    chosen = [p["label"] for p in sweep.candidates(points, most=10)]
    assert chosen[:2] == ["epoll", "busy"] or chosen[:2] == ["busy", "epoll"]
    assert set(chosen) == {"busy", "spin", "epoll", "blocking"}
    assert [p["label"] for p in sweep.candidates(points, most=1)] in (["busy"], ["epoll"])


def test_one_stalled_screening_round_does_not_keep_a_point_from_being_confirmed():
    stalled = _point("blocking", 2_000_000, 0.10)  # one round hit a 2 ms stall ...
    stalled["row"]["per_round"] = [
        {"latency_ns": {"p99": 2_000_000}},
        {"latency_ns": {"p99": 15_000}},
    ]
    points = [stalled, _point("epoll", 20_000, 0.09), _point("busy", 5_000, 1.0)]
    chosen = {p["label"] for p in sweep.candidates(points, most=10)}
    assert "blocking" in chosen  # ... its other round puts it on the frontier
    assert "blocking" not in sweep.frontier(points)  # pooled, epoll beats it: not hopeful


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
    assert fitted.left_out[0].startswith("screening points shortened")
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
def test_a_tiny_sweep_is_valid_confirms_and_an_interrupted_one_resumes(tmp_path):
    chosen = select(["epoll", "spin"], [50], "load")
    two_rates = sweep.SweepOptions(
        chosen, [20_000, 40_000], point_s=0.5, rounds=2, confirm_candidates=1, confirm_min_s=0.5
    )
    saved: list[dict] = []
    with pytest.raises(KeyboardInterrupt):  # interrupted after its first bench

        def save_then_stop(result: dict) -> None:
            saved.append(sweep.copy.deepcopy(result))
            raise KeyboardInterrupt

        sweep.run(two_rates, save=save_then_stop)
    [interrupted] = saved
    assert interrupted["interrupted"] is True
    assert [(b["stage"], b["rate"]) for b in interrupted["metadata"]["benches"]] == [
        ("screen", 20_000)
    ]
    done = sweep.run(two_rates, resume=interrupted)
    jsonschema.validate(done, sweep.SWEEP_SCHEMA)
    assert done["interrupted"] is False
    benches = [(b["stage"], b["rate"]) for b in done["metadata"]["benches"]]
    assert benches.count(("screen", 20_000)) == 1  # kept, not measured again
    assert sorted(benches) == sorted(
        [("screen", 20_000), ("screen", 40_000), ("confirm", 20_000), ("confirm", 40_000)]
    )
    for rate in (20_000, 40_000):
        mine = [p for p in done["points"] if p["rate"] == rate]
        assert {p["label"] for p in mine} == {"epoll", "spin"}
        assert sorted(p["stage"] for p in mine) == ["confirm", "screen"]  # one confirmed
        [confirmed] = [p for p in mine if p["stage"] == "confirm"]
        # its screening figures moved aside; the confirmed point has 5 rounds
        assert any(p["label"] == confirmed["label"] and p["rate"] == rate for p in done["screened"])
        assert confirmed["row"]["rounds"] == 5
        assert done["frontiers"][sweep.rate_name(rate)]
        assert set(done["frontiers"][sweep.rate_name(rate)]) <= {"epoll", "spin"}


def epoll_at_20k(*dimensions: sweep.Dimension) -> sweep.SweepOptions:
    """A one-strategy sweep of short points, nothing confirmed, over these dimensions."""
    return sweep.SweepOptions(
        select(["epoll"], [50], "load"), [20_000], point_s=0.5, rounds=1,
        confirm_candidates=0, dimensions=dimensions,
    )  # fmt: skip


@pytest.mark.root
def test_a_knob_is_a_dimension_set_for_its_points_and_restored():
    before = host_knobs()
    options = epoll_at_20k(sweep.Dimension(get("napi_defer_hard_irqs"), (0, 3)))
    seen = []
    real_set = TransientChanges.set

    def spy(self, knob, value, target=Target(), netns=None):
        if knob.name == "napi_defer_hard_irqs":
            seen.append((value, target.dev))
        return real_set(self, knob, value, target, netns)  # writes, then reads back

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransientChanges, "set", spy)
        result = sweep.run(options)
    # one bench, both values as rows of it, interleaved round by round
    [bench] = result["metadata"]["benches"]
    assert bench["points"] == ["epoll napi_defer_hard_irqs=0", "epoll napi_defer_hard_irqs=3"]
    assert {p["label"]: p["settings"] for p in result["points"]} == {
        "epoll napi_defer_hard_irqs=0": {"napi_defer_hard_irqs": 0},
        "epoll napi_defer_hard_irqs=3": {"napi_defer_hard_irqs": 3},
    }
    # each row's rounds ran with its value on both devices
    assert sorted(set(seen)) == [(0, "rx0"), (0, "tx0"), (3, "rx0"), (3, "tx0")]
    assert host_knobs() == before


@pytest.mark.root
def test_a_knob_the_device_lacks_is_refused_with_the_reason_and_changes_nothing():
    before = host_knobs()
    options = epoll_at_20k(
        sweep.Dimension(get("netdev_budget"), (300, 600)),
        sweep.Dimension(get("rx-usecs"), (0, 100)),
    )
    with pytest.raises(Unsupported, match=r"rx-usecs on (rx0|tx0): .*not supported"):
        sweep.run(options)
    assert host_knobs() == before
