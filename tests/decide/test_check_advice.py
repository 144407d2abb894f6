"""--check-advice: each piece of common advice measured against the defaults and called
helped, traded, no measurable effect, hurt, or cannot be tested here (with the reason);
and a piece known to hurt is called hurt."""

from __future__ import annotations

import jsonschema
import pytest

from rxtune.decide import check_advice
from rxtune.decide.compare import Ratio

from conftest import host_knobs, run_rxtune

SAME, BETTER, WORSE = Ratio(1.0, 0.9, 1.1), Ratio(0.5, 0.4, 0.6), Ratio(2.0, 1.8, 2.2)


@pytest.mark.parametrize(
    "ratios, lost, expected",
    [
        ({"p50": SAME, "p99": SAME, "cost": SAME}, False, "no measurable effect"),
        ({"p50": BETTER, "p99": SAME, "cost": SAME}, False, "helped"),
        ({"p50": SAME, "p99": WORSE, "cost": None}, False, "hurt"),
        ({"p50": BETTER, "p99": BETTER, "cost": WORSE}, False, "traded"),
        ({"p50": SAME, "p99": SAME, "cost": SAME}, True, "hurt"),
        ({"p50": BETTER, "p99": SAME, "cost": SAME}, True, "traded"),
    ],
)
def test_the_verdict_follows_the_intervals_and_the_losses(ratios, lost, expected):
    assert check_advice.verdict(ratios, lost) == expected


@pytest.mark.parametrize(
    "base, new, expected",
    [
        ([0.0] * 5, [0.008, 0.012, 0.01, 0.009, 0.011], True),  # every round lost ~1%
        ([0.0] * 5, [0.0, 0.0, 0.0073, 0.0, 0.0], False),  # one burst: chance
        ([0.005] * 5, [0.005, 0.006, 0.004, 0.005, 0.005], False),  # as many as without
        ([0.0] * 5, [0.0004] * 5, False),  # beyond chance, but under 0.1% of the packets
        ([0.0], [0.5], False),  # one round: no interval, no claim
    ],
)
def test_losses_count_only_beyond_the_round_to_round_noise(base, new, expected):
    assert check_advice.lost_more(base, new) is expected


def test_bad_options_are_refused_before_anything_is_measured():
    with pytest.raises(check_advice.InvalidValue, match="rounds"):
        check_advice.CheckOptions(rounds=1).validate()
    with pytest.raises(check_advice.InvalidValue, match="rate"):
        check_advice.CheckOptions(rates=(0,)).validate()


@pytest.mark.root
def test_a_short_check_gives_every_piece_a_verdict_and_restores_the_host():
    before = host_knobs()
    pieces = tuple(
        p for p in check_advice.PIECES if "netdev_budget=" in p.advice or "rx-usecs" in p.advice
        or "SO_BUSY_POLL" in p.advice
    )  # fmt: skip
    result = check_advice.run(
        check_advice.CheckOptions(rates=(20_000,), duration_s=0.5, rounds=2, pieces=pieces)
    )
    jsonschema.validate(result, check_advice.CHECK_SCHEMA)
    by_advice = {p["advice"]: p["results"]["20,000/s"] for p in result["pieces"]}
    coalescing = by_advice["ethtool -C DEV rx-usecs 100 rx-frames 64"]
    assert coalescing["verdict"] == "cannot be tested here" and "rx-usecs" in coalescing["reason"]
    budget = by_advice["sysctl -w net.core.netdev_budget=600"]
    assert budget["verdict"] != "cannot be tested here"
    assert [b["label"] for b in budget["baseline"]] == ["epoll"]  # of the same bench
    assert budget["with"]["label"] == "epoll net.core.netdev_budget=600"
    assert budget["ratios"]["p99"] is not None
    busy = by_advice["setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, 50)"]
    assert busy["with"]["label"] == "so_busy_poll(50)"
    assert [b["label"] for b in busy["baseline"]] == ["blocking"]
    # each baseline ran twice, as the known answer: compared with itself
    assert set(result["same_twice"]["20,000/s"]) == {"epoll", "blocking"}
    assert result["same_twice"]["20,000/s"]["epoll"]["with"]["label"] == "epoll again"
    assert host_knobs() == before


@pytest.mark.root
def test_a_piece_known_to_hurt_latency_is_seen_to():
    """Deferring the NAPI's re-arm to a 500 µs timer (napi_defer_hard_irqs with
    gro_flush_timeout) leaves each packet waiting for that timer on veth, where the sender's
    transmit is what schedules the poll: the method must see its latency get far worse, or
    its other verdicts mean nothing."""
    deferred = check_advice.Piece(
        "napi_defer_hard_irqs=1 gro_flush_timeout=500000",
        "a known answer",
        knobs=(("napi_defer_hard_irqs", 1), ("gro_flush_timeout", 500_000)),
    )
    result = check_advice.run(
        check_advice.CheckOptions(rates=(10_000,), duration_s=1.0, rounds=5, pieces=(deferred,))
    )
    found = result["pieces"][0]["results"]["10,000/s"]
    # its latency far worse beyond the noise; fewer polls may make it cheaper per packet,
    # which makes it a trade (a bad one), never help
    assert found["ratios"]["p50"]["ci"][0] > 2, found
    assert found["verdict"] in ("hurt", "traded"), found


@pytest.mark.parametrize(
    "extra",
    [
        ["--knob", "netdev_budget=600"],
        ["--strategy", "epoll"],
        ["--budget", "60"],
        ["--busy-poll-us", "20"],
        ["--rounds", "-1"],
        ["--rates", "flood"],
        ["--rates", "x"],
        ["--testbed", "Z"],
    ],
)
def test_check_advice_refuses_what_it_would_ignore_or_cannot_take_before_measuring(extra):
    out = run_rxtune("sweep", "--check-advice", *extra, "--save", "/tmp/rxtune-check.json")
    assert out.returncode == 2 and "valid:" in out.stderr and "Traceback" not in out.stderr
