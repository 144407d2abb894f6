"""The report: one HTML file whose every image is an embedded PNG, nothing fetched."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from conftest import run_rxtune

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
PNG = b"\x89PNG\r\n\x1a\n"


def test_a_report_of_saved_results_embeds_every_figure(tmp_path):
    output, pngs = tmp_path / "report.html", tmp_path / "png"
    run_rxtune(
        "report", str(RESULTS / "load_100k.json"), str(RESULTS / "pingpong.json"),
        "-o", str(output), "--png", str(pngs), check=True,
    )  # fmt: skip
    text = output.read_text()
    images = re.findall(r"<img [^>]*src='([^']*)'", text)
    assert len(images) >= 6
    for source in images:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG)
    assert not re.search(r"(src|href)=['\"]?https?:", text)  # nothing to fetch
    files = sorted(pngs.glob("*.png"))
    assert len(files) == len(images) and all(f.read_bytes().startswith(PNG) for f in files)
    # each CPU's time per strategy, and advise's recommendation beside the figures
    assert {"1-per-cpu.png", "2-per-cpu.png"} <= {f.name for f in files}
    assert text.count("Recommended (rxtune advise, balanced goal)") == 2


def test_results_of_several_hosts_stand_side_by_side(tmp_path):
    output = tmp_path / "hosts.html"
    files = [str(RESULTS / "pingpong.json"), str(RESULTS / "pingpong.json")]
    run_rxtune(
        "report", *files, "--label", "host=gw1", "--label", "host=gw2", "-o", str(output),
        check=True,
    )  # fmt: skip
    text = output.read_text()
    side = text[text.index("<h2>Side by side</h2>") : text.index("</table>")]
    for host in ("gw1", "gw2"):
        assert f"host={host}: epoll" in side
        assert f"<h2>host={host}: bench, pingpong</h2>" in text
    assert "Latency by percentile, every host" in text
    bad = run_rxtune("report", *files, "--label", "host=gw1", "-o", str(tmp_path / "x.html"))
    assert bad.returncode == 2 and "one KEY=VALUE per result" in bad.stderr
    assert not (tmp_path / "x.html").exists()


def test_a_file_that_is_no_result_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something else"}')
    out = run_rxtune("report", str(bad), "-o", str(tmp_path / "r.html"))
    assert out.returncode == 2 and "is not an rxtune bench result" in out.stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("name", ["throughput.json", "testbed_b_pitfall.json"])
def test_every_saved_result_draws(tmp_path, name):
    run_rxtune("report", str(RESULTS / name), "-o", str(tmp_path / "r.html"), check=True)


def test_polling_in_idle_is_drawn_beside_the_receive_cost():
    """A PM QoS row's hidden cost (its CPUs' time in the POLL idle state) gets a bar segment
    of its own; without one the figure is unchanged."""
    import json

    from rxtune.report import figures

    runs = json.loads((RESULTS / "load_100k.json").read_text())["runs"][:2]
    plain = figures.cpu_parts(runs)
    assert figures.cpu_parts(runs) == plain  # the same rows draw the same bytes
    runs[1]["cost"]["polling_in_idle_ns"] = 5 * runs[1]["cost"]["receive_cpu_ns"]
    drawn = figures.cpu_parts(runs)
    assert plain and drawn and plain.startswith(PNG) and drawn.startswith(PNG)
    assert drawn != plain
