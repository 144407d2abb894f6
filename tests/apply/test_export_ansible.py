"""rxtune export --format ansible: the playbook passes Ansible's own syntax check and a
check-mode run against this host, by both of its paths (rxtune installed: the journaled
`rxtune set --persist`; not installed: the files `--persist` writes), changing nothing; the
files it writes are the ones `--persist` writes; what one `rxtune set` cannot say is
refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rxtune.apply import persist
from rxtune.changes.plan import Assignment, assignments
from rxtune.errors import InvalidValue
from rxtune.knobs.model import Scope, Target
from rxtune.knobs.registry import get

from conftest import run_rxtune

yaml = pytest.importorskip("yaml", reason="PyYAML comes with ansible-core, a test dependency")

needs_ansible = pytest.mark.skipif(
    shutil.which("ansible-playbook") is None, reason="ansible-core is not installed"
)
ETC = Path("/etc")


def _load(text: str) -> list[dict]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(text, Loader=Loader)


def _items() -> list[Assignment]:
    """Host, CPU and device settings; the device need not exist to be written about."""
    host = assignments([(get("net.core.busy_read"), 50), (get("cpu_dma_latency"), 0)], [])
    device = [
        Assignment(get("napi_defer_hard_irqs", Scope.DEVICE), 2, Target(dev="veth-far"), None),
        Assignment(get("gro_flush_timeout", Scope.DEVICE), 200000, Target(dev="veth-far"), None),
    ]
    return host + device


def _ansible(playbook: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        # this interpreter on this host: discovery can find a python3.N that does not run here
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0"},
    )


def test_the_playbook_writes_what_persist_writes_and_one_journaled_set():
    [play] = _load(persist.export_ansible(_items(), "t"))
    files = persist.boot_files(_items())
    written = {
        t["ansible.builtin.copy"]["dest"]: t["ansible.builtin.copy"]["content"]
        for t in play["tasks"]
        if "ansible.builtin.copy" in t
    }
    assert written == {f"/{path}": file.text for path, file in files.items()}
    [journaled] = [t for t in play["tasks"] if t["name"].startswith("rxtune: set")]
    assert journaled["ansible.builtin.command"]["argv"] == [
        "rxtune",
        "set",
        "net.core.busy_read=50",
        "cpu_dma_latency=0",
        "napi_defer_hard_irqs=2",
        "gro_flush_timeout=200000",
        "--dev",
        "veth-far",
        "--persist",
    ]
    reverts = [t for t in play["tasks"] if "revert" in t.get("tags", [])]
    assert reverts and all("never" in t["tags"] for t in reverts)  # only with --tags revert


def test_what_one_rxtune_set_cannot_say_is_refused():
    knob = get("napi_defer_hard_irqs", Scope.DEVICE)
    differing = [
        Assignment(knob, 2, Target(dev="a0"), None),
        Assignment(knob, 4, Target(dev="b0"), None),
    ]
    with pytest.raises(InvalidValue, match="different values"):
        persist.export_ansible(differing, "t")
    partial = [
        Assignment(knob, 2, Target(dev="a0"), None),
        Assignment(get("gro_flush_timeout", Scope.DEVICE), 1000, Target(dev="b0"), None),
    ]
    with pytest.raises(InvalidValue, match="not on all of"):
        persist.export_ansible(partial, "t")


@needs_ansible
@pytest.mark.root
def test_ansible_checks_the_playbook_and_a_check_run_by_either_path_changes_nothing(tmp_path):
    playbook = tmp_path / "rxtune.yml"
    playbook.write_text(persist.export_ansible(_items(), "rxtune test"))
    before = {
        path: path.exists()
        for path in (
            ETC / f
            for f in (persist.SYSCTL_FILE, persist.SCRIPT, persist.UNIT, persist.HOLDER_UNIT)
        )
    }
    checked = _ansible(playbook, "--syntax-check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for extra in ([], ["-e", '{"rxtune": {"rc": 1}}']):  # installed, and as if not
        for tags in ([], ["--tags", "revert"]):
            run = _ansible(playbook, "--check", *extra, *tags)
            assert run.returncode == 0, run.stdout + run.stderr
            assert "failed=0" in run.stdout
    forced = _ansible(playbook, "--check", "-e", '{"rxtune": {"rc": 1}}')
    assert "write /etc/sysctl.d/90-rxtune.conf" in forced.stdout
    assert "changed: [localhost]" in forced.stdout  # what it would write, not written
    assert {path: path.exists() for path in before} == before


@needs_ansible
@pytest.mark.root
def test_export_ansible_from_the_command_line(tmp_path):
    out = tmp_path / "host.yml"
    run_rxtune("export", "--format", "ansible", "--profile", "latency", "-o", str(out), check=True)
    [play] = _load(out.read_text())
    assert play["hosts"] == "all" and play["become"] is True
    bad = run_rxtune("export", "--format", "ansible-galaxy", "--profile", "latency")
    assert bad.returncode == 2 and "ansible" in bad.stderr
