"""Shared fixtures. Root-only tests skip with the reason; none passes by doing nothing.

Every test runs with a private state directory and under a host guard: what a test leaves
changed (host knobs, namespaces of its own or of a killed child) fails that test, and is
restored before the next one starts, also when the test failed half way."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from rxtune.backends import pm_qos
from rxtune.changes.lock import host_lock
from rxtune.changes.recover import recover
from rxtune.host import call_in_netns
from rxtune.knobs.model import Scope
from rxtune.knobs.registry import get, of_scope
from rxtune.testbed import veth

DATA = Path(__file__).parent / "data"
CLI_TIMEOUT_S = 180


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: creates network namespaces and veth devices")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "root: needs root (namespaces, veth, sysctls)")


@pytest.fixture(autouse=True)
def private_state_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Journals of each test in a directory of its own, never /var/lib/rxtune."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("RXTUNE_STATE_DIR", str(path))
    return path


def xdp_attached(netns: str, dev: str) -> bool:
    """Whether a device of a namespace has an XDP program, as netlink reports it."""

    def attached() -> bool:
        with IPRoute() as ipr:
            link = ipr.get_links(ipr.link_lookup(ifname=dev)[0])[0]
            xdp = link.get_attr("IFLA_XDP")
            return bool(xdp and xdp.get_attr("IFLA_XDP_PROG_ID"))

    return call_in_netns(netns, attached)


def host_knobs() -> dict[str, str]:
    """The host-wide sysctls and the per-CPU files of the registry, as text, and the CPU
    latency request in force."""
    values = {}
    for knob in of_scope(Scope.HOST):
        if knob.persist_only:  # held by a process: its value in force
            readable = os.geteuid() == 0 and Path(pm_qos.DEVICE).exists()
            values[knob.name] = str(pm_qos.in_force()) if readable else "?"
            continue
        path = Path("/proc/sys") / knob.where.replace(".", "/")
        if path.exists():
            values[knob.name] = path.read_text().strip()
    for knob in of_scope(Scope.CPU):
        for path in sorted(Path("/sys/devices/system/cpu").glob(f"cpu[0-9]*/{knob.where}")):
            values[f"{path.parts[5]} {knob.name}"] = path.read_text().strip()
    return values


def leaked_namespaces(before: set[str]) -> list[str]:
    """New namespaces of ours that nothing live owns any more, or that this process owns:
    a concurrent rxtune's namespaces are not this test's business."""
    leaked = []
    for name in veth.netns.listnetns():
        owner = veth.owner(name)
        if name not in before and owner and (owner.pid == os.getpid() or not owner.alive()):
            leaked.append(name)
    return sorted(leaked)


@pytest.fixture(autouse=True)
def host_left_as_found(private_state_dir: Path):
    if os.geteuid() != 0:
        yield
        return
    knobs, namespaces = host_knobs(), set(veth.netns.listnetns())
    yield
    now = host_knobs()
    changed = {k: (v, now.get(k)) for k, v in knobs.items() if now.get(k) != v}
    leaked = leaked_namespaces(namespaces)
    # restore before reporting, so one failing test does not fail the next ones too
    from rxtune.apply import tune

    with host_lock("pytest teardown", wait=120):
        recover("pytest teardown")
        if changed and tune.journal().read().records:
            tune.revert(force=True)
    for name in leaked:
        veth.netns.remove(name)
    for name, (value, _) in changed.items():
        cpu, _, knob = name.partition(" ")
        path = (
            Path("/sys/devices/system/cpu", cpu, get(knob).where)
            if knob
            else Path("/proc/sys") / name.replace(".", "/")
        )
        if path.read_text().strip() != value:
            path.write_text(value)
    assert not changed, f"the test left host knobs changed (was, now): {changed}"
    assert not leaked, f"the test left namespaces: {leaked}"


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def wait_for() -> Callable[..., bool]:
    """Poll a condition until it holds or the timeout passes; True if it held."""

    def wait(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    return wait


def run_rxtune(
    *args: str,
    check: bool = False,
    timeout: float = CLI_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`rxtune ARGS` in a process of its own, bounded in time; stderr shown on failure."""
    out = subprocess.run(
        [sys.executable, "-m", "rxtune", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        # os.environ, not the C environ: under pytest that holds a COLUMNS=80 that
        # os.environ does not show, and the tables would be laid out for it
        env=dict(os.environ) if env is None else env,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert out.returncode == 0, f"rxtune {' '.join(args)}: {out.stderr}"
    return out


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    return run_rxtune


def start_bench(
    busy_read_us: int, seconds: float = 20, state: Path | None = None
) -> subprocess.Popen:
    """A bench that sets net.core.busy_read to `busy_read_us` while it runs (in one round,
    so without a gap): the host change a test then interrupts, kills or races."""
    env = {**os.environ, **({"RXTUNE_STATE_DIR": str(state)} if state else {})}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rxtune",
            "bench",
            "-s",
            "busy_read",
            "--busy-poll-us",
            str(busy_read_us),
            "--rounds",  # one round: the setting holds for the whole run, not between rounds
            "1",
            "-d",
            str(seconds),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
