"""The tables a person reads: every mode renders, and the CSV holds the same rows."""

from __future__ import annotations

import csv

import pytest

from rxtune.testbed import veth

from conftest import run_rxtune

pytestmark = pytest.mark.root


def rxtune(*args: str) -> str:
    return run_rxtune(*args, check=True).stdout


@pytest.mark.parametrize(
    "mode_args, header",
    [
        (["--mode", "throughput", "-s", "blocking,tpacket_v3"], "received/s"),
        (["--mode", "load", "--rate", "5000", "-s", "spin,af_xdp_poll"], "p50 µs"),
        (["-s", "epoll,so_busy_poll"], "RTT/s"),
    ],
)
def test_each_mode_prints_its_table_and_csv(tmp_path, mode_args, header):
    table = tmp_path / "table.csv"
    text = rxtune("bench", "-d", "0.3", "--csv", str(table), *mode_args)
    assert header in text
    rows = list(csv.reader(table.open()))
    assert rows[0][0] == "strategy" and header in rows[0]
    labels = [r[0] for r in rows[1:]]
    for name in mode_args[-1].split(","):
        assert any(label.startswith(name) for label in labels)
        assert any(line.startswith(name) for line in text.splitlines())
    # the CSV holds what the table shows, in the table's units (µs under "p50 µs")
    # (a figure the run has not got: "-" in the table, empty in the CSV)
    shown = {
        cells[0]: ["" if c == "-" else c for c in cells[1:]]
        for line in text.splitlines()
        if len(cells := [c.strip().replace(",", "") for c in line.split("│")]) > 2
    }
    for row in rows[1:]:
        assert row[1:-1] == shown[row[0]], row[0]


def test_show_prints_devices_napi_and_what_is_unsupported():
    with veth.testbed(veth.configuration("A")) as bed:
        text = rxtune("show", "--netns", bed.receiver.netns)
    assert "Device rx0" in text and "NAPI" in text
    assert "net.core.busy_read" in text
    assert "unsupported" in text and "Operation not supported" in text
    assert "What this kernel and these devices support" in text
