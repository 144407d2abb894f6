"""CPU knobs (the PM QoS resume latency limit, the cpufreq governor) through set, tune
and revert: journaled, read back, reverted exactly; bad CPUs and values refused. The CPU
latency request, which a process must hold, only persisted as a service."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from rxtune.apply import persist, profile, tune
from rxtune.backends import pm_qos
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


needs_pm_qos = pytest.mark.skipif(
    not Path(pm_qos.DEVICE).exists(), reason="no /dev/cpu_dma_latency (no CPU latency PM QoS)"
)


@needs_pm_qos
def test_the_cpu_latency_request_is_refused_live_and_nothing_is_held():
    before = pm_qos.in_force()
    out = run_rxtune("set", "cpu_dma_latency=0")
    assert out.returncode != 0 and "`--persist` installs a service" in out.stderr
    assert not tune.journal().read().records
    assert pm_qos.in_force() == before


@needs_pm_qos
def test_the_cpu_latency_request_persists_as_a_service_that_holds_it(tmp_path):
    before = pm_qos.in_force()
    out = run_rxtune("set", "cpu_dma_latency=0", "--persist", "--persist-root", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "persisted" in out.stdout and "systemctl start rxtune-hold.service" in out.stdout
    assert pm_qos.in_force() == before  # an exited rxtune holds nothing
    assert not tune.journal().read().records  # nothing was written live, nothing to revert
    unit = (tmp_path / persist.HOLDER_UNIT).read_text()
    assert (tmp_path / persist.HOLDER_WANTS).readlink() == Path("/", persist.HOLDER_UNIT)
    [exec_start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    # what systemd runs: the quoted command with its %% back to %
    command = exec_start.removeprefix('ExecStart=/bin/sh -c "').removesuffix('"')
    holder = subprocess.Popen(["/bin/sh", "-c", command.replace("%%", "%")])
    try:
        deadline = time.monotonic() + 10
        while pm_qos.in_force() != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pm_qos.in_force() == 0
        assert any(h["pid"] == holder.pid for h in pm_qos.holders())  # the sleep it became
    finally:
        holder.kill()
        holder.wait()
    assert pm_qos.in_force() == before
    out = run_rxtune("revert", "--persist", "--persist-root", str(tmp_path), check=True)
    assert not (tmp_path / persist.HOLDER_UNIT).exists()
    assert not (tmp_path / persist.HOLDER_WANTS).is_symlink()


def test_the_cpu_latency_request_exports_as_force_latency_and_is_no_kernel_default():
    planned = assignments([(get("cpu_dma_latency"), 0)], [])
    assert "[cpu]\nforce_latency=0" in persist.export_tuned(planned, "t")
    assert "exec 3>/dev/cpu_dma_latency" in persist.export_sh(planned, "t")
    assert "cpu_dma_latency" not in {k.name for k, _ in profile.load("default").values}
