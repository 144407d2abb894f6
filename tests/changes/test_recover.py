"""The reported scenarios, rerun: a killed bench is replayed by the next changing command;
revert never clobbers a value someone set since; a damaged journal is named, what it
proves is restored, and nothing is blocked for good; a failed persist undoes the change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rxtune.changes.journal import Journal, Record, _line
from rxtune.changes.process import ProcessId
from rxtune.changes.transient import TRANSIENT
from rxtune.testbed import veth

from conftest import run_rxtune, start_bench

pytestmark = pytest.mark.root
BUSY_READ = Path("/proc/sys/net/core/busy_read")
BUDGET = Path("/proc/sys/net/core/netdev_budget")


def busy_read() -> int:
    return int(BUSY_READ.read_text())


def killed_bench(wait_for, us: int) -> int:
    proc = start_bench(us)
    try:
        assert wait_for(lambda: busy_read() == us, 60)
    finally:
        proc.kill()
        proc.wait(30)
    return proc.pid


def test_set_replays_a_killed_bench_first_and_says_so(wait_for):
    pid = killed_bench(wait_for, 50)
    out = run_rxtune("set", "busy_read=10", check=True)
    assert (
        f"restored net.core.busy_read=0, left changed by a killed rxtune bench (pid {pid})"
        in out.stdout
    )
    (record,) = Journal("tune.journal").read().records
    assert record.previous == 0 and record.new == 10  # the baseline is the host's, not the bench's
    assert busy_read() == 10
    assert run_rxtune("cleanup", check=True).stdout.count("removed namespace") == 2
    assert run_rxtune("revert", check=True) and busy_read() == 0


def test_bench_recovers_leftovers_of_a_dead_owner_and_runs():
    dead = ProcessId.current().pid
    while ProcessId(dead, None).alive():
        dead += 1
    name = f"{veth.PREFIX}{dead}-tx"  # as an rxtune before 0.2 named them
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    out = run_rxtune("bench", "-s", "epoll", "-d", "0.3", "--json")
    assert out.returncode == 0, out.stderr
    assert name in json.loads(out.stdout)["metadata"]["recovered"]["removed_namespaces"]
    assert name not in veth.netns.listnetns()


def test_revert_leaves_a_value_someone_changed_since_and_names_it():
    run_rxtune("set", "busy_read=50", check=True)
    BUSY_READ.write_text("7")
    out = run_rxtune("revert")
    assert out.returncode == 1 and "net.core.busy_read is 7, not the 50 rxtune wrote" in out.stderr
    assert busy_read() == 7
    out = run_rxtune("revert", "--force")
    assert out.returncode == 0 and "restored net.core.busy_read=0" in out.stdout
    assert busy_read() == 0


def test_a_confirmed_set_then_another_set_revert_back_to_the_start():
    run_rxtune("set", "busy_read=5", check=True)
    run_rxtune("set", "busy_read=6", check=True)
    out = run_rxtune("revert", check=True)
    assert "restored net.core.busy_read=0" in out.stdout and busy_read() == 0


def _damage(how: str) -> None:
    path = Journal("tune.journal").path
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[:-25])
    elif how == "not-utf8":
        path.write_bytes(raw[:60] + b"\xff\xfe" + raw[60:])
    elif how in ("null", "[]", ""):
        path.write_bytes(how.encode())
    else:  # a record edited and checksummed again: only its values can tell
        field, value = {
            "garbled-value": ("previous", "fifty"),
            "unknown-scope": ("scope", "galaxy"),
        }[how]
        lines = raw.split(b"\n")
        record = json.loads(lines[-2])["record"]
        record[field] = value
        lines[-2] = _line("record", record).encode()
        path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    "how", ["truncated", "not-utf8", "null", "[]", "", "garbled-value", "unknown-scope"]
)
def test_a_damaged_journal_is_named_restores_what_it_proves_and_blocks_nothing(how):
    budget = BUDGET.read_text().strip()
    run_rxtune("set", "busy_read=44", check=True)
    run_rxtune("set", f"netdev_budget={int(budget) + 1}", check=True)
    _damage(how)
    for args in (["set", "busy_read=45"], ["export", "--format", "sh"]):
        out = run_rxtune(*args)
        assert out.returncode == 2 and "damaged" in out.stderr and "Traceback" not in out.stderr
    assert busy_read() == 44
    out = run_rxtune("revert")
    assert out.returncode == 1 and "journal was damaged" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    proved = {
        "truncated": ["busy_read"],
        "garbled-value": ["busy_read"],
        "unknown-scope": ["busy_read"],
        "not-utf8": ["netdev_budget"],
    }.get(how, [])
    for name in proved:
        assert f"restored net.core.{name}=" in out.stdout
    # what could not be proved is named (the damaged lines) and left as it is
    aside = list(Journal("tune.journal").path.parent.glob("tune.journal.damaged-*"))
    assert len(aside) == 1 and str(aside[0]) in out.stderr
    # nothing is blocked: the next set works, and the values it found are journaled
    run_rxtune("set", "busy_read=46", check=True)
    run_rxtune("revert", "--force", check=True)
    BUSY_READ.write_text("0")
    BUDGET.write_text(budget)


def _transient(records: list[Record], owner: ProcessId | None) -> None:
    journal = Journal(TRANSIENT)
    journal.write(records, command="rxtune bench", announce=True)
    if owner is not None:  # rewrite the header as that process would have
        lines = journal.path.read_text().split("\n")
        header = json.loads(lines[0])["journal"]
        header["owner"] = owner.as_dict()
        lines[0] = _line("journal", header)
        journal.path.write_text("\n".join(lines))


def test_a_stale_pid_now_owned_by_another_process_does_not_block():
    BUSY_READ.write_text("30")
    init = ProcessId(1, None)
    stale = ProcessId(1, (ProcessId.current().start or 0) + 12345)  # pid 1, another start
    assert init.alive() and not stale.alive()
    _transient([Record("net.core.busy_read", "host", None, None, None, None, 0, 30, "x")], stale)
    out = run_rxtune("cleanup")
    assert out.returncode == 0 and "restored net.core.busy_read=0" in out.stdout, out.stderr
    assert busy_read() == 0


@pytest.mark.parametrize("text", [b"", b"null", b"\xff"])
def test_an_unreadable_transient_journal_blocks_neither_bench_nor_cleanup(text):
    journal = Journal(TRANSIENT)
    journal.path.parent.mkdir(parents=True, exist_ok=True)
    journal.path.write_bytes(text)
    out = run_rxtune("cleanup")
    assert out.returncode == 0 and "damaged" in out.stdout, out.stderr
    assert not journal.path.exists()
    out = run_rxtune("bench", "-s", "epoll", "-d", "0.3")
    assert out.returncode == 0, out.stderr


def test_a_persist_that_fails_undoes_the_change(tmp_path):
    blocked = tmp_path / "root"
    blocked.write_text("a file where a directory must be")
    out = run_rxtune("set", "busy_read=12", "--persist", "--persist-root", str(blocked))
    assert out.returncode == 2 and "everything written was restored" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert busy_read() == 0 and Journal("tune.journal").read().records == []


def test_ctrl_c_during_set_keeps_all_or_nothing(tmp_path):
    """A set interrupted between its writes restores what it wrote (SIGINT in the middle
    of a profile of several knobs, at a point the test controls)."""
    script = (
        "import os, signal\n"
        "from rxtune.apply import tune\n"
        "from rxtune.knobs.registry import get\n"
        "real = tune.write_verified\n"
        "def write(host, knob, target, value):\n"
        "    real(host, knob, target, value)\n"
        "    if knob.name.endswith('busy_poll'): os.kill(os.getpid(), signal.SIGINT)\n"
        "tune.write_verified = write\n"
        "tune.run(tune.Request([(get('busy_read'), 21), (get('busy_poll'), 22),"
        " (get('netdev_budget'), 333)]))\n"
    )
    budget = BUDGET.read_text()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "KeyboardInterrupt" in out.stderr
    assert busy_read() == 0 and Path("/proc/sys/net/core/busy_poll").read_text().strip() == "0"
    assert BUDGET.read_text() == budget
    assert Journal("tune.journal").read().records == []
