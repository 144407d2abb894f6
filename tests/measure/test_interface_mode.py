"""--interface / --peer: the local host is the receiver under test, the peer runs
`rxtune reflect`. Two namespaces of the testbed stand in for the two hosts."""

from __future__ import annotations

import select as io_select
import subprocess
import sys

import pytest

from rxtune.host import call_in_netns
from rxtune.measure import bench
from rxtune.strategies import select
from rxtune.testbed import veth

pytestmark = pytest.mark.root


def test_bench_against_a_remote_reflector():
    with veth.testbed(veth.configuration("A")) as bed:
        peer = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                bed.receiver.netns,
                sys.executable,
                "-m",
                "rxtune",
                "reflect",
                "--address",
                bed.receiver.address,
                "--duration",
                "30",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            ready, _, _ = io_select.select([peer.stdout], [], [], 60)
            assert ready, "rxtune reflect said nothing within 60 s"
            assert "reflecting on" in peer.stdout.readline()
            options = bench.Options(
                select(["epoll", "so_busy_poll"], [50]),
                duration_s=0.5,
                interface=bed.sender.ifname,
                peer=bed.receiver.address,
            )
            result = call_in_netns(bed.sender.netns, bench.run, options)
        finally:
            peer.terminate()
            peer.wait(10)
    assert result["metadata"]["interface"] == bed.sender.ifname
    for run in result["runs"]:
        assert run["latency_basis"] == "rtt/2"
        assert run["packets"]["received"] > 0
        assert run["napi_id"] > 0  # the echo reached the client through tx0's NAPI
        assert run["split_ns"]["rx_stamp_to_app"]["count"] == run["packets"]["received"]
    busy = next(r for r in result["runs"] if r["strategy"] == "so_busy_poll")
    assert busy["busy_poll_rx_packets"] > 0
