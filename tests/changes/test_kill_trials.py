"""kill -9 at random points of bench, set/tune and the confirmation timer: in every trial the
next rxtune command succeeds and leaves the host as it was. The seed of each test is in its
failure message, to replay a failing trial."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rxtune.apply import tune
from rxtune.changes.recover import confirmations
from rxtune.host import call_in_netns
from rxtune.testbed import veth

from conftest import host_knobs, run_rxtune

pytestmark = pytest.mark.root
BENCH_TRIALS, TUNE_TRIALS, TIMER_TRIALS = 30, 20, 8


def _rng() -> tuple[random.Random, int]:
    seed = int.from_bytes(os.urandom(4), "little")
    return random.Random(seed), seed


def _kill_at(args: list[str], delay: float, after: Path | None = None) -> int:
    """Run `rxtune ARGS` and SIGKILL it `delay` seconds after its start, or after `after`
    appears (the run's journal: the first host change is under way)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rxtune", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        if after is not None:
            deadline = time.monotonic() + 60
            while not after.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
        proc.wait(delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    return proc.pid


def _namespaces_of(pid: int) -> list[str]:
    return [n for n in veth.netns.listnetns() if (o := veth.owner(n)) and o.pid == pid]


def test_bench_killed_at_random_points(private_state_dir):
    rng, seed = _rng()
    found = host_knobs()
    next_commands = (["cleanup"], ["bench", "-s", "epoll", "-d", "0.2"], ["revert"])
    replayed = 0
    for trial in range(BENCH_TRIALS):
        # odd trials: at any time from the start; even ones: once host changes are under way
        delay = rng.uniform(0.0, 2.4 if trial % 2 else 1.6)
        pid = _kill_at(
            [
                "bench",
                "-s",
                "busy_read,busy_poll_epoll",
                "--busy-poll-us",
                str(20 + trial),
                "-d",
                "0.6",
            ],
            delay,
            None if trial % 2 else private_state_dir / "transient.journal",
        )
        command = next_commands[trial % len(next_commands)]
        out = run_rxtune(*command)
        where = f"seed {seed}, trial {trial}, killed at {delay:.2f} s, then {command}"
        assert out.returncode == 0, f"{where}: {out.stderr}"
        assert "Traceback" not in out.stderr + out.stdout, where
        if command != ["revert"]:  # revert restores settings; namespaces go with the next run
            assert not _namespaces_of(pid), where
        assert host_knobs() == found, where
        replayed += "left changed by a killed rxtune bench" in out.stdout
    run_rxtune("cleanup", check=True)
    print(f"bench: {BENCH_TRIALS} trials, {replayed} killed with host changes to replay")


def _device_values(netns: str) -> dict[str, str]:
    def read() -> dict[str, str]:
        base = Path("/sys/class/net/rx0")
        return {
            name: (base / name).read_text().strip()
            for name in ("napi_defer_hard_irqs", "gro_flush_timeout", "threaded")
        }

    return call_in_netns(netns, read)


def test_set_and_tune_killed_at_random_points(tmp_path, private_state_dir):
    rng, seed = _rng()
    profile = tmp_path / "many.toml"
    profile.write_text(
        '[host]\n"net.core.netdev_budget" = 444\n"net.core.busy_read" = 31\n'
        '"net.core.busy_poll" = 32\n[device]\nnapi_defer_hard_irqs = 3\n'
        "gro_flush_timeout = 30000\nthreaded = true\n"
    )
    with veth.testbed(veth.configuration("A")) as bed:
        netns = bed.receiver.netns
        found = (host_knobs(), _device_values(netns))
        partial = 0
        for trial in range(TUNE_TRIALS):
            args = (
                ["tune", "--profile", str(profile)]
                if trial % 2
                else [
                    "set",
                    "netdev_budget=445",
                    "busy_read=33",
                    "napi_defer_hard_irqs=4",
                    "threaded=on",
                ]
            )
            # a third of the trials at any time, the rest while the writes are under way
            journal = private_state_dir / "tune.journal"
            delay = rng.uniform(0.0, 1.6) if trial % 3 == 0 else rng.uniform(0.0, 0.025)
            _kill_at(
                [*args, "--dev", "rx0", "--netns", netns],
                delay,
                None if trial % 3 == 0 else journal,
            )
            out = run_rxtune("revert")
            where = f"seed {seed}, trial {trial}, {args[0]} killed at {delay:.2f} s"
            assert out.returncode == 0, f"{where}: {out.stderr}"
            assert (host_knobs(), _device_values(netns)) == found, where
            restored = out.stdout.count("restored ")
            partial += 0 < restored < (6 if trial % 2 else 4)  # killed between its writes
        print(f"set/tune: {TUNE_TRIALS} trials, {partial} killed between writes")


def test_confirmation_timer_killed_at_random_points(wait_for):
    rng, seed = _rng()
    found = host_knobs()
    by_next = 0
    for trial in range(TIMER_TRIALS):
        window = 1.5
        run_rxtune("set", "busy_read=41", "--confirm-within", str(window), check=True)
        (armed,) = confirmations(tune.journal().read())
        delay = rng.uniform(0.0, window + 0.5)
        time.sleep(delay)
        try:
            os.kill(armed.watchdog.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it had done its work and ended
        out = run_rxtune("cleanup")
        where = f"seed {seed}, trial {trial}, timer killed at {delay:.2f} s"
        assert out.returncode == 0, f"{where}: {out.stderr}"
        assert host_knobs() == found, where
        by_next += "is gone" in out.stdout
    print(f"timer: {TIMER_TRIALS} trials, {by_next} reverted by the next command")
