"""The README documents every field of the bench result, as the schema describes it."""

from __future__ import annotations

from pathlib import Path

from rxtune.measure.schema import BENCH_SCHEMA, SCHEMA_ID, field_docs, fields_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_field_of_the_schema_as_the_schema_says():
    text = README.read_text()
    start = text.index("<!-- bench/2 fields: start -->") + len("<!-- bench/2 fields: start -->")
    end = text.index("<!-- bench/2 fields: end -->")
    assert text[start:end].strip() == fields_markdown()
    assert SCHEMA_ID in text


def test_every_field_has_a_meaning_and_costs_have_a_unit():
    paths = dict(field_docs())
    assert BENCH_SCHEMA["properties"]["schema"]["const"] == SCHEMA_ID
    for path in (
        "runs[].cost.receive_cpu_ns_per_packet (throughput, load)",
        "runs[].rate.achieved_pps (throughput, load)",
        "runs[].packets.unaccounted (throughput, load)",
        "runs[].drops.socket_buffer (throughput, load)",
    ):
        assert paths[path], path
    assert all(text.strip() for text in paths.values())
