"""set / tune / revert / persist on the testbed's veth (never eth0), read back from the kernel."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from rxtune.apply import persist, tune
from rxtune.changes import plan, writer
from rxtune.changes.recover import confirmations
from rxtune.errors import InvalidValue
from rxtune.host import Host, Worker
from rxtune.knobs.model import Boolean, Range, Scope, Target, Word
from rxtune.knobs.registry import get
from rxtune.testbed import veth

from conftest import run_rxtune

pytestmark = pytest.mark.root
RX = "rx0"


@pytest.fixture(scope="module")
def bed():
    with veth.testbed(veth.configuration("A")) as bed:
        yield bed


@pytest.fixture(autouse=True)
def nothing_left_applied():
    yield
    if tune.journal().read().records:  # a failing test must not leave the host changed
        tune.revert()


def read(bed, name, scope, target=Target(dev=RX), host=False):
    return writer.read_value(
        Host() if host else Host(netns=bed.receiver.netns), get(name, scope), target
    )


def rxtune(*args, check=True):
    return run_rxtune(*args, check=check)


def napi_id(bed) -> int:
    (dev,) = __import__("rxtune.inspect.inventory", fromlist=["collect"]).collect(
        Host(netns=bed.receiver.netns), [RX]
    )["devices"]
    return dev["napi"][0]["id"]


def test_round_trip_for_each_scope(bed):
    budget = read(bed, "net.core.netdev_budget", Scope.HOST, Target(), host=True)
    napi = napi_id(bed)
    rxtune("set", f"netdev_budget={budget + 17}")
    rxtune(
        "set",
        "napi_defer_hard_irqs=3",
        "gro_flush_timeout=40000",
        "--dev",
        RX,
        "--netns",
        bed.receiver.netns,
    )
    rxtune(
        "set",
        "irq-suspend-timeout=1000000",
        "--dev",
        RX,
        "--netns",
        bed.receiver.netns,
        "--napi",
        str(napi),
    )
    assert read(bed, "net.core.netdev_budget", Scope.HOST, Target(), host=True) == budget + 17
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 3
    assert read(bed, "gro_flush_timeout", Scope.DEVICE) == 40000
    assert read(bed, "irq-suspend-timeout", Scope.NAPI, Target(dev=RX, napi=napi)) == 1000000
    out = rxtune("revert")
    assert "net.core.netdev_budget" in out.stdout
    assert read(bed, "net.core.netdev_budget", Scope.HOST, Target(), host=True) == budget
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0
    assert read(bed, "gro_flush_timeout", Scope.DEVICE) == 0
    assert read(bed, "irq-suspend-timeout", Scope.NAPI, Target(dev=RX, napi=napi)) == 0
    assert "nothing to revert" in rxtune("revert").stdout


def test_second_tune_reverts_to_the_state_before_the_first(bed):
    rxtune("set", "napi_defer_hard_irqs=5", "--dev", RX, "--netns", bed.receiver.netns)
    rxtune("set", "napi_defer_hard_irqs=9", "--dev", RX, "--netns", bed.receiver.netns)
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 9
    rxtune("revert")
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0


def _request(bed, values):
    return tune.Request(
        [(get(n, Scope.DEVICE), v) for n, v in values], devices=[RX], netns=bed.receiver.netns
    )


def test_a_write_failing_half_way_leaves_everything_as_it_was(bed, monkeypatch):
    request = _request(
        bed, [("napi_defer_hard_irqs", 4), ("gro_flush_timeout", 30000), ("threaded", True)]
    )
    real, calls = writer.write_verified, []

    def third_write_fails(host, knob, target, value):
        calls.append(knob.name)
        if len(calls) == 3:
            raise writer.VerifyFailed("injected: the kernel kept another value")
        return real(host, knob, target, value)

    monkeypatch.setattr(tune, "write_verified", third_write_fails)
    with pytest.raises(tune.ApplyFailed, match="everything written was restored"):
        tune.run(request)
    assert calls == ["napi_defer_hard_irqs", "gro_flush_timeout", "threaded"]
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0
    assert read(bed, "gro_flush_timeout", Scope.DEVICE) == 0
    assert read(bed, "threaded", Scope.DEVICE) is False
    assert tune.journal().read().records == []


def test_sigkill_between_writes_then_revert_restores_every_value(bed):
    budget = read(bed, "net.core.netdev_budget", Scope.HOST, Target(), host=True)
    request = tune.Request(
        [
            (get("netdev_budget"), budget + 5),
            (get("napi_defer_hard_irqs"), 6),
            (get("gro_flush_timeout"), 70000),
        ],
        devices=[RX],
        netns=bed.receiver.netns,
    )

    def killed_before_third_write(ready):
        real = tune.write_verified

        def write(host, knob, target, value):
            if knob.name == "gro_flush_timeout":
                os.kill(os.getpid(), signal.SIGKILL)  # the journal already names this write
            return real(host, knob, target, value)

        tune.write_verified = write
        tune.run(request)

    worker = Worker(None, None, killed_before_third_write)
    with pytest.raises(Exception, match="died without an answer"):
        worker.result(60)
    assert read(bed, "net.core.netdev_budget", Scope.HOST, Target(), host=True) == budget + 5
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 6
    assert len(tune.journal().read().records) == 3
    rxtune("revert")
    assert read(bed, "net.core.netdev_budget", Scope.HOST, Target(), host=True) == budget
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0
    assert read(bed, "gro_flush_timeout", Scope.DEVICE) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["busy_reed=50"], "unknown knob 'busy_reed'"),
        (["busy_read=-1"], "net.core.busy_read=-1 is out of range (valid: 0..2147483647)"),
        (["busy_read"], "'busy_read' is not KNOB=VALUE"),
        (["threaded=sometimes", "--dev", RX], "is not on or off (valid: on, off, 1, 0)"),
        (["napi_defer_hard_irqs=2"], "name the device (valid: --dev DEV)"),
        (["napi_defer_hard_irqs=2", "--dev", "nope0"], "no network device 'nope0'"),
        (["SO_BUSY_POLL=50"], "socket option"),
    ],
)
def test_bad_input_changes_nothing_and_names_what_is_valid(bed, args, message):
    before = (
        read(bed, "net.core.busy_read", Scope.HOST, Target(), host=True),
        read(bed, "threaded", Scope.DEVICE),
    )
    out = rxtune("set", *args, "--netns", bed.receiver.netns, check=False)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert tune.journal().read().records == []
    assert before == (
        read(bed, "net.core.busy_read", Scope.HOST, Target(), host=True),
        read(bed, "threaded", Scope.DEVICE),
    )


def test_unknown_profile_and_bad_profile_file(tmp_path):
    out = rxtune("tune", "--profile", "fastest", check=False)
    assert out.returncode == 2 and "no profile 'fastest'" in out.stderr and "latency" in out.stderr
    mine = tmp_path / "mine.toml"
    mine.write_text('[host]\n"net.core.busy_read" = 50\n[device]\nrx-usecz = 3\n')
    out = rxtune("tune", "--profile", str(mine), "--dev", "lo", check=False)
    assert out.returncode == 2 and "[device] has no knob 'rx-usecz'" in out.stderr
    assert int(Path("/proc/sys/net/core/busy_read").read_text()) == 0


def test_dry_run_prints_commands_and_touches_nothing(bed):
    out = rxtune(
        "tune", "--profile", "balanced", "--dev", RX, "--netns", bed.receiver.netns, "--dry-run"
    )
    assert f"echo 2 > /sys/class/net/{RX}/napi_defer_hard_irqs" in out.stdout
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0
    assert tune.journal().read().records == []


def test_profile_reports_unsupported_and_applies_the_rest(bed):
    out = rxtune("tune", "--profile", "throughput", "--dev", RX, "--netns", bed.receiver.netns)
    assert "unsupported" in out.stdout  # veth has no coalescing
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 2
    assert read(bed, "net.core.netdev_budget", Scope.HOST, Target(), host=True) == 600
    rxtune("revert")
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0


def test_confirm_within_reverts_unless_confirmed(bed, wait_for):
    rxtune(
        "set",
        "napi_defer_hard_irqs=7",
        "--dev",
        RX,
        "--netns",
        bed.receiver.netns,
        "--confirm-within",
        "5",  # the set's own exit must not outlast the window on a loaded runner
    )
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 7
    assert wait_for(lambda: read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0)
    assert tune.journal().read().records == []

    # a window a cold interpreter start cannot race; confirmed, the timer is stopped
    rxtune(
        "set",
        "napi_defer_hard_irqs=8",
        "--dev",
        RX,
        "--netns",
        bed.receiver.netns,
        "--confirm-within",
        "120",
    )
    (armed,) = confirmations(tune.journal().read())
    assert "confirmed" in rxtune("confirm").stdout
    assert not confirmations(tune.journal().read())
    assert wait_for(lambda: not armed.watchdog.alive())
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 8
    rxtune("revert")


def set_persisted(root, budget: int):
    """netdev_budget (a sysctl) and lo's rps_cpus (a device file), persisted under root."""
    return rxtune(
        "set",
        f"netdev_budget={budget}",
        "rps_cpus=1",
        "--dev",
        "lo",
        "--persist",
        "--persist-root",
        str(root),
    )


def test_persist_files_written_and_removed(tmp_path):
    root = tmp_path / "root"
    out = set_persisted(root, budget=301)
    assert "persisted" in out.stdout
    assert (root / persist.SYSCTL_FILE).read_text().endswith("net.core.netdev_budget = 301\n")
    script = (root / persist.SCRIPT).read_text()
    assert "echo 1 > /sys/class/net/lo/queues/rx-0/rps_cpus" in script
    assert os.readlink(root / persist.WANTS) == f"/{persist.UNIT}"
    out = rxtune("revert", "--persist")
    for relative in (persist.SYSCTL_FILE, persist.SCRIPT, persist.UNIT, persist.WANTS):
        assert not (root / relative).exists() and not (root / relative).is_symlink()
    assert int(Path("/proc/sys/net/core/netdev_budget").read_text()) != 301


def test_persisting_a_napi_setting_is_refused(bed):
    out = rxtune(
        "set",
        "defer-hard-irqs=2",
        "--dev",
        RX,
        "--netns",
        bed.receiver.netns,
        "--persist",
        "--persist-root",
        "/tmp/x",
        check=False,
    )
    assert out.returncode == 2 and "NAPI ids change at reboot" in out.stderr


def test_export_tuned_and_sh():
    out = rxtune("export", "--format", "tuned", "--profile", "throughput", "--dev", "lo")
    assert "[sysctl]\nnet.core.netdev_budget=600" in out.stdout
    assert "[sysfs]\n/sys/class/net/lo/napi_defer_hard_irqs=2" in out.stdout
    assert "devices=lo" in out.stdout and "coalesce=rx-usecs 50 adaptive-rx on" in out.stdout
    out = rxtune("export", "--format", "sh", "--profile", "latency")
    assert "sysctl -w net.core.busy_read=50" in out.stdout
    out = rxtune("export", "--format", "xml", "--profile", "latency", check=False)
    assert out.returncode == 2 and "valid: tuned, sh" in out.stderr


def test_not_root_is_refused_before_anything(monkeypatch):
    from typer.testing import CliRunner

    from rxtune.cli.main import app

    monkeypatch.setattr(tune, "is_root", lambda: False)
    result = CliRunner().invoke(app, ["set", "busy_read=50"])
    assert result.exit_code == 2 and "needs root" in result.output
    assert int(Path("/proc/sys/net/core/busy_read").read_text()) == 0
    assert tune.journal().read().records == []


def test_default_profile_comes_from_the_registry():
    from rxtune.apply.profile import load

    names = {k.name for k, _ in load("default").values}
    assert {"net.core.busy_read", "net.core.netdev_budget", "napi_defer_hard_irqs"} <= names
    assert all(v == k.default for k, v in load("default").values)


def test_profiles_refuse_bad_values(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[host]\n"net.core.busy_poll" = "fast"\n')
    from rxtune.apply.profile import load

    with pytest.raises(InvalidValue, match="busy_poll='fast' is not a whole number"):
        load(str(bad))


def test_set_refuses_a_knob_the_device_lacks_and_changes_nothing(bed):
    out = rxtune(
        "set",
        "rx-usecs=5",
        "napi_defer_hard_irqs=4",
        "--dev",
        RX,
        "--netns",
        bed.receiver.netns,
        check=False,
    )
    assert out.returncode == 2
    assert (
        "nothing changed: rx-usecs on rx0: ethtool coalesce-get: Operation not supported"
        in out.stderr
    )
    assert read(bed, "napi_defer_hard_irqs", Scope.DEVICE) == 0
    assert tune.journal().read().records == []


def test_the_boot_unit_runs_a_script_that_reproduces_the_settings(tmp_path):
    """What the README promises of --persist: at boot, rxtune-apply.service (a oneshot
    wanted by multi-user.target) runs a script that sets the device knobs again, and
    sysctl.d sets the host ones."""
    import configparser
    import subprocess

    root = tmp_path / "root"
    budget = Path("/proc/sys/net/core/netdev_budget").read_text()
    set_persisted(root, budget=302)
    unit = configparser.ConfigParser(strict=True)
    unit.read_string((root / persist.UNIT).read_text())
    assert (
        unit["Service"]["Type"] == "oneshot"
        and unit["Service"]["ExecStart"] == f"/{persist.SCRIPT}"
    )
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert os.readlink(root / persist.WANTS) == f"/{persist.UNIT}"
    script = root / persist.SCRIPT
    assert os.access(script, os.X_OK)
    rxtune("revert")
    rps = Path("/sys/class/net/lo/queues/rx-0/rps_cpus")
    assert int(rps.read_text(), 16) == 0
    try:  # boot: the script and sysctl.d bring the settings back
        subprocess.run(["sh", "-e", str(script)], check=True, timeout=30)
        subprocess.run(
            ["sysctl", "-q", "-p", str(root / persist.SYSCTL_FILE)], check=True, timeout=30
        )
        assert int(rps.read_text(), 16) == 1
        assert Path("/proc/sys/net/core/netdev_budget").read_text().strip() == "302"
    finally:
        rps.write_text("0")
        Path("/proc/sys/net/core/netdev_budget").write_text(budget)


def test_persisting_a_setting_bound_to_an_irq_number_is_refused():
    out = rxtune(
        "set", "irq_affinity=0", "--dev", "lo", "--persist", "--persist-root", "/tmp/x", check=False
    )
    assert out.returncode == 2 and "IRQ numbers change at reboot" in out.stderr


def test_every_knob_renders_a_command_without_placeholders(bed):
    """Backends render commands from structured data: for every writable knob the testbed's
    device supports, the plan's command is complete (no {dev}, no IRQ stand-in)."""
    from rxtune.knobs.registry import REGISTRY

    rendered = 0
    for knob in REGISTRY:
        if not knob.writable or knob.scope == Scope.SOCKET:
            continue
        value = (
            knob.default
            if knob.default is not None
            else knob.valid.low
            if isinstance(knob.valid, Range)
            else False
            if isinstance(knob.valid, Boolean)
            else "performance"
            if isinstance(knob.valid, Word)
            else "0"
        )
        devices = [] if knob.scope in (Scope.HOST, Scope.NAMESPACE, Scope.CPU) else [RX]
        items = plan.assignments(
            [(knob, value)], devices, None if not devices else bed.receiver.netns
        )
        for change in plan.plan(items):
            if change.status == "unsupported":
                continue
            rendered += 1
            assert not re.search(r"\{[a-z_]+\}|IRQ|None", change.command), (
                knob.name,
                change.command,
            )
    assert rendered > 15  # host sysctls, sysfs, features, queue and NAPI knobs of veth
