"""The platform section of show: read from a captured sysfs/proc tree with haltpoll's idle
states (this VM's driver on earlier boots), and from this machine as it is; the CPU latency
PM QoS request is released when its holder closes it or dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from rxtune.backends import pm_qos
from rxtune.backends.context import ReadContext
from rxtune.backends.files import online_cpus
from rxtune.errors import InvalidValue, Unsupported
from rxtune.host import Host
from rxtune.inspect import platform
from rxtune.inspect.inventory import collect
from rxtune.inspect.schema import SHOW_SCHEMA
from rxtune.knobs.model import Target
from rxtune.knobs.registry import get


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def haltpoll_tree(root: Path) -> Host:
    cpu = "sys/devices/system/cpu"
    _write(root, f"{cpu}/cpuidle/current_driver", "haltpoll")
    _write(root, f"{cpu}/cpuidle/current_governor_ro", "haltpoll")
    for n in (0, 1):
        for k, (name, latency, disable) in enumerate((("POLL", 0, 0), ("haltpoll", 1, n))):
            state = f"{cpu}/cpu{n}/cpuidle/state{k}"
            for leaf, value in (("name", name), ("desc", name), ("latency", latency),
                                ("residency", latency), ("disable", disable),
                                ("usage", 10 + k), ("time", 1000 * (k + 1))):  # fmt: skip
                _write(root, f"{state}/{leaf}", str(value))
        _write(root, f"{cpu}/cpu{n}/power/pm_qos_resume_latency_us", "n/a" if n else "0")
        _write(root, f"{cpu}/cpu{n}/topology/thread_siblings_list", f"{n}")
    _write(root, "proc/cmdline", "console=ttyS0 isolcpus=1 nohz_full=1 quiet -- --init x=1")
    _write(root, "proc/4242/comm", "irqbalance")
    _write(root, "proc/irq/33/smp_affinity_list", "0-1")
    _write(root, "proc/irq/33/effective_affinity_list", "1")
    _write(root, "sys/class/net/eth9/device/numa_node", "0")
    return Host(proc=root / "proc", sys=root / "sys")


def test_a_haltpoll_host_shows_its_states_limits_and_isolation(tmp_path):
    host = haltpoll_tree(tmp_path)
    _write(tmp_path, "proc/777/comm", "napi/eth9-8193")
    _write(tmp_path, "proc/777/stat", "777 (napi/eth9-8193) S " + " ".join(["0"] * 35) + " 1 0")
    facts = platform.collect(host, {"eth9": [33]}, {"eth9": [777]}, {"eth9": 9999})
    idle = facts["cpuidle"]
    assert (idle["driver"], idle["governor"]) == ("haltpoll", "haltpoll")
    [cpu0, cpu1] = idle["cpus"]
    assert [s["name"] for s in cpu0["states"]] == ["POLL", "haltpoll"]
    assert cpu0["states"][1]["exit_latency_us"] == 1 and not cpu0["states"][1]["disabled"]
    assert cpu1["states"][1]["disabled"]  # shown as a change from the default
    assert "note" not in idle
    # the per-CPU limits are registry knobs, read as show reads every knob
    limit = get("pm_qos_resume_latency_us")
    with ReadContext(host) as ctx:
        assert [limit.read(ctx, Target(cpu=n)) for n in (0, 1)] == [0, "n/a"]
    assert facts["cmdline"]["isolcpus"] == "1" and facts["cmdline"]["nohz_full"] == "1"
    assert facts["cmdline"]["rcu_nocbs"] is None  # and "x=1" after "--" is init's, not ours
    assert facts["irqbalance_pids"] == [4242]
    assert (
        facts["frequency"]["policies"] == [] and "no cpufreq driver" in facts["frequency"]["note"]
    )
    [dev] = facts["devices"]
    assert (dev["name"], dev["numa_node"]) == ("eth9", 0)
    assert dev["irqs"] == [{"irq": 33, "affinity": "0-1", "effective": "1"}]
    [thread] = dev["napi_threads"]
    assert (thread["pid"], thread["name"], thread["last_cpu"]) == (777, "napi/eth9-8193", 1)


def test_this_machine_shows_a_platform_section_that_validates():
    inventory = collect(Host())
    jsonschema.validate(inventory, SHOW_SCHEMA)
    facts = inventory["platform"]
    assert (
        facts["cpuidle"]["driver"]
        == Path("/sys/devices/system/cpu/cpuidle/current_driver").read_text().strip()
    )
    if not any(c["states"] for c in facts["cpuidle"]["cpus"]):
        assert "no idle states" in facts["cpuidle"]["note"]
    assert [row["cpu"] for row in inventory["cpu_knobs"]] == online_cpus(Host())
    limits = [k for row in inventory["cpu_knobs"] for k in row["knobs"]]
    assert {k["name"] for k in limits} == {
        "pm_qos_resume_latency_us",
        "idle_states_disabled",
        "scaling_governor",
    }


needs_pm_qos = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(pm_qos.DEVICE).exists(),
    reason="needs root and /dev/cpu_dma_latency",
)


@needs_pm_qos
def test_the_cpu_latency_request_holds_only_while_held():
    before = pm_qos.in_force()
    with pm_qos.held(0):
        assert pm_qos.in_force() == 0
        assert any(h["pid"] == os.getpid() for h in pm_qos.holders())
    assert pm_qos.in_force() == before


@needs_pm_qos
def test_a_holder_killed_with_sigkill_leaves_nothing_behind():
    before = pm_qos.in_force()
    child = subprocess.Popen(
        [sys.executable, "-c",
         "from rxtune.backends import pm_qos; import time\n"
         "with pm_qos.held(7):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    assert pm_qos.in_force() == 7
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 10
    while pm_qos.in_force() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pm_qos.in_force() == before  # the kernel dropped the request with the process


def test_idle_states_are_disabled_by_name_and_read_back(tmp_path):
    host = haltpoll_tree(tmp_path)
    knob = get("idle_states_disabled")
    with ReadContext(host) as ctx:
        assert knob.read(ctx, Target(cpu=0)) == "none"
        assert knob.read(ctx, Target(cpu=1)) == "haltpoll"  # the tree disables it on cpu1
        knob.write(ctx, "haltpoll", Target(cpu=0))
        assert knob.read(ctx, Target(cpu=0)) == "haltpoll"
        knob.write(ctx, "none", Target(cpu=1))
        assert knob.read(ctx, Target(cpu=1)) == "none"
        with pytest.raises(InvalidValue, match="no idle state C6"):
            knob.write(ctx, "C6", Target(cpu=0))
    command = knob.command("POLL,haltpoll", Target(cpu=1))
    assert "/sys/devices/system/cpu/cpu1/cpuidle/state*" in command and "POLL|haltpoll)" in command


def test_a_cpu_without_idle_states_says_so():
    knob = get("idle_states_disabled")
    with ReadContext(Host()) as ctx:
        if (Path("/sys/devices/system/cpu/cpu0/cpuidle")).exists():
            assert knob.read(ctx, Target(cpu=0))  # "none" or the disabled states' names
        else:
            with pytest.raises(Unsupported, match="no cpuidle states"):
                knob.read(ctx, Target(cpu=0))
