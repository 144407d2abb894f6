"""The tables a person reads: every mode renders, and the CSV holds the same rows."""

from __future__ import annotations

import csv
import os

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
        (["-s", "epoll,so_busy_poll"], "p50 µs"),
    ],
)
def test_each_mode_prints_its_table_and_csv(tmp_path, mode_args, header):
    table = tmp_path / "table.csv"
    text = rxtune("bench", "-d", "0.3", "--wide", "--csv", str(table), *mode_args)
    assert header in text
    rows = list(csv.reader(table.open()))
    assert rows[0][0] == "strategy" and header in rows[0]
    labels = [r[0] for r in rows[1:]]
    for name in mode_args[-1].split(","):
        assert any(label.startswith(name) for label in labels)
        assert any(line.startswith(name) for line in text.splitlines())
    # the CSV holds what the table shows, in the table's units (µs under "p50 µs")
    # (a figure the run has not got: "-" in the table, empty in the CSV)
    table_rows = [
        [c.strip().replace(",", "") for c in line.replace("┃", "│").split("│")]
        for line in text.splitlines()
        if "│" in line or "┃" in line
    ]
    shown_header, *shown_rows = table_rows
    shown = {cells[0]: ["" if c == "-" else c for c in cells[1:]] for cells in shown_rows}
    for row in rows[1:]:
        by_name = dict(zip(rows[0], row, strict=True))
        assert [by_name[h] for h in shown_header[1:]] == shown[row[0]], row[0]


@pytest.mark.parametrize("columns", [80, 100])
def test_the_table_fits_the_terminal_without_cutting_a_figure(columns):
    out = run_rxtune(
        "bench", "--mode", "load", "--rate", "5000", "-d", "0.3",
        "-s", "blocking,so_busy_poll_prefer,af_xdp,af_xdp_poll",
        check=True, env={**os.environ, "COLUMNS": str(columns)},
    ).stdout  # fmt: skip
    lines = out.splitlines()
    table = [line for line in lines if "│" in line or "┃" in line]
    assert table and all(len(line) <= columns for line in table)
    assert not any("…" in line for line in table)
    assert any(line.startswith("so_busy_poll_prefer(50)") for line in table)
    # what did not fit is named, and a note shared by two rows is printed once
    assert any(line.startswith("not shown at") for line in lines) or columns >= 100
    notes = [line for line in lines if "copy mode on veth" in line]
    assert len(notes) == 1 and notes[0].startswith("af_xdp, af_xdp_poll:")


def test_show_prints_devices_napi_and_what_is_unsupported():
    with veth.testbed(veth.configuration("A")) as bed:
        text = rxtune("show", "--netns", bed.receiver.netns)
    assert "Device rx0" in text and "NAPI" in text
    assert "net.core.busy_read" in text
    assert "unsupported" in text and "Operation not supported" in text
    assert "What this kernel and these devices support" in text
