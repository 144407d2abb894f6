"""Two hosts through `rxtune serve`: two namespaces of a testbed stand in for them (their
clocks are one, which makes the clock-offset estimate a known answer: zero)."""

from __future__ import annotations

import os
import select as io_select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pyroute2 import IPRoute

from rxtune.control import channel as ch
from rxtune.control import keys
from rxtune.engine import _engine
from rxtune.errors import NotPermitted, RxtuneError
from rxtune.host import call_in_netns, socket_namespace
from rxtune.measure import bench, remote
from rxtune.strategies import LOAD, PINGPONG, THROUGHPUT, select
from rxtune.testbed import veth

pytestmark = pytest.mark.root
SO_RCVBUFFORCE = 33
SPOOFED = "198.18.1.1"  # a second address of the client's host, routable from the server


class Lab:
    def __init__(self, bed: veth.Testbed, key: Path, port: int):
        self.bed, self.key, self.port = bed, key, port

    def options(self, strategies: list[str], mode: str, direction: str, **more) -> bench.Options:
        return bench.Options(
            select(strategies, [50], mode),
            duration_s=0.4,
            rounds=2,
            interface=self.bed.sender.ifname,
            peer=self.bed.receiver.address,
            direction=direction,
            key_file=self.key,
            peer_port=self.port,
            netns=self.bed.sender.netns,
            mode=mode,
            **more,
        )

    def session(self, key: bytes | None = None) -> ch.Channel:
        with socket_namespace(self.bed.sender.netns):
            return ch.connect(
                self.bed.receiver.address,
                self.port,
                keys.load(self.key) if key is None else key,
                10,
                self.bed.sender.address,
            )

    def raw(self) -> socket.socket:
        with socket_namespace(self.bed.sender.netns):
            return socket.create_connection((self.bed.receiver.address, self.port), timeout=10)


def _route_spoofed(bed: veth.Testbed) -> None:
    """The client's host gets a second address the server can reach: an echo sent there
    would come back, so a test that counts echoes to it can fail."""
    with IPRoute(netns=bed.sender.netns) as ipr:
        ipr.addr("add", index=ipr.link_lookup(ifname=bed.sender.ifname)[0], address=SPOOFED,
                 prefixlen=32)  # fmt: skip
    with IPRoute(netns=bed.receiver.netns) as ipr:
        ipr.route(
            "add", dst=SPOOFED, dst_len=32, oif=ipr.link_lookup(ifname=bed.receiver.ifname)[0]
        )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    key = tmp_path_factory.mktemp("key") / "peer.key"
    keys.generate(key)
    with veth.testbed(veth.configuration("A")) as bed:
        _route_spoofed(bed)
        server = subprocess.Popen(
            [sys.executable, "-m", "rxtune", "serve", "--netns", bed.receiver.netns,
             "--address", bed.receiver.address, "--key-file", str(key), "--cpu", "0",
             "--idle-timeout", "3", "--duration", "600"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            ready, _, _ = io_select.select([server.stdout], [], [], 60)
            assert ready, "rxtune serve said nothing within 60 s"
            line = server.stdout.readline()
            assert "serving on" in line and "authenticated" in line, line
            yield Lab(bed, key, remote.CONTROL_PORT)
        finally:
            server.terminate()
            server.wait(15)


@pytest.mark.parametrize("direction", ["tx", "rx"])
@pytest.mark.parametrize("mode", [PINGPONG, THROUGHPUT, LOAD])
def test_every_mode_in_both_directions_with_both_sides_costs(lab: Lab, mode: str, direction: str):
    rate = {"rate_pps": 5000} if mode == LOAD else {}
    result = bench.run(lab.options(["epoll"], mode, direction, **rate))
    meta = result["metadata"]
    assert meta["direction"] == direction
    assert meta["peer_host"]["device"] == lab.bed.receiver.ifname
    assert meta["peer_host"]["kernel"] == os.uname().release
    # one clock under both namespaces: the estimate must find no offset beyond its bound
    clock = meta["clock"]
    assert abs(clock["offset_ns"]) <= clock["uncertainty_ns"] + 1000
    (run,) = result["runs"]
    assert run["unsupported"] is None, run["unsupported"]
    assert run["direction"] == direction
    packets = run["packets"]
    if mode == THROUGHPUT:  # a flood overruns a receiver: each drop is counted where it was
        assert packets["received"] > 0 and packets["unaccounted"] <= 0.01 * packets["sent"]
    else:
        assert packets["received"] > 0.9 * packets["sent"] > 0
    assert run["napi_id"] > 0  # the receiving host's socket took packets through its NAPI
    receiver, sender = ("peer", "local") if direction == "tx" else ("local", "peer")
    roles = {"tx": ("pinger", "reflector"), "rx": ("reflector", "pinger")}[direction]
    if mode != PINGPONG:
        roles = ("sender", "receiver") if direction == "tx" else ("receiver", "sender")
    assert (run["sides"]["local"]["role"], run["sides"]["peer"]["role"]) == roles
    for side in (receiver, sender):  # each host's machine worked, as it measured itself
        assert run["sides"][side]["machine_cpu_ns_per_packet"] > 0
        assert run["sides"][side]["machine_cores"] > 0
    if mode == PINGPONG:
        assert run["latency_basis"] == "rtt/2"
        assert run["latency_ns"]["count"] == run["packets"]["received"]
    else:
        assert run["cost"]["receive_cpu_ns_per_packet"] > 0
        assert run["packets"]["unaccounted"] >= 0
    if mode == LOAD:
        assert "clock corrected" in run["latency_basis"]
        assert run["latency_ns"]["p50"] > 0  # on the sender's clock, after the correction


def _packet(cookie: int, seq: int) -> bytes:
    return struct.pack("=QqqQ", seq, time.monotonic_ns(), time.time_ns(), cookie).ljust(64, b"\0")


def _echoes(sock: socket.socket, wait_s: float) -> int:
    got, end = 0, time.monotonic() + wait_s
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = io_select.select([sock], [], [], left)
        if not ready:
            break
        sock.recv(2048)
        got += 1
    return got


def test_only_the_rounds_packets_from_the_client_are_echoed(lab: Lab):
    peer = remote.Peer(lab.bed.receiver.address, lab.port, lab.key, lab.bed.sender.address,
                       lab.bed.sender.netns)  # fmt: skip
    try:
        spec = remote.RunSpec("reflect", PINGPONG, "blocking", 50, 32, 64, 5.0)
        cookie = peer.start(spec)["cookie"]
        target = (lab.bed.receiver.address, 47000)

        def send_all() -> tuple[int, int, int]:
            right = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            right.bind((lab.bed.sender.address, 0))
            spoofed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            spoofed.bind((SPOOFED, 0))
            for seq in range(50):
                right.sendto(_packet(cookie ^ 1, seq), target)  # another cookie
                spoofed.sendto(_packet(cookie, seq), target)  # the cookie, another address
                right.sendto(_packet(0, seq), target)  # the testbed's cookie
            foreign = _echoes(right, 0.3) + _echoes(spoofed, 0.3)
            for seq in range(20):
                right.sendto(_packet(cookie, seq), target)
            good = _echoes(right, 0.5)
            right.sendto(struct.pack("=QqqQ", 2**64 - 1, 0, 0, cookie).ljust(64, b"\0"), target)
            return foreign, good, 150

        with peer.round(30):  # this test is the client's sending side
            peer.tell("go")
            peer.tell("start")
            foreign, good, bad = call_in_netns(lab.bed.sender.netns, send_all)
            peer.tell("stop")
            figures = peer.result()
    finally:
        peer.close()
    assert foreign == 0  # nothing without the cookie, nothing to another address
    assert good == 20
    counts = figures["result"]["counts"]
    assert counts["foreign"] == bad
    assert counts["received"] == 20


def _frame_of(channel: ch.Channel, message: dict) -> bytes:
    """The bytes channel.send would put on the wire."""
    sent: list[bytes] = []

    class Tape:
        def sendall(self, data: bytes) -> None:
            sent.append(data)

    real, channel.sock = channel.sock, Tape()  # type: ignore[assignment]
    try:
        channel.send(message)
    finally:
        channel.sock = real
    return b"".join(sent)


def _refusal(sock: socket.socket) -> str:
    kind, body = ch.Channel(sock, "client", ch.MAX_TO_CLIENT).frame()
    assert kind == ch.PLAIN
    return ch.parse(body)["error"]


def _attacks(lab: Lab) -> dict[str, str]:
    said: dict[str, str] = {}
    # a wrong key: the server's hello does not verify
    with pytest.raises(ch.Refused) as wrong:
        lab.session(key=b"\x01" * keys.KEY_BYTES)
    said["wrong key"] = str(wrong.value)
    # a message recorded in one session and replayed in another
    first = lab.session()
    recorded = _frame_of(first, {"type": "about"})
    first.sock.sendall(recorded)
    first.receive()
    second = lab.session()
    second.sock.sendall(recorded)
    said["replayed elsewhere"] = _refusal(second.sock)
    # ... and twice in its own session
    third = lab.session()
    frame = _frame_of(third, {"type": "about"})
    third.sock.sendall(frame)
    third.receive()
    third.sock.sendall(frame)
    said["replayed"] = _refusal(third.sock)
    # 1 MiB of control message, before any authentication
    big = lab.raw()
    big.sendall(struct.pack("!IB", 1 << 20, ch.PLAIN) + b"x" * (1 << 20))
    said["1 MiB"] = _refusal(big)
    # a client without a key
    keyless = lab.raw()
    ch.Channel(keyless, "client", ch.MAX_TO_CLIENT).send_plain(ch.hello(False, ch.nonce()))
    said["no key"] = _refusal(keyless)
    # a client that says nothing
    silent = lab.raw()
    said["silent"] = _refusal(silent)
    for sock in (first.sock, second.sock, third.sock, big, keyless, silent):
        sock.close()
    return said


def test_bad_clients_are_refused_while_a_good_one_gets_its_run(lab: Lab):
    said: dict[str, str] = {}
    errors: list[BaseException] = []

    def attack() -> None:
        try:
            said.update(_attacks(lab))
        except BaseException as error:
            errors.append(error)

    attacker = threading.Thread(target=attack)
    attacker.start()
    result = bench.run(lab.options(["epoll"], PINGPONG, "tx"))
    attacker.join(60)
    assert not errors, errors
    assert result["runs"][0]["packets"]["received"] > 0
    assert "different key" in said["wrong key"]
    assert "HMAC does not verify" in said["replayed elsewhere"]
    assert "sequence 0, expected 1" in said["replayed"]
    assert "1,048,576 bytes refused" in said["1 MiB"]
    assert "needs authentication" in said["no key"]
    assert "timed out" in said["silent"]
    # and the server still serves
    assert lab.session().sock.fileno() >= 0


def test_a_key_others_may_read_is_refused(tmp_path: Path):
    key = tmp_path / "k"
    keys.generate(key)
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(keys.load(key)) == keys.KEY_BYTES
    key.chmod(0o644)
    with pytest.raises(NotPermitted, match="chmod 600"):
        keys.load(key)
    with pytest.raises(RxtuneError, match="exists"):
        keys.generate(key)
    done = subprocess.run(
        [sys.executable, "-m", "rxtune", "serve", "--key-file", str(key), "--duration", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "group or others may read" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "rxtune", "serve", "--duration", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "no key, no run" in done.stderr


def test_the_echo_rate_is_bounded():
    """The C reflector echoes at most its agreed rate (a token bucket with a burst of 64):
    counted on loopback, against the time it ran."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)  # holds all 2000
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    tx.setblocking(False)
    samples = np.empty(4096, np.int64)
    for seq in range(2000):
        tx.sendto(_packet(7, seq), rx.getsockname())
    tx.sendto(struct.pack("=QqqQ", 2**64 - 1, 0, 0, 7).ljust(64, b"\0"), rx.getsockname())
    started = time.monotonic()
    deadline = time.monotonic_ns() + 5 * 10**9
    arrays = (samples, samples.copy(), samples.copy())
    counts = _engine.reflect(rx.fileno(), -1, 0, deadline, *arrays, 7, "127.0.0.1", 0, 1000)
    elapsed = time.monotonic() - started
    echoed = 0
    while True:
        try:
            tx.recv(2048)
            echoed += 1
        except BlockingIOError:
            break
    assert counts["received"] > 0
    assert echoed + counts["over_rate"] == counts["received"]
    assert echoed <= 64 + 1000 * elapsed + 1
    assert counts["over_rate"] > 0
