"""The bench on the real testbed: it comes up and goes away, every strategy delivers its
packets through NAPI, host sysctls come back, also after failures and kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import jsonschema
import pytest

from rxtune.measure import bench, pingpong
from rxtune.measure.schema import BENCH_SCHEMA
from rxtune.measure.stats import overlaps
from rxtune.strategies import select
from rxtune.testbed import veth

from conftest import start_bench

pytestmark = pytest.mark.root
SYSCTLS = ("busy_read", "busy_poll")


def sysctl(name: str) -> int:
    return int(Path(f"/proc/sys/net/core/{name}").read_text())


def owned_by(pid: int) -> list[str]:
    return [n for n in veth.netns.listnetns() if (o := veth.owner(n)) and o.pid == pid]


def test_every_strategy_delivers_every_packet_through_napi():
    result = bench.run(bench.Options(select(None, [50]), duration_s=0.3))
    jsonschema.validate(result, BENCH_SCHEMA)
    assert result["metadata"]["testbed"] == "A"
    for run in result["runs"]:
        assert run["unsupported"] is None, run
        packets = run["packets"]
        assert packets["received"] > 0, run["label"]
        assert packets["lost"] == packets["sent"] - packets["received"]
        # a round trip lost to a stall of the machine is reported, never hidden
        assert not packets["lost"] or any(n["code"] == "no-echo" for n in run["notes"])
        # each measured packet was recorded by the reflector
        assert run["latency_ns"]["count"] == packets["reflected"] >= packets["received"]
        assert run["napi_id"] > 0, f"{run['label']}: no NAPI id in testbed A"
        assert run["latency_ns"]["min"] <= run["latency_ns"]["p50"] <= run["latency_ns"]["max"]
    by_name = {r["strategy"]: r for r in result["runs"]}
    # busy polling really ran where it was asked for, and not where it was not
    for name in ("so_busy_poll", "busy_read", "busy_poll_epoll", "epoll_params"):
        assert by_name[name]["busy_poll_rx_packets"] > 0, name
    assert by_name["epoll"]["busy_poll_rx_packets"] == 0
    # one packet in flight: a blocking reader finds the socket empty and sleeps for each
    # packet; a spinning one never blocks
    blocking, spin = by_name["blocking"], by_name["spin"]
    assert blocking["cost"]["thread"]["ctx_voluntary"] >= 0.9 * blocking["packets"]["reflected"]
    assert spin["cost"]["thread"]["ctx_voluntary"] <= 0.01 * spin["packets"]["reflected"]
    # the machine's figure counts both sides' CPUs: a spinner keeps its core busy between
    # packets, a sleeper lets it idle
    assert spin["cost"]["machine_cores"] > blocking["cost"]["machine_cores"] > 0
    assert spin["cost"]["thread_cores"] > 0.9


def test_configuration_c_bypasses_napi():
    result = bench.run(bench.Options(select(["blocking"], [50]), duration_s=0.3, testbed="C"))
    (run,) = result["runs"]
    assert run["napi_id"] == 0 and run["packets"]["received"] > 0
    assert any(n["code"] == "no-napi" and "NAPI id 0" in n["text"] for n in run["notes"])


def test_sysctls_restored_when_a_run_fails_half_way(monkeypatch):
    calls = []
    real_run = pingpong.run

    def failing_run(strategy, *args, **kwargs):
        calls.append({n: sysctl(n) for n in SYSCTLS})
        if strategy.name == "busy_poll_epoll":
            raise RuntimeError("injected failure while busy_poll is set")
        return real_run(strategy, *args, **kwargs)

    monkeypatch.setattr(pingpong, "run", failing_run)
    with pytest.raises(RuntimeError, match="injected"):
        bench.run(
            bench.Options(select(["busy_read", "busy_poll_epoll", "epoll"], [41]), duration_s=0.3)
        )
    assert calls[0]["busy_read"] == 41  # it was really set for the run
    assert calls[1] == {"busy_read": 41, "busy_poll": 41}
    assert len(calls) == 2  # and the bench stopped there


def test_device_settings_are_applied_for_the_run():
    result = bench.run(
        bench.Options(
            select(["epoll"], [50]),
            duration_s=0.3,
            device=bench.DeviceSettings(defer_hard_irqs=2, gro_flush_timeout=50_000),
        )
    )
    knobs = result["metadata"]["knobs"]
    rx = next(v for k, v in knobs.items() if k.endswith("/rx0"))
    assert rx["napi_defer_hard_irqs"] == 2 and rx["gro_flush_timeout"] == 50_000
    assert result["runs"][0]["packets"]["received"] > 0


def _stderr(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.kill()
    return proc.communicate(timeout=30)[1]


def test_sigkill_mid_run_is_cleaned_up_by_the_next_run(private_state_dir, wait_for, cli):
    before = sysctl("busy_read")
    proc = start_bench(37, state=private_state_dir)
    try:
        assert wait_for(lambda: sysctl("busy_read") == 37), f"never set: {_stderr(proc)}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        # the workers die with their parent; what is left is the host state
        assert sysctl("busy_read") == 37
        assert owned_by(proc.pid)
        out = cli("cleanup")
        assert out.returncode == 0, out.stderr
        assert "net.core.busy_read=0, left changed by a killed rxtune bench" in out.stdout
        assert sysctl("busy_read") == before
        assert not owned_by(proc.pid)
    finally:
        _stderr(proc)


def test_ctrl_c_and_sigterm_restore_and_remove(private_state_dir, wait_for):
    for signum, us in ((signal.SIGINT, 33), (signal.SIGTERM, 34)):
        proc = start_bench(us, state=private_state_dir)
        try:
            assert wait_for(lambda us=us: sysctl("busy_read") == us), f"never set: {_stderr(proc)}"
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130 and "interrupted" in err, err
            assert sysctl("busy_read") == 0 and not owned_by(proc.pid)
        finally:
            _stderr(proc)


def test_json_output_validates(cli):
    out = cli("bench", "--json", "-s", "spin", "-d", "0.3")
    assert out.returncode == 0, out.stderr
    jsonschema.validate(json.loads(out.stdout), BENCH_SCHEMA)


@pytest.mark.parametrize(
    "args, message",
    [
        (["-s", "warp"], "unknown strategy warp"),
        (["--busy-poll-us", "-3"], "busy-poll µs -3 is out of range"),
        (["-d", "0"], "duration 0.0 s is out of range"),
    ],
)
def test_bad_options_change_nothing(args, message, cli):
    out = cli("bench", *args)
    assert out.returncode == 2 and message in out.stderr and "valid:" in out.stderr


def test_advise_follows_from_a_saved_result(tmp_path, cli):
    saved = tmp_path / "result.json"
    cli("bench", "-s", "epoll,so_busy_poll", "-d", "0.3", "--save", str(saved), check=True)
    out = cli("advise", str(saved), "--goal", "latency", "--json", check=True)
    advice = json.loads(out.stdout)
    measured = {r["label"]: r for r in json.loads(saved.read_text())["runs"]}
    chosen = measured[advice["strategy"]]
    # the choice is as fast at p99 as the fastest row, beyond the noise (the intervals
    # overlap), or the baseline when nothing is faster beyond it
    fastest = min(measured.values(), key=lambda r: r["latency_ns"]["p99"])
    assert advice["strategy"] == "epoll" or overlaps(
        chosen["latency_ns"]["p99_ci"], fastest["latency_ns"]["p99_ci"]
    )
    assert advice["code"]
