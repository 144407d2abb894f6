"""bench --pm-qos: each sleeping strategy runs again with the CPU latency PM QoS held, as
rows of the same bench beside busy polling, and the limit is gone afterwards."""

from __future__ import annotations

import json

import pytest

from rxtune.backends import pm_qos
from rxtune.measure.counters import idle_state_time

from conftest import run_rxtune

pytestmark = pytest.mark.root


def test_pm_qos_rows_run_beside_busy_polling_and_the_limit_is_released():
    before = pm_qos.in_force()
    out = run_rxtune(
        "bench", "-s", "epoll,so_busy_poll", "--pm-qos", "0", "-d", "0.6", "--rounds", "2",
        "--json", check=True,
    )  # fmt: skip
    runs = json.loads(out.stdout)["runs"]
    assert [r["label"] for r in runs] == ["epoll", "so_busy_poll(50)", "epoll pm_qos=0"]
    held = runs[2]
    assert held["params"]["pm_qos_us"] == 0 and runs[0]["params"]["pm_qos_us"] is None
    assert "machine_cores" in held["cost"]  # its CPU counted as every row's
    assert pm_qos.in_force() == before
    if not any(idle_state_time().values()):
        # no cpuidle states on this boot: the row says why a limit can change nothing here
        assert "no-idle-states" in [n["code"] for n in held["notes"]]
        assert held["cost"]["polling_in_idle_ns"] is None


def test_idle_residency_moves_toward_polling_while_the_limit_is_held():
    """The known answer on a VM with haltpoll: with the limit at 0 the receiving CPUs idle
    in POLL. It needs cpuidle states, which this boot may not have."""
    if not any("POLL" in states for states in idle_state_time().values()):
        pytest.skip("no cpuidle POLL state on this boot (cpuidle driver none): nothing to move")
    out = run_rxtune(
        "bench", "-s", "epoll", "--pm-qos", "0", "-d", "1", "--rounds", "2", "--json", check=True
    )
    plain, held = json.loads(out.stdout)["runs"]
    assert held["cost"]["polling_in_idle_ns"] > plain["cost"]["polling_in_idle_ns"]


def test_pm_qos_without_a_sleeping_strategy_is_refused():
    out = run_rxtune("bench", "-s", "spin", "--pm-qos", "0", "-d", "0.3")
    assert out.returncode == 2 and "none of them sleeps" in out.stderr
    out = run_rxtune("bench", "-s", "epoll", "--pm-qos", "-1", "-d", "0.3")
    assert out.returncode == 2 and "--pm-qos" in out.stderr
