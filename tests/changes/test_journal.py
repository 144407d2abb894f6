"""The journal: what it proves survives damage to the rest; nothing garbled is believed."""

from __future__ import annotations

import json

import pytest

from rxtune.changes.journal import Journal, Record, announced
from rxtune.changes.process import ProcessId

BUSY_READ = Record("net.core.busy_read", "host", None, None, None, None, 0, 50, "g1")
DEFER = Record("napi_defer_hard_irqs", "device", "eth9", None, None, "ns1", 0, 2, "g1")
THREADED = Record("threaded", "device", "eth9", None, None, "ns1", False, True, "g2")


@pytest.fixture
def journal(private_state_dir):
    j = Journal("tune.journal")
    j.write([BUSY_READ, DEFER, THREADED], {"persist_root": "/x"}, command="rxtune set")
    return j


def lines(journal: Journal) -> list[bytes]:
    return journal.path.read_bytes().split(b"\n")


def test_round_trip_with_owner_and_meta(journal):
    contents = journal.read()
    assert contents.records == [BUSY_READ, DEFER, THREADED] and not contents.damaged
    assert contents.meta == {"persist_root": "/x"} and contents.command == "rxtune set"
    assert contents.owner == ProcessId.current()
    assert not journal.path.with_name("tune.journal.tmp").exists()  # written atomically


def test_truncated_journal_keeps_the_whole_lines(journal):
    raw = journal.path.read_bytes()
    journal.path.write_bytes(raw[: raw.rindex(b"\n", 0, len(raw) - 1) + 20])  # cut the last line
    contents = journal.read()
    assert contents.records == [BUSY_READ, DEFER]
    assert contents.damaged == [contents.damaged[0]] and contents.damaged[0].startswith("line 4:")


def test_non_utf8_and_edited_lines_are_named_not_believed(journal):
    data = lines(journal)
    data[1] = b"\xff\xfe" + data[1]
    edited = json.loads(data[2])
    edited["record"]["previous"] = 7  # an edit that keeps the old checksum
    data[2] = json.dumps(edited).encode()
    journal.path.write_bytes(b"\n".join(data))
    contents = journal.read()
    assert contents.records == [THREADED]
    assert [d.split(":")[0] for d in contents.damaged] == ["line 2", "line 3"]
    assert "not UTF-8" in contents.damaged[0] and "checksum" in contents.damaged[1]


@pytest.mark.parametrize(
    "text, reason",
    [
        (b"", "the file is empty"),
        (b"null", "line 1"),
        (b"[]", "line 1"),
        (b'{"pid": 1, "entries": []}', "line 1"),
    ],
)
def test_no_journal_shape_is_damage_not_emptiness(journal, text, reason):
    journal.path.write_bytes(text)
    contents = journal.read()
    assert contents.exists and contents.damaged and reason in contents.damaged[0]
    assert contents.records == []


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("scope", "galaxy", "unknown knob or scope"),
        ("knob", "net.core.warp", "unknown knob"),
        ("previous", "fifty", "previous value"),
        ("new", 50.9, "new value"),
        ("previous", True, "previous value"),  # a boolean is not a number of µs
        ("queue", "0", "queue is not a number"),
    ],
)
def test_a_garbled_record_with_a_valid_checksum_is_refused(private_state_dir, field, value, reason):
    j = Journal("tune.journal")
    j.write([BUSY_READ])
    data = lines(j)
    record = json.loads(data[1])["record"]
    record[field] = value
    from rxtune.changes.journal import _line  # a writer that checksums what it was given

    data[1] = _line("record", record).encode()
    j.path.write_bytes(b"\n".join(data))
    contents = j.read()
    assert contents.records == [] and reason in contents.damaged[0]


def test_announced_journals_are_found_from_any_state_directory(tmp_path):
    a = Journal("transient.journal", tmp_path / "a")
    a.write([BUSY_READ], announce=True)
    assert a.path in [j.path for j in announced()]
    a.remove()
    assert a.path not in [j.path for j in announced()]


def test_set_aside_moves_a_damaged_journal_out_of_the_way(journal):
    journal.path.write_bytes(b"garbage")
    aside = journal.set_aside()
    assert not journal.path.exists() and aside.read_bytes() == b"garbage"
    assert not journal.read().exists
