"""What fires when a confirmation is due: a systemd transient timer where systemd runs
(it survives rxtune, the ssh session and the terminal), otherwise a detached watchdog
process whose death the next rxtune command notices (changes.recover), so the timer fails
closed either way."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from ..changes.process import ProcessId, start_time
from ..changes.recover import Confirmation
from ..errors import RxtuneError

SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(): systemd is the init system


def _command(journal: Path, confirmation: Confirmation) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rxtune.apply.watchdog",
        str(journal),
        confirmation.group,
        repr(confirmation.deadline),
    ]


def start(journal: Path, confirmation: Confirmation) -> Confirmation:
    seconds = max(confirmation.deadline - time.time(), 0.0)
    if SYSTEMD_RUNNING.is_dir() and shutil.which("systemd-run"):
        unit = f"rxtune-confirm-{confirmation.group}"
        try:
            out = subprocess.run(
                [
                    "systemd-run",
                    "--quiet",
                    f"--unit={unit}",
                    f"--on-active={seconds:.3f}s",
                    "--timer-property=AccuracySec=100ms",
                    *_command(journal, confirmation),
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except subprocess.TimeoutExpired:
            raise RxtuneError("systemd-run did not answer within 30 s") from None
        if out.returncode != 0:
            raise RxtuneError(
                f"systemd-run could not start the confirmation timer: {out.stderr.strip()}"
            )
        return replace(confirmation, unit=unit)
    proc = subprocess.Popen(
        _command(journal, confirmation),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return replace(confirmation, watchdog=ProcessId(proc.pid, start_time(proc.pid)))


def cancel(confirmation: Confirmation) -> None:
    """Stop the timer of a confirmation that was confirmed or reverted otherwise."""
    if confirmation.unit and shutil.which("systemctl"):
        subprocess.run(
            ["systemctl", "stop", f"{confirmation.unit}.timer"], capture_output=True, timeout=30
        )
    elif confirmation.watchdog and confirmation.watchdog.alive():
        try:
            os.kill(confirmation.watchdog.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
