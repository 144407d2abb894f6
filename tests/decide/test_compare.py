"""compare: a change inside the noise is no result, a doubled latency is, and pipelines
can fail on it."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from rxtune.decide.compare import compare, ratio, worse_than
from rxtune.errors import InvalidValue

from conftest import run_rxtune


def test_one_configuration_twice_is_called_different_at_most_5_percent_of_the_time():
    """Rounds like this VM's (levels that jump between runs, noise within): two draws of
    one configuration must seldom differ; a real 30% change must mostly be found."""
    rng = np.random.default_rng(11)

    def rounds(level: float) -> list[float]:
        return list(level * (1 + rng.choice([0.0, 0.2], size=5)) * rng.lognormal(0, 0.05, 5))

    trials = 2000
    false = sum(ratio(rounds(4.1), rounds(4.1)).significant for _ in range(trials))
    found = sum(ratio(rounds(4.1), rounds(5.4)).significant for _ in range(trials))
    assert false / trials <= 0.05
    assert found / trials >= 0.8


def _row(label: str, p50: list[float]) -> dict:
    return {
        "label": label,
        "unsupported": None,
        "per_round": [
            {"p50": v, "p99": 2 * v, "machine_cpu_ns_per_round_trip": 10_000} for v in p50
        ],
    }


def _result(*rows: dict, mode: str = "pingpong") -> dict:
    return {"schema": "rxtune.bench/2", "mode": mode, "runs": list(rows)}


def test_a_doubled_latency_is_significant_and_fails_a_pipeline():
    base = _result(_row("epoll", [8000, 8400, 7900, 8600, 8100]))
    slower = _result(_row("epoll", [16000, 16800, 15800, 17200, 16200]))
    (row,) = compare(base, slower)["rows"]
    assert row["metrics"]["p50"]["verdict"] == "worse"
    assert 1.9 < row["metrics"]["p50"]["ratio"] < 2.1
    assert row["metrics"]["cost"]["verdict"] == "no significant change"
    assert worse_than(compare(base, slower), 50) == ["epoll p50", "epoll p99"]
    assert worse_than(compare(base, slower), 150) == []
    assert compare(slower, base)["rows"][0]["metrics"]["p50"]["verdict"] == "better"


def test_results_that_cannot_be_compared_are_refused():
    base = _result(_row("epoll", [8000, 8100]))
    with pytest.raises(InvalidValue, match="same --mode"):
        compare(base, _result(_row("epoll", [8000, 8100]), mode="load"))
    with pytest.raises(InvalidValue, match="no measured strategy in common"):
        compare(base, _result(_row("spin", [3000, 3100])))
    old = {**base, "schema": "rxtune.bench/1"}
    with pytest.raises(InvalidValue, match="older rxtune"):
        compare(old, base)


@pytest.mark.root
def test_the_command_on_real_results(tmp_path):
    base = tmp_path / "base.json"
    run_rxtune("bench", "-s", "epoll", "-d", "0.5", "--save", str(base), check=True)
    same = run_rxtune("compare", str(base), str(base), "--fail-if-worse", "5", "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["worse_than_limit"] == []
    doctored = copy.deepcopy(json.loads(base.read_text()))
    for entry in doctored["runs"][0]["per_round"]:
        entry["p50"] *= 2
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(doctored))
    out = run_rxtune("compare", str(base), str(slower), "--fail-if-worse", "10")
    assert out.returncode == 1 and "epoll p50" in out.stdout
    bad = run_rxtune("compare", str(base), str(slower), "--fail-if-worse", "lots")
    assert bad.returncode == 2 and "lots" in bad.stderr
