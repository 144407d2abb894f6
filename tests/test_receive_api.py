"""The Python receive API: every strategy of the bench through open_receiver, batches whose
views die with them, the XDP program's lifetime, asyncio, and the receiver's own counts."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rxtune
from rxtune.changes.lock import host_lock
from rxtune.changes.transient import TransientChanges
from rxtune.engine import _engine
from rxtune.host import Worker, call_in_netns
from rxtune.knobs.registry import get
from rxtune.strategies import BY_NAME, NAMES, Receiver
from rxtune.testbed import veth

from conftest import xdp_attached

pytestmark = pytest.mark.root

PORT = 48300
MESSAGE = 100
HEADER = 16  # the load payload: seq, send delay, intended send time; then 0x5a padding
RATE, SECONDS = 20_000, 0.15
STAMPED = {Receiver.SOCKET, Receiver.TPACKET}  # kernel RX stamps; io_uring, AF_XDP have none


@pytest.fixture(scope="module")
def bed():
    with veth.testbed(veth.configuration("A")) as bed:
        yield bed


def _send(bed: veth.Testbed, rate: int = RATE, seconds: float = SECONDS) -> int:
    """A paced run from the sender's namespace; how many packets left."""

    def send() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((bed.sender.address, PORT + 100))
            sock.connect((bed.receiver.address, PORT))
            return _engine.send_load([sock.fileno()], MESSAGE, rate, int(seconds * 1e9), 32)["sent"]

    return call_in_netns(bed.sender.netns, send)


def _until_quiet(rx: rxtune.Receiver, take: Any, quiet_s: float = 0.5) -> None:
    """Call take(rx) until no packet came for quiet_s after the first (10 s at most)."""
    give_up, got_any = time.monotonic() + 10, False
    while time.monotonic() < give_up:
        if take(rx):
            got_any = True
        elif got_any:
            return


def _receive_paced(bed: veth.Testbed, strategy: str, **options: Any) -> tuple[int, dict]:
    def receive(ready):
        try:
            rx = rxtune.open_receiver(strategy, (bed.receiver.address, PORT), **options)
        except rxtune.Unsupported as error:
            return {"unsupported": str(error)}
        seqs: list[int] = []
        stamps: list[int] = []
        lengths: set[int] = set()
        sources: set = set()
        damaged = 0

        def take(rx: rxtune.Receiver) -> int:
            nonlocal damaged
            with rx.recv_batch(timeout=0.5) as batch:
                for payload in batch:
                    seqs.append(struct.unpack_from("I", payload)[0])
                    damaged += payload[HEADER:] != b"\x5a" * (len(payload) - HEADER)
                lengths.update(batch.lengths.tolist())
                stamps.extend(batch.timestamps.tolist())
                sources.update(batch.sources)
                return len(batch)

        with rx:
            ready()
            _until_quiet(rx, take)
            stats = rx.stats()
        return {
            "seqs": seqs,
            "stamps": stamps,
            "lengths": lengths,
            "sources": sources,
            "damaged": damaged,
            "stats": stats,
        }

    worker = Worker(bed.receiver.netns, bed.cpus[1], receive)
    if not worker.wait_ready(15):
        return 0, worker.result(5)  # the reason it is unsupported, or its error raised
    return _send(bed), worker.result(30)


@pytest.mark.parametrize("strategy", NAMES)
def test_every_strategy_receives_every_packet_of_a_paced_run_intact(bed, strategy):
    sent, got = _receive_paced(bed, strategy)
    if "unsupported" in got:
        pytest.skip(f"{strategy} is not supported here: {got['unsupported']}")
    seqs = got["seqs"]
    # the paced sender stops at its deadline: preempted near the end, it sends a few less
    assert sent > 0.95 * RATE * SECONDS
    assert sorted(seqs) == list(range(sent)), "each packet once, none missing"
    assert got["lengths"] == {MESSAGE} and got["damaged"] == 0
    kind = BY_NAME[strategy].receiver
    stamps = np.array(got["stamps"])
    if kind in STAMPED:
        assert (stamps > 0).all() and (np.diff(stamps) >= 0).all(), "stamped, in order"
    else:
        assert (stamps == -1).all()
    expected_source = None if kind == Receiver.IO_URING else (bed.sender.address, PORT + 100)
    assert got["sources"] == {expected_source}
    stats = got["stats"]
    assert stats["packets"] == sent and stats["batches"] >= 1
    assert stats["drops"] == {"socket_buffer": 0, "ring": 0}


@pytest.mark.parametrize("strategy", ["recvmmsg", "io_uring", "tpacket_v3", "af_xdp_poll"])
def test_recv_takes_one_datagram_at_a_time_and_leaves_the_rest_in_the_ring(bed, strategy):
    def receive(ready):
        with rxtune.open_receiver(strategy, (bed.receiver.address, PORT)) as rx:
            ready()
            seqs: list[int] = []

            def take(rx: rxtune.Receiver) -> int:
                try:
                    seqs.append(struct.unpack_from("I", rx.recv(timeout=0.5))[0])
                except TimeoutError:
                    return 0
                return 1

            _until_quiet(rx, take)
            return seqs

    worker = Worker(bed.receiver.netns, bed.cpus[1], receive)
    assert worker.wait_ready(15)
    sent = _send(bed)
    assert sorted(worker.result(30)) == list(range(sent))


def test_views_of_a_released_batch_raise_instead_of_reading_reused_memory():
    with (
        rxtune.open_receiver("blocking", ("127.0.0.1", 0), batch=8) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        assert rx.socket is not None
        where = rx.socket.getsockname()
        for i in range(20):
            tx.sendto(bytes([i]) * 32, where)
        first = rx.recv_batch(timeout=5)
        view, kept = first[0], bytes(first[0])
        assert len(first) == 8 and kept == bytes([0]) * 32
        first.release()
        with pytest.raises(ValueError, match="released"):
            view[0]
        with pytest.raises(ValueError, match="released"):
            first[1]
        # the next batch releases the previous one too
        second = rx.recv_batch(timeout=5)
        view = second[0]
        assert view[0] == 8
        third = rx.recv_batch(max=2, timeout=5)
        with pytest.raises(ValueError, match="released"):
            view[0]
        # a payload still exported elsewhere keeps its buffer: the next batch is refused
        exported = np.frombuffer(third[0], np.uint8)
        with pytest.raises(BufferError, match="copy what you keep"):
            rx.recv_batch(timeout=5)
        assert exported[0] == 16
        del exported
        assert rx.recv_batch(timeout=5)[0][0] == 18
        with pytest.raises(ValueError, match=r"max must be 1\.\.8"):
            rx.recv_batch(max=9)


EXITS_WITHOUT_CLOSE = """
import rxtune
rx = rxtune.open_receiver("af_xdp_poll", ({address!r}, {port}))
print("opened")
"""


def test_the_xdp_program_goes_with_close_an_exception_and_the_process(bed):
    dev, netns = bed.receiver.ifname, bed.receiver.netns

    def opened(finish):
        def run(ready):
            rx = rxtune.open_receiver("af_xdp_poll", (bed.receiver.address, PORT))
            ready()
            return finish(rx)

        return run

    def close(rx):
        attached = xdp_attached(None, dev)
        rx.close()
        return attached, xdp_attached(None, dev)

    def raise_inside(rx):
        with rx:
            raise RuntimeError("the application failed")

    def interpreter(ready):
        code = EXITS_WITHOUT_CLOSE.format(address=bed.receiver.address, port=PORT)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert Worker(netns, None, opened(close)).result(15) == (True, False)
    with pytest.raises(RuntimeError, match="the application failed"):
        Worker(netns, None, opened(raise_inside)).result(15)
    assert not xdp_attached(netns, dev)
    exited = Worker(netns, None, interpreter).result(60)
    assert exited.returncode == 0 and exited.stdout == "opened\n", exited.stderr
    assert not xdp_attached(netns, dev)
    killed = Worker(netns, None, opened(lambda rx: time.sleep(60)))
    assert killed.wait_ready(15) and xdp_attached(netns, dev)
    killed.kill()  # SIGKILL: no finalizer runs; the BPF link closes with the process
    deadline = time.monotonic() + 5
    while xdp_attached(netns, dev) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not xdp_attached(netns, dev)


@pytest.mark.parametrize("strategy", ["epoll", "tpacket_v3", "so_busy_poll", "io_uring"])
def test_asyncio_receives_while_another_task_keeps_running(bed, strategy):
    """A sleeping strategy waits in the event loop, a spinning one in a thread: either way
    a ticking task runs on while packets are received."""

    async def consume(rx: rxtune.Receiver) -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        ticker = asyncio.create_task(tick())
        received = 0
        while received < int(RATE * SECONDS):
            batch = await asyncio.wait_for(rx.recv_batch_async(), 10)
            received += len(batch)
            batch.release()
        ticker.cancel()
        return received, ticks

    def receive(ready):
        with rxtune.open_receiver(strategy, (bed.receiver.address, PORT)) as rx:
            ready()
            return asyncio.run(consume(rx))

    worker = Worker(bed.receiver.netns, bed.cpus[1], receive)
    assert worker.wait_ready(15)
    sent = _send(bed)
    received, ticks = worker.result(30)
    assert received == sent
    assert ticks >= 10, "the other task ran while the receiver waited"


def test_the_receivers_counts_add_up_drops_where_they_happened(bed):
    """Nothing is read until the sender is done: a 2 KiB socket buffer keeps a few
    datagrams and drops the rest; the receiver's packets and its socket drops add up to what
    was sent, for recvmsg and for io_uring (which carries no SO_RXQ_OVFL)."""

    def receive(ready, strategy):
        with rxtune.open_receiver(
            strategy, (bed.receiver.address, PORT), rcvbuf=1024, account=True
        ) as rx:
            ready()
            time.sleep(SECONDS + 0.3)
            while len(rx.recv_batch(timeout=0.2)):
                pass
            return rx.stats()

    for strategy in ("blocking", "io_uring"):
        worker = Worker(bed.receiver.netns, bed.cpus[1], receive, strategy)
        assert worker.wait_ready(15)
        sent = _send(bed)
        stats = worker.result(30)
        assert stats["drops"]["socket_buffer"] > 0, strategy
        assert stats["packets"] + stats["drops"]["socket_buffer"] == sent, strategy
        assert stats["napi_id"] > 0 and stats["receive_cores"] > 0
        assert set(stats["receive_parts_ns"]) == {
            "receiving_cpu_busy",
            "net_rx_softirq_elsewhere",
            "napi_threads_elsewhere",
        }


def test_bad_options_are_refused_naming_what_is_valid():
    where = ("127.0.0.1", 0)
    with pytest.raises(rxtune.InvalidValue, match="valid: blocking, poll"):
        rxtune.open_receiver("carrier_pigeon", where)
    with pytest.raises(rxtune.InvalidValue, match=r"batch=0 .*valid: 1\.\.1024"):
        rxtune.open_receiver("recvmmsg", where, batch=0)
    with pytest.raises(rxtune.InvalidValue, match=r"valid: .*tpacket_blocks"):
        rxtune.open_receiver("tpacket_v3", where, tpacket_blockz=4)
    with pytest.raises(rxtune.InvalidValue, match=r"no device holds 198\.19\.255\.254"):
        rxtune.open_receiver("af_xdp", ("198.19.255.254", 9000))
    with pytest.raises(rxtune.InvalidValue, match=r"port 0\.\.65535"):
        rxtune.open_receiver("blocking", ("127.0.0.1", "9000"))
    if len(os.sched_getaffinity(0)) > 1:  # pinned to one CPU, account=True would take it
        with pytest.raises(rxtune.InvalidValue, match="pin the receiver"):
            rxtune.open_receiver("blocking", where, account=True)


def test_a_strategy_the_kernel_lacks_is_refused_with_the_benchs_reason():
    if not Path("/proc/sys/kernel/io_uring_disabled").exists():
        pytest.skip("this kernel has no kernel.io_uring_disabled to refuse io_uring with")
    with host_lock("pytest"), TransientChanges("pytest") as changes:
        changes.set(get("kernel.io_uring_disabled"), 2)
        with pytest.raises(rxtune.Unsupported) as refused:
            rxtune.open_receiver("io_uring", ("127.0.0.1", 0))
    # the words of the bench's unsupported row (tests/measure/test_high_rate.py)
    assert str(refused.value).startswith("io_uring: ")
    assert "kernel.io_uring_disabled?" in str(refused.value)
