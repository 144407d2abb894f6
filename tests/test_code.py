"""The code's own checks, run with the tests so that no change lands without them: ruff
(lint and format), mypy, and the C engine built with every warning an error."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "src/rxtune/engine/csrc"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(check):
    out = run(sys.executable, "-m", "ruff", *check, "src", "tests", "benchmarks", "examples")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy():
    out = run(sys.executable, "-m", "mypy")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc, as the package's build does")
@pytest.mark.parametrize("source", sorted(p.name for p in CSRC.glob("*.c")))
def test_engine_builds_with_warnings_as_errors(source):
    include = sysconfig.get_paths()["include"]
    out = run(
        "gcc",
        "-fsyntax-only",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Werror",
        "-std=gnu11",
        f"-I{include}",
        str(CSRC / source),
    )
    assert out.returncode == 0, out.stderr
