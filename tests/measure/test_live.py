"""rxtune top and drop forensics on the testbed: the rate top reports against the rate a
paced sender offered (a ratio in one run), drops made on purpose each found where they
happened and named by the kernel's reason, the Prometheus file, the screen at 80 columns,
and top as an unprivileged user."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from rxtune.backends.btf import VMLINUX
from rxtune.changes.lock import host_lock
from rxtune.changes.transient import TransientChanges
from rxtune.engine import _engine
from rxtune.engine.paths import attach_xdp
from rxtune.host import Host, Worker, call_in_netns
from rxtune.inspect import drops as where
from rxtune.inspect.inventory import collect
from rxtune.knobs.model import Scope, Target
from rxtune.knobs.registry import get
from rxtune.measure.drops import DropReasons, reason_names
from rxtune.measure.live import Watch
from rxtune.testbed import veth

from conftest import run_rxtune

pytestmark = pytest.mark.root
PORT = 48400
RATE = 20_000
needs_btf = pytest.mark.skipif(not VMLINUX.exists(), reason="the kernel has no BTF")


@pytest.fixture(scope="module")
def bed():
    with veth.testbed(veth.configuration("A")) as bed:
        yield bed


def _send(bed: veth.Testbed, rate: int, seconds: float, port: int = PORT) -> int:
    def send() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((bed.receiver.address, port))
            return _engine.send_load([sock.fileno()], 64, rate, int(seconds * 1e9), 32)["sent"]

    return call_in_netns(bed.sender.netns, send)


def _hold_small_buffer(ready, address: str, port: int) -> None:
    """A socket with the smallest receive buffer that never reads: all but a few drop."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.bind((address, port))
        ready()
        time.sleep(60)


@needs_btf
def test_top_reports_the_offered_rate_and_the_drops_of_a_1_kib_rcvbuf(bed):
    reader = Worker(bed.receiver.netns, None, _hold_small_buffer, bed.receiver.address, PORT)
    try:
        assert reader.wait_ready(5)
        sent: list[int] = []
        sender = threading.Thread(target=lambda: sent.append(_send(bed, RATE, 8.0)))
        sender.start()
        time.sleep(0.5)  # the sender is at its rate before top takes its baseline
        out = run_rxtune(
            "top",
            "--netns",
            bed.receiver.netns,
            "--port",
            str(PORT),
            "--once",
            "--json",
            "--interval",
            "3",
            check=True,
        )
        sender.join()
    finally:
        reader.kill()
    [line] = out.stdout.splitlines()
    interval = json.loads(line)
    assert interval["schema"] == "rxtune.top/1"
    [dev] = [d for d in interval["devices"] if d["name"] == bed.receiver.ifname]
    assert sent[0] > 0.95 * RATE * 8.0  # the sender held its rate
    assert 0.9 < dev["packets"] / RATE < 1.1
    [process] = interval["processes"]
    assert process["pid"] == reader.pid and process["socket_drops"] > 0.5 * RATE
    assert interval["namespace"]["Udp RcvbufErrors"] > 0.5 * RATE
    assert interval["drop_reasons"]["SOCKET_RCVBUFF"] > 0.5 * RATE
    assert "SOCKET_RCVBUFF" in interval["headline"] or "socket" in interval["headline"]


@needs_btf
def test_drops_made_on_purpose_are_each_named_by_their_reason(bed):
    assert "SOCKET_RCVBUFF" in reason_names().values()
    with DropReasons() as reasons:
        # a 1 KiB receive buffer that is never read
        reader = Worker(bed.receiver.netns, None, _hold_small_buffer, bed.receiver.address, PORT)
        try:
            assert reader.wait_ready(5)
            before = reasons.read()
            _send(bed, RATE, 0.2)
            time.sleep(0.2)
            full = reasons.read()
        finally:
            reader.kill()
        # nothing bound to the port at all
        _send(bed, RATE, 0.2, port=PORT + 1)
        time.sleep(0.2)
        unbound = reasons.read()

        # an XDP program that drops every packet at the receiving device, for the life
        # of the process that attached it
        def hold_xdp(ready) -> None:
            attach_xdp(socket.if_nametoindex(bed.receiver.ifname), _engine.xdp_drop_prog_load())
            ready()
            time.sleep(60)

        dropper = Worker(bed.receiver.netns, None, hold_xdp)
        try:
            assert dropper.wait_ready(5)
            _send(bed, RATE, 0.2)
            time.sleep(0.2)
        finally:
            dropper.kill()
        dropped = reasons.read()

    def grew(after: dict[str, int], then: dict[str, int], reason: str) -> int:
        return after.get(reason, 0) - then.get(reason, 0)

    sent = int(RATE * 0.2)
    assert grew(full, before, "SOCKET_RCVBUFF") > 0.5 * sent
    assert grew(unbound, full, "NO_SOCKET") > 0.9 * sent
    assert grew(unbound, full, "SOCKET_RCVBUFF") == 0  # each drop under its own reason
    # veth's XDP_DROP frees the packet with a reason of its own, or none given
    assert grew(dropped, unbound, "XDP") + grew(dropped, unbound, "NOT_SPECIFIED") > 0.9 * sent


@needs_btf
def test_a_full_backlog_is_named_cpu_backlog_and_counted_once_at_its_cpu(bed):
    """RPS steers the receiving veth's packets to the other CPU's backlog; with the backlog
    at its shortest, a flood overflows it: each drop is a CPU_BACKLOG reason and one
    'dropped' in that CPU's softnet_stat, the same count."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs: RPS to one, the flood on the other")
    sender_cpu, backlog_cpu = cpus[0], cpus[1]
    rx_queue = Target(dev=bed.receiver.ifname, queue=0)

    def flood(ready) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((bed.receiver.address, PORT + 2))
            return _engine.send_load([sock.fileno()], 64, 0, int(0.3e9), 32)["sent"]

    with host_lock("pytest"), TransientChanges("pytest") as changes, DropReasons() as reasons:
        changes.set(get("rps_cpus", Scope.QUEUE), f"{1 << backlog_cpu:x}", rx_queue,
                    netns=bed.receiver.netns)  # fmt: skip
        changes.set(get("net.core.netdev_max_backlog"), 1)
        before, softnet = reasons.read(), where.cpu_totals(Host())
        Worker(bed.sender.netns, sender_cpu, flood).result(30)
        time.sleep(0.2)
        after, softnet_after = reasons.read(), where.cpu_totals(Host())
    dropped = sum(softnet_after[c]["dropped"] - softnet[c]["dropped"] for c in softnet)
    named = after.get("CPU_BACKLOG", 0) - before.get("CPU_BACKLOG", 0)
    assert dropped > 0
    assert named == dropped
    assert softnet_after[backlog_cpu]["dropped"] - softnet[backlog_cpu]["dropped"] == dropped


METRIC = re.compile(
    r'[a-zA-Z_:][a-zA-Z0-9_:]*\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\} [0-9]+'
)


def test_the_prometheus_file_is_the_text_format_line_by_line(tmp_path):
    path = tmp_path / "rxtune.prom"
    run_rxtune(
        "top", "--once", "--json", "--interval", "0.2", "--prometheus", str(path), check=True
    )
    typed: set[str] = set()
    samples = 0
    for line in path.read_text().splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:]
            assert kind == "counter" and name not in typed
            typed.add(name)
            continue
        assert METRIC.fullmatch(line), line
        assert line.split("{")[0] in typed  # its family declared before its samples
        samples += 1
    assert samples and "rxtune_cpu_interrupts_total" in typed
    assert not list(tmp_path.glob(".rxtune.prom.*"))  # written aside, then renamed


def test_the_screen_renders_at_80_columns_under_a_terminal():
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rxtune", "top", "--interval", "0.2", "--count", "2"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal closed
            break
        if not chunk:
            break
        screen += chunk
    assert proc.wait(30) == 0
    os.close(main)
    # a cursor movement starts a new piece of the screen; colours and modes take no room
    pieces = re.split(r"\r?\n|\x1b\[[0-9;]*[HfABJK]", screen.decode())
    text = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r", "", p) for p in pieces]
    assert not any("Traceback" in line for line in text)
    assert any("per CPU" in line for line in text)
    assert any("per device and RX queue" in line for line in text)
    assert max(len(line) for line in text) <= 80


def _one_interval() -> dict:
    watch = Watch()
    try:
        watch.interval()
        time.sleep(0.2)
        interval = watch.interval()
        assert interval is not None
        return interval
    finally:
        watch.close()


def test_top_runs_unprivileged_and_says_what_it_could_not_read():
    _one_interval()  # import what a read needs while /root (Python's home here) is readable

    def unprivileged(ready):
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        return _one_interval()

    interval = Worker(None, None, unprivileged).result(60)
    assert interval["cpus"] and interval["devices"] and interval["namespace"]
    assert interval["drop_reasons"] is None
    assert any("drop reasons" in line and "root" in line for line in interval["unreadable"])


def test_the_show_sections_of_queue_statistics_and_page_pools_say_why_veth_has_none(bed):
    inventory = collect(Host(netns=bed.receiver.netns))
    (dev,) = inventory["devices"]
    for section in ("queue_stats", "page_pools"):
        assert dev[section]["status"] in ("none", "unsupported") and dev[section]["reason"]
    points = {row["point"]: row for row in inventory["drops"]}
    assert points["socket_buffer"]["knobs"].keys() == {"net.core.rmem_default", "net.core.rmem_max"}
    assert points["device_dropped"]["where"] == bed.receiver.ifname


def test_a_prometheus_file_that_cannot_be_written_is_refused_before_watching(tmp_path):
    for bad in (tmp_path, Path("/proc/rxtune.prom"), tmp_path / "none" / "x.prom"):
        out = run_rxtune("top", "--prometheus", str(bad))
        assert out.returncode == 2 and "--prometheus" in out.stderr
