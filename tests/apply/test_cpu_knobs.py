"""Per-CPU knobs (the PM QoS resume latency limit, the cpufreq governor) through set, tune
and revert: journaled, read back, reverted exactly; bad CPUs and values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxtune.apply import persist, tune
from rxtune.backends.files import online_cpus
from rxtune.changes.journal import Record
from rxtune.changes.plan import assignments
from rxtune.host import Host
from rxtune.knobs.registry import get

from conftest import run_rxtune

pytestmark = pytest.mark.root
CPU = Path("/sys/devices/system/cpu")


def limit(cpu: int) -> str:
    return (CPU / f"cpu{cpu}/power/pm_qos_resume_latency_us").read_text().strip()


needs_limits = pytest.mark.skipif(
    not (CPU / "cpu0/power/pm_qos_resume_latency_us").exists(),
    reason="no per-CPU PM QoS resume latency files on this kernel",
)


@needs_limits
def test_a_cpu_limit_is_set_on_the_cpus_named_and_reverted_exactly():
    last = online_cpus(Host())[-1]
    before = {cpu: limit(cpu) for cpu in online_cpus(Host())}
    out = run_rxtune("set", "pm_qos_resume_latency_us=n/a", "--cpu", str(last), check=True)
    assert f"cpu{last}" in out.stdout
    assert limit(last) == "n/a"
    assert all(limit(c) == v for c, v in before.items() if c != last)  # only the one named
    [record] = tune.journal().read().records
    assert record.cpu == last and record.new == "n/a"
    run_rxtune("revert", check=True)
    assert {cpu: limit(cpu) for cpu in before} == before


@needs_limits
def test_a_profile_section_for_cpus_plans_every_cpu(tmp_path):
    profile = tmp_path / "qos.toml"
    profile.write_text("[cpu]\npm_qos_resume_latency_us = 20\n")
    out = run_rxtune("tune", "--profile", str(profile), "--dry-run", check=True).stdout
    for cpu in online_cpus(Host()):
        assert f"/sys/devices/system/cpu/cpu{cpu}/power/pm_qos_resume_latency_us" in out
    assert not tune.journal().read().records


@pytest.mark.parametrize(
    "args, says",
    [
        (["pm_qos_resume_latency_us=fast", "--cpu", "0"], "not a latency limit"),
        (["pm_qos_resume_latency_us=-1"], "not a latency limit"),
        (["pm_qos_resume_latency_us=10", "--cpu", "4096"], "no such online CPU"),
        (["pm_qos_resume_latency_us=10", "--cpu", "1-0"], "not a CPU list"),
        (["scaling_governor=Fast!"], "not a name"),
    ],
)
def test_bad_cpus_and_values_are_refused_and_change_nothing(args, says):
    out = run_rxtune("set", *args)
    assert out.returncode == 2 and says in out.stderr
    assert not tune.journal().read().records


def test_a_governor_without_cpufreq_is_refused_with_the_reason():
    if (CPU / "cpu0/cpufreq/scaling_governor").exists():
        pytest.skip("this machine has cpufreq: the refusal needs one without")
    out = run_rxtune("set", "scaling_governor=performance")
    assert out.returncode != 0 and "cpufreq/scaling_governor does not exist" in out.stderr
    assert not tune.journal().read().records


def test_journals_from_before_per_cpu_knobs_still_read():
    old = {
        "knob": "net.core.busy_read", "scope": "host", "dev": None, "queue": None,
        "napi": None, "netns": None, "previous": 0, "new": 50, "group": "g",
    }  # fmt: skip
    assert Record.from_dict(old).cpu is None
    assert Record.from_dict({**old, "cpu": None}) == Record.from_dict(old)


def test_per_cpu_limits_persist_as_boot_commands(tmp_path):
    planned = assignments([(get("pm_qos_resume_latency_us"), 20)], [], cpus=[0])
    written = persist.write(tmp_path, planned)
    script = next(p for p in written if p.name == "apply.sh").read_text()
    assert "echo 20 > /sys/devices/system/cpu/cpu0/power/pm_qos_resume_latency_us" in script
