"""One lock per host, whatever the state directory: a second changing command is refused
with the holder named, or waits for it with --wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rxtune.changes.lock import LOCK_PATH, host_lock

from conftest import run_rxtune, start_bench

pytestmark = pytest.mark.root
BUSY_READ = Path("/proc/sys/net/core/busy_read")


def hold_lock(seconds: float, state: Path) -> subprocess.Popen:
    script = (
        f"import time; from rxtune.changes.lock import host_lock\n"
        f"with host_lock('a test holder'):\n print('held', flush=True)\n"
        f" time.sleep({seconds})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "RXTUNE_STATE_DIR": str(state)},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_another_state_directory_is_refused_with_the_holder_named(tmp_path, wait_for):
    """The reported case: a bench in state-a, a set in state-b."""
    a, b = tmp_path / "state-a", tmp_path / "state-b"
    bench = start_bench(51, seconds=10, state=a)  # long enough to outlast the refused set
    try:
        assert wait_for(lambda: BUSY_READ.read_text().strip() == "51", 60)
        out = run_rxtune("set", "busy_read=60", env={**os.environ, "RXTUNE_STATE_DIR": str(b)})
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert f"rxtune bench, pid {bench.pid}" in out.stderr and "--wait" in out.stderr
        assert BUSY_READ.read_text().strip() == "51"
    finally:
        bench.wait(60)
    assert BUSY_READ.read_text().strip() == "0"
    assert not (b / "tune.journal").exists()


def test_wait_takes_the_lock_when_the_holder_ends(tmp_path):
    holder = hold_lock(1.5, tmp_path)
    try:
        assert "a test holder" in LOCK_PATH.read_text()
        started = time.monotonic()
        out = run_rxtune("set", "busy_read=3", "--wait", "60")
        assert out.returncode == 0, out.stderr
        assert time.monotonic() - started > 0.5  # it waited for the holder
    finally:
        holder.wait(30)
    assert run_rxtune("revert").returncode == 0
    assert BUSY_READ.read_text().strip() == "0"


def test_every_changing_command_takes_the_lock(tmp_path):
    holder = hold_lock(60, tmp_path)
    try:
        for args in (
            ["set", "busy_read=3"],
            ["tune", "--profile", "latency"],
            ["revert"],
            ["confirm"],
            ["cleanup"],
            ["bench", "-s", "epoll", "-d", "0.3"],
        ):
            out = run_rxtune(*args)
            assert out.returncode == 2 and "a test holder" in out.stderr, (args, out.stderr)
        assert run_rxtune("set", "busy_read=3", "--dry-run").returncode == 0  # reads only
    finally:
        holder.kill()
        holder.wait(30)
    assert BUSY_READ.read_text().strip() == "0"


def test_the_lock_is_reentrant_within_a_process_and_refuses_others():
    with host_lock("outer"), host_lock("inner"):
        assert "outer" in LOCK_PATH.read_text()
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from rxtune.changes.lock import host_lock\nwith host_lock('second'): pass",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode != 0 and "outer" in out.stderr
    with host_lock("again"):  # released when the outer one ended
        assert "again" in LOCK_PATH.read_text()
