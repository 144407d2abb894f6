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
