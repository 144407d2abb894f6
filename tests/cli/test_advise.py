"""advise on saved results: per load level on a sweep, and a profile that tune applies."""

from __future__ import annotations

import json
from pathlib import Path

from rxtune.decide.advice import advise_sweep
from rxtune.strategies import BY_NAME

from conftest import run_rxtune

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_the_written_profile_is_exactly_what_tune_plans(tmp_path):
    # the saved ping-pong result with only epoll and a host-wide busy poller in it, so the
    # recommendation has host settings to write
    saved = json.loads((RESULTS / "pingpong.json").read_text())
    saved["runs"] = [r for r in saved["runs"] if r["label"] in ("epoll", "busy_read(50)")]
    result = tmp_path / "two.json"
    result.write_text(json.dumps(saved))
    written = tmp_path / "advised.toml"
    out = run_rxtune(
        "advise", str(result), "--goal", "latency", "--write-profile", str(written), check=True,
    )  # fmt: skip
    assert f"written: {written}" in out.stdout
    level = json.loads(run_rxtune("advise", str(result), "--goal", "latency", "--json").stdout)
    assert level["strategy"] == "busy_read(50)"
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


def test_testbed_b_advice_rules_out_busy_polling_and_names_the_ethtool_fix():
    out = json.loads(
        run_rxtune(
            "advise", str(RESULTS / "testbed_b_pitfall.json"), "--goal", "latency",
            "--dev", "rx0", "--json", check=True,
        ).stdout
    )  # fmt: skip
    assert not BY_NAME[_strategy(out["strategy"])].busy_polls
    assert "ethtool -K rx0 rx-udp-gro-forwarding off" in out["fixes"]
    # the GRO note is said once, for all the busy pollers it concerns
    assert len([w for w in out["warnings"] if "rx-udp-gro-forwarding is on" in w]) == 1


def test_testbed_c_advice_says_busy_polling_is_impossible_and_how_to_get_a_napi_path():
    out = json.loads(
        run_rxtune(
            "advise", str(RESULTS / "testbed_c_no_napi.json"), "--goal", "latency", "--json",
            check=True,
        ).stdout
    )  # fmt: skip
    assert not BY_NAME[_strategy(out["strategy"])].busy_polls
    assert any("busy polling is impossible" in r for r in out["reasons"])
    assert any("gro on" in f for f in out["fixes"])


def test_testbed_a_advice_has_no_device_fix():
    out = json.loads(
        run_rxtune("advise", str(RESULTS / "pingpong.json"), "--json", check=True).stdout
    )
    assert out["fixes"] == []


def _strategy(label: str) -> str:
    return label.split("(")[0]
