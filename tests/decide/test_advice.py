"""advise on results whose figures are chosen to make each rule decide."""

from __future__ import annotations

import pytest

from rxtune.decide.advice import advise
from rxtune.errors import InvalidValue


def row(name, label, p50, p99, core, napi=7, busy=0, lost=0, k2a=None, notes=(), us=None):
    return {
        "strategy": name,
        "label": label,
        "unsupported": None,
        "params": {"busy_poll_us": us, "batch": None},
        "latency_ns": {"p50": p50, "p99": p99},
        "split_ns": {"kernel_to_app": {"p50": k2a}},
        "packets": {"lost": lost},
        "rate": {"round_trips_per_s": 1000},
        "cost": {"cpu_ns_per_packet": 1000, "cpu_fraction": core},
        "napi_id": napi,
        "busy_poll_rx_packets": busy,
        "notes": list(notes),
    }


def result(*runs, mode="pingpong"):
    return {"schema": "rxtune.bench/1", "mode": mode, "metadata": {}, "runs": list(runs)}


RUNS = (
    row("epoll", "epoll", 26_000, 40_000, 0.38, k2a=23_000),
    row("poll", "poll", 27_000, 39_000, 0.39),
    row("so_busy_poll", "so_busy_poll(50)", 4_800, 5_600, 1.0, busy=9, k2a=2_200, us=50),
)


def test_latency_goal_takes_the_fastest_and_says_what_it_costs():
    advice = advise(result(*RUNS), "latency", dev="eth1")
    assert advice.choice["label"] == "so_busy_poll(50)"
    assert "100% of a core" in advice.reasons[0] and "38%" in advice.reasons[0]
    assert "23.0 → 2.2 µs" in advice.reasons[1]
    assert "SO_BUSY_POLL, &(int){50}" in advice.code


def test_balanced_goal_keeps_the_cpu_budget_and_ignores_noise():
    advice = advise(result(*RUNS), "balanced")
    # poll's 2.5% better p99 is noise; so_busy_poll is over 1.5x epoll's core share
    assert advice.choice["label"] == "epoll"
    assert any("noise" in r for r in advice.reasons)
    assert any("so_busy_poll(50) is faster" in r and "--goal latency" in r for r in advice.reasons)


def test_sysctl_strategies_come_with_host_commands():
    busy_read = row("busy_read", "busy_read(50)", 4_000, 5_000, 1.0, busy=5, us=50)
    advice = advise(result(RUNS[0], busy_read), "latency")
    assert "sysctl -w net.core.busy_read=50" in advice.commands
    assert any(c.startswith("rxtune set busy_read=50") for c in advice.commands)
    # the settings go to apply as they are: a dry run plans exactly them
    from rxtune.apply import tune

    planned = tune.run(tune.Request(advice.settings, dry_run=True)).plan
    assert [(c.assignment.knob.name, c.assignment.value) for c in planned] == [
        ("net.core.busy_read", 50)
    ]
    assert advice.as_dict()["settings"] == {"net.core.busy_read": 50}


def test_no_napi_is_warned_about_and_rows_with_losses_are_not_chosen():
    lossy = row("spin", "spin", 1_000, 1_500, 1.0, lost=3)
    no_napi = row(
        "blocking",
        "blocking",
        25_000,
        36_000,
        0.4,
        napi=0,
        notes=[{"code": "no-napi", "text": "NAPI id 0: packets did not come through a NAPI"}],
    )
    advice = advise(result(lossy, no_napi), "latency")
    assert advice.choice["label"] == "blocking"
    assert any("NAPI id 0" in w for w in advice.warnings)


def test_throughput_mode_picks_the_most_packets_or_the_least_cpu():
    def tp(name, pps, cpu):
        r = row(name, name, None, None, 0.5)
        r["rate"] = {"received_pps": pps}
        r["cost"]["cpu_ns_per_packet"] = cpu
        return r

    runs = result(
        tp("blocking", 250_000, 1900),
        tp("af_xdp", 410_000, 3200),
        tp("tpacket_v3", 300_000, 160),
        mode="throughput",
    )
    assert advise(runs, "latency").choice["label"] == "af_xdp"
    assert advise(runs, "cpu").choice["label"] == "tpacket_v3"


def test_bad_input_is_refused():
    with pytest.raises(InvalidValue, match="unknown goal 'speed'"):
        advise(result(*RUNS), "speed")
    with pytest.raises(InvalidValue, match="not an rxtune bench result"):
        advise({"runs": []}, "latency")
