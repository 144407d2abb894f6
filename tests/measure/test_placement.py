"""--sender-cpu/--receiver-cpu: placement is a measured dimension. Both sides pinned to one
CPU put the busy time there (the known answer), and the metadata says where they ran."""

from __future__ import annotations

import json
import os

import pytest

from conftest import run_rxtune

pytestmark = pytest.mark.root


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to compare")
def test_both_sides_on_one_cpu_put_the_work_there():
    last = max(os.sched_getaffinity(0))
    out = run_rxtune(
        "bench", "-s", "epoll", "-d", "0.6", "--rounds", "2", "--sender-cpu", str(last),
        "--receiver-cpu", str(last), "--json", check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["metadata"]["pinning"] == {"client_cpu": last, "reflector_cpu": last}
    cpus = {c["cpu"]: c["busy_ns"] for c in result["runs"][0]["cpus"]}
    others = [busy for cpu, busy in cpus.items() if cpu != last]
    assert cpus[last] > 2 * max(others)  # ping-pong's work on the shared CPU, little elsewhere


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to tell apart")
def test_napi_threads_pinned_to_a_cpu_run_only_there():
    """--napi-cpu: threaded NAPI with its kernel threads pinned (the thread-cpus knob); the
    BPF account of NAPI thread time finds them on that CPU alone (the known answer)."""
    first = min(os.sched_getaffinity(0))
    out = run_rxtune(
        "bench", "-s", "epoll", "-d", "0.6", "--rounds", "2", "--napi-cpu", str(first),
        "--json", check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["metadata"]["knobs_set"] == {"thread-cpus": str(first)}
    assert result["metadata"]["device_settings"]["threaded"] is True
    threads = {c["cpu"]: c["napi_thread_ns"] for c in result["runs"][0]["cpus"]}
    assert threads[first] > 0
    assert all(ns == 0 for cpu, ns in threads.items() if cpu != first)


def test_napi_cpu_without_threaded_napi_is_refused():
    out = run_rxtune("bench", "-s", "epoll", "--napi-cpu", "0", "--no-threaded", "-d", "0.3")
    assert out.returncode == 2 and "--napi-cpu with --threaded" in out.stderr
