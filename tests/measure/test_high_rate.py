"""Throughput and load modes on the testbed: every strategy gets every packet of a paced
run, drops are found where they happen, XDP leaves nothing attached."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from rxtune.changes.lock import host_lock
from rxtune.changes.transient import TransientChanges
from rxtune.engine import paths
from rxtune.knobs.registry import get
from rxtune.measure import bench, load
from rxtune.measure.machine import MachineAccount
from rxtune.measure.pingpong import Endpoint
from rxtune.measure.schema import BENCH_SCHEMA
from rxtune.strategies import THROUGHPUT, default_names, select
from rxtune.testbed import veth

from conftest import xdp_attached

pytestmark = pytest.mark.root


def assert_every_packet_received_or_counted(run: dict) -> None:
    """No packet goes missing silently, and none is counted twice: what did not arrive was
    counted once, where it was dropped (a loaded machine may drop; a broken loop loses
    without a count; a drop seen by two counters would make `unaccounted` negative)."""
    packets = run["packets"]
    assert packets["dropped"] == sum(run["drops"].values())
    assert packets["unaccounted"] == packets["sent"] - packets["received"] - packets["dropped"]
    assert packets["unaccounted"] == 0, (run["label"], packets, run["drops"])


def test_every_strategy_receives_every_packet_of_a_paced_run():
    # packets 100 µs apart: a busy-poll window of 200 µs is still open when the next comes
    result = bench.run(
        bench.Options(
            select(None, [200], "load"),
            duration_s=0.3,
            mode="load",
            rate_pps=10_000,
            message_size=18,
        )
    )
    jsonschema.validate(result, BENCH_SCHEMA)
    assert [r["strategy"] for r in result["runs"]] == list(default_names(THROUGHPUT))
    for run in result["runs"]:
        assert run["unsupported"] is None, run
        packets = run["packets"]
        assert packets["sent"] > 2000, run["label"]
        assert_every_packet_received_or_counted(run)
        assert packets["duplicates"] == 0 and packets["foreign"] >= 0
        assert run["latency_ns"]["count"] == packets["received"]
        assert run["cost"]["packets_per_call"] >= 1
    by_name = {r["strategy"]: r for r in result["runs"]}
    assert by_name["io_uring_napi"]["busy_poll_rx_packets"] > 0
    assert by_name["io_uring"]["busy_poll_rx_packets"] == 0
    # a TPACKET block waits for its 1 ms timeout at this rate; a spinning socket does not
    assert by_name["tpacket_v3"]["latency_ns"]["p50"] > 5 * by_name["spin"]["latency_ns"]["p50"]


def test_drops_are_found_at_the_socket_when_the_receiver_cannot_keep_up():
    result = bench.run(
        bench.Options(
            select(["blocking"], [50], "throughput"), duration_s=0.5, mode="throughput", rcvbuf=1024
        )
    )
    (run,) = result["runs"]
    assert run["packets"]["sent"] > run["packets"]["received"]
    assert run["drops"]["socket_buffer"] > 0
    # each drop once: at the socket, and not again as a device or backlog drop
    assert_every_packet_received_or_counted(run)
    assert any(n["code"] == "lost" and "socket_buffer" in n["text"] for n in run["notes"])


def test_xdp_program_is_detached_after_a_run_and_after_a_failure(monkeypatch):
    with veth.testbed(veth.configuration("A")) as bed:
        tx = Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0])
        rx = Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1])
        settings = load.LoadSettings("load", 0.3, 64, 5000)
        (xdp,) = select(["af_xdp"], [50], "load")
        with MachineAccount() as account:
            rounds = [load.run(xdp, tx, rx, "tx0", "rx0", settings, account)]
        record = load.record(xdp, settings, rounds, bed.cpus[1])
        assert record["packets"]["received"] > 0
        assert_every_packet_received_or_counted(record)
        assert not xdp_attached(bed.receiver.netns, "rx0")

        def broken_socket(*args):
            raise OSError(95, "Operation not supported")

        monkeypatch.setattr(paths._engine, "rx_xdp", broken_socket)
        with (
            MachineAccount() as account,
            pytest.raises(Exception, match="AF_XDP socket on rx0: Operation not supported"),
        ):
            load.run(xdp, tx, rx, "tx0", "rx0", settings, account)
        assert not xdp_attached(bed.receiver.netns, "rx0")


def test_a_strategy_the_kernel_refuses_keeps_its_row_with_the_reason():
    knob = get("kernel.io_uring_disabled")
    if not Path("/proc/sys/kernel/io_uring_disabled").exists():
        pytest.skip("this kernel has no kernel.io_uring_disabled to refuse io_uring with")
    # journaled like any host change: restored by the next rxtune if this test dies here
    with host_lock("pytest"), TransientChanges("pytest") as changes:
        changes.set(knob, 2)
        result = bench.run(
            bench.Options(
                select(["io_uring", "recvmmsg"], [50], "load"),
                duration_s=0.3,
                mode="load",
                rate_pps=5000,
            )
        )
    uring, mmsg = result["runs"]
    assert "io_uring" in uring["unsupported"] and "io_uring_disabled" in uring["unsupported"]
    assert mmsg["unsupported"] is None and mmsg["packets"]["received"] > 0
    jsonschema.validate(result, BENCH_SCHEMA)


def test_io_uring_runs_back_to_back_release_their_port():
    """The multishot recv is cancelled before the ring closes: otherwise the ring's
    asynchronous teardown keeps the socket, and the next run cannot bind the port."""
    with veth.testbed(veth.configuration("A")) as bed:
        tx = Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0])
        rx = Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1])
        (uring,) = select(["io_uring"], [50], "throughput")
        with MachineAccount() as account:
            for _ in range(6):
                raw = load.run(
                    uring, tx, rx, "tx0", "rx0", load.LoadSettings("throughput", 0.2, 64), account
                )
                assert raw["got"]["stats"]["packets"] > 0


def test_several_flows_and_large_payloads_arrive_whole():
    result = bench.run(
        bench.Options(
            select(["recvmmsg", "af_xdp"], [50], "load"),
            duration_s=0.3,
            mode="load",
            rate_pps=8000,
            flows=4,
            message_size=1472,
        )
    )
    assert result["metadata"]["flows"] == 4
    for run in result["runs"]:
        assert run["packets"]["received"] > 0, run["label"]
        assert_every_packet_received_or_counted(run)
        assert run["packets"]["duplicates"] == 0


def test_an_af_xdp_ring_full_drop_is_counted_once():
    """With 8 UMEM frames the fill ring runs dry at a flood: each packet the XSK could not
    take counts in its statistics and in the veth's rx_dropped, and must count once."""
    with veth.testbed(veth.configuration("A")) as bed, MachineAccount() as account:
        tx = Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0])
        rx = Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1])
        (xdp,) = select(["af_xdp_poll"], [50], "throughput")
        settings = load.LoadSettings("throughput", 0.3, 64, xsk_frames=8)
        devices = (bed.sender.ifname, bed.receiver.ifname)
        rounds = [load.run(xdp, tx, rx, *devices, settings, account) for _ in range(2)]
    record = load.record(xdp, settings, rounds, bed.cpus[1])
    assert record["drops"]["ring"] > 0
    assert record["packets"]["foreign"] == 0  # IPv6 is off on the test link
    assert_every_packet_received_or_counted(record)
