"""advise on saved results: per load level on a sweep, and a profile that tune applies."""

from __future__ import annotations

import json
from pathlib import Path

from rxtune.decide.advice import advise_sweep

from conftest import run_rxtune

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_the_written_profile_is_exactly_what_tune_plans(tmp_path):
    written = tmp_path / "advised.toml"
    out = run_rxtune(
        "advise", str(RESULTS / "pingpong.json"), "--goal", "latency",
        "--write-profile", str(written), check=True,
    )  # fmt: skip
    assert f"written: {written}" in out.stdout
    level = json.loads(
        run_rxtune("advise", str(RESULTS / "pingpong.json"), "--goal", "latency", "--json").stdout
    )
    plan = run_rxtune("tune", "--profile", str(written), "--dry-run", check=True).stdout
    for name, value in level["settings"].items():
        assert any(line.startswith(name) and f" {value} " in line for line in plan.splitlines())
    assert "sysctl -w" in plan


def test_a_sweep_is_advised_per_load_level_with_its_knee():
    sweep = json.loads((RESULTS / "sweep.json").read_text())
    levels, knee = advise_sweep(sweep, "balanced")
    assert [name for name, _ in levels] == ["10,000/s", "50,000/s", "200,000/s"]
    assert all(advice.choice is not None for _, advice in levels)
    assert "busy polling" in knee and "10,000/s" in knee
    capped = dict(advise_sweep(sweep, "latency", cpu_budget=0.5)[0])
    assert all(a.choice["cost"]["receive_cores"] <= 0.5 for a in capped.values() if a.choice)


def test_writing_a_profile_from_a_sweep_needs_its_rate(tmp_path):
    out = run_rxtune(
        "advise", str(RESULTS / "sweep.json"), "--write-profile", str(tmp_path / "p.toml")
    )
    assert out.returncode == 2 and "10,000/s" in out.stderr
    assert not (tmp_path / "p.toml").exists()
