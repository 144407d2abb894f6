"""The Python API: a receiver set up for a strategy, in a program's own process."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import rxtune
from rxtune.host import Worker, call_in_netns
from rxtune.testbed import veth

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def bed():
    with veth.testbed(veth.configuration("A")) as bed:
        yield bed


@pytest.mark.parametrize("strategy", ["blocking", "epoll", "spin", "so_busy_poll", "epoll_params"])
def test_receiver_gets_a_datagram_through_napi(bed, strategy):
    def receive(ready):
        with rxtune.open_receiver(strategy, (bed.receiver.address, 48000)) as rx:
            ready()
            data = rx.recv(timeout=5)
            return data, rx.napi_id(), rx.socket.getsockopt(socket.SOL_SOCKET, 46)

    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"hello", (bed.receiver.address, 48000))

    worker = Worker(bed.receiver.netns, None, receive)
    assert worker.wait_ready(5)
    call_in_netns(bed.sender.netns, send)
    data, napi_id, busy_poll = worker.result(10)
    assert data == b"hello" and napi_id > 0
    assert busy_poll == (50 if strategy == "so_busy_poll" else 0)


def test_receiver_times_out_and_refuses_unknown_strategies(bed):
    def wait_for_nothing():
        with (
            rxtune.open_receiver("spin", (bed.receiver.address, 48001)) as rx,
            pytest.raises(TimeoutError),
        ):
            rx.recv(timeout=0.05)
        return True

    assert call_in_netns(bed.receiver.netns, wait_for_nothing)
    with pytest.raises(rxtune.InvalidValue, match="valid: blocking"):
        rxtune.open_receiver("carrier_pigeon", ("127.0.0.1", 0))


def test_inventory_reads_the_namespace(bed):
    report = rxtune.inventory(netns=bed.receiver.netns)
    assert report["schema"] == "rxtune.show/1"
    assert [d["name"] for d in report["devices"]] == [bed.receiver.ifname]


def test_tune_and_revert_from_python_as_the_command_line_does(bed):
    busy_read = Path("/proc/sys/net/core/busy_read")
    result = rxtune.tune(values={"busy_read": 8})
    assert [o.status for o in result.outcomes] == [
        "applied"
    ] and busy_read.read_text().strip() == "8"
    plan = rxtune.tune("balanced", devices=["rx0"], netns=bed.receiver.netns, dry_run=True)
    assert {c.assignment.knob.name for c in plan.plan} == {
        "napi_defer_hard_irqs",
        "gro_flush_timeout",
    }
    with pytest.raises(rxtune.InvalidValue, match="a profile or values"):
        rxtune.tune()
    reverted = rxtune.revert()
    assert reverted.complete and reverted.report.restored == ["net.core.busy_read=0"]
    assert busy_read.read_text().strip() == "0"
