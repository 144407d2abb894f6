"""rxtune bench: every receive strategy side by side, with what each costs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..changes.process import unwind_on_termination
from ..errors import InvalidValue
from ..knobs.model import whole_number
from ..measure import bench as bench_run
from ..strategies import NAMES, select
from ..testbed.veth import CONFIGURATIONS
from .common import WAIT, console, friendly_errors, print_json, said, strict_float, strict_int


def _us(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1000:.1f}"


def _per_kpkt(run: dict[str, Any], key: str) -> float:
    return 1000 * run["cost"][key] / max(run["packets"]["reflected"], 1)


# column -> (getter, better: "low" | "high" | None, format)
_LATENCY: dict[str, tuple[Any, Any, Any]] = {
    "p50 µs": (lambda r: r["latency_ns"]["p50"], "low", _us),
    "p90": (lambda r: r["latency_ns"]["p90"], "low", _us),
    "p99": (lambda r: r["latency_ns"]["p99"], "low", _us),
    "p99.9": (lambda r: r["latency_ns"]["p999"], "low", _us),
    "→kernel": (lambda r: r["split_ns"]["to_kernel"]["p50"], "low", _us),
    "kernel→app": (lambda r: r["split_ns"]["kernel_to_app"]["p50"], "low", _us),
}
COLUMNS: dict[str, tuple[Any, Any, Any]] = {
    **_LATENCY,
    "RTT/s": (lambda r: r["rate"]["round_trips_per_s"], "high", lambda v: f"{v:,.0f}"),
    "ctx/pkt": (lambda r: r["cost"]["ctx_per_packet"], "low", lambda v: f"{v:.2f}"),
    "CPU %": (lambda r: r["cost"]["cpu_fraction"], "low", lambda v: f"{100 * v:.0f}"),
    "IRQ/kpkt": (lambda r: round(_per_kpkt(r, "hardirqs")), "low", str),
    "NET_RX/kpkt": (lambda r: round(_per_kpkt(r, "net_rx_softirqs")), "low", str),
    "NAPI": (lambda r: r["napi_id"], None, str),
}


def _drops(run: dict[str, Any]) -> str:
    return (
        " ".join(
            f"{k.split('_')[0]}:{v}"
            for k, v in run["drops"].items()
            if v and k != "socket_overflow_counter"
        )
        or "0"
    )


_COST = {
    "CPU µs/pkt": (lambda r: r["cost"]["cpu_ns_per_packet"], "low", lambda v: f"{v / 1000:.2f}"),
    "ctx/kpkt": (lambda r: r["cost"]["ctx_per_kpkt"], "low", lambda v: f"{v:.1f}"),
    "IRQ/kpkt": (lambda r: r["cost"]["hardirqs_per_kpkt"], "low", lambda v: f"{v:.0f}"),
    "NET_RX/kpkt": (lambda r: r["cost"]["net_rx_softirqs_per_kpkt"], "low", lambda v: f"{v:.0f}"),
    "pkts/call": (lambda r: r["cost"]["packets_per_call"], "high", lambda v: f"{v:.1f}"),
}
THROUGHPUT_COLUMNS: dict[str, tuple[Any, Any, Any]] = {
    "received/s": (lambda r: r["rate"]["received_pps"], "high", lambda v: f"{v:,}"),
    "sent/s": (lambda r: r["rate"]["sent_pps"], None, lambda v: f"{v:,}"),
    "lost": (lambda r: r["packets"]["lost"], "low", lambda v: f"{v:,}"),
    "drops where": (_drops, None, str),
    **_COST,
}
LOAD_COLUMNS: dict[str, tuple[Any, Any, Any]] = {
    **_LATENCY,
    "lost": (lambda r: r["packets"]["lost"], "low", lambda v: f"{v:,}"),
    **_COST,
}


def _title(result: dict[str, Any]) -> str:
    meta = result["metadata"]
    where = (
        f"testbed {meta['testbed']}" if meta["testbed"] else f"{meta['interface']} → {meta['peer']}"
    )
    common = (
        f"{where}, {meta['message_size']} B, {meta['duration_s']} s each, kernel "
        f"{meta['kernel']}. [bold green]Green[/]: best of the column"
    )
    if result["mode"] == "throughput":
        return (
            f"Flood: packets/s each strategy takes, where the rest was dropped, and "
            f"what it costs the receiver per packet ({common}, {meta['flows']} flow(s))"
        )
    if result["mode"] == "load":
        return (
            f"Latency (µs) at {meta['rate_pps']:,} packets/s offered, and its cost "
            f"({common}); →kernel and kernel→app are the p50 of the two parts"
        )
    return (
        f"One-way latency (µs) and cost of each receive strategy: {common}; "
        f"→kernel and kernel→app are the p50 of the two parts"
    )


def table(result: dict[str, Any]) -> Table:
    columns = {"throughput": THROUGHPUT_COLUMNS, "load": LOAD_COLUMNS}.get(result["mode"], COLUMNS)
    out = Table(title=_title(result), title_justify="left", show_edge=False, pad_edge=False)
    out.add_column("strategy", no_wrap=True)
    for column in columns:
        out.add_column(column, justify="right")
    measured = [r for r in result["runs"] if not r["unsupported"]]
    best = {}
    for column, (get, better, _) in columns.items():
        values = [get(r) for r in measured if get(r) is not None]
        if better and values:
            best[column] = min(values) if better == "low" else max(values)
    for run in result["runs"]:
        if run["unsupported"]:
            out.add_row(
                run["label"],
                f"[dim]unsupported: {run['unsupported']}[/]",
                *[""] * (len(columns) - 1),
            )
            continue
        cells = []
        for column, (get, _, fmt) in columns.items():
            value = get(run)
            text = "-" if value is None else fmt(value)
            cells.append(f"[bold green]{text}[/]" if best.get(column) == value else text)
        out.add_row(run["label"], *cells)
    return out


def write_csv(result: dict[str, Any], path: Path) -> None:
    """The table's columns, each cell as the table shows it (so "p50 µs" holds µs)."""
    columns = {"throughput": THROUGHPUT_COLUMNS, "load": LOAD_COLUMNS}.get(result["mode"], COLUMNS)
    try:
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["strategy", *columns, "unsupported"])
            for run in result["runs"]:
                if run["unsupported"]:
                    writer.writerow([run["label"], *[""] * len(columns), run["unsupported"]])
                    continue
                cells = []
                for get, _, fmt in columns.values():
                    value = get(run)
                    cells.append("" if value is None else fmt(value).replace(",", ""))
                writer.writerow([run["label"], *cells, ""])
    except OSError as error:
        raise InvalidValue(
            f"cannot write {path}: {error.strerror}", "a file in an existing, writable directory"
        ) from None


_STRATEGY_NAMES = ", ".join(NAMES)


def writable_place(path: Path) -> bool:
    """Whether a file can be written there: tried, since permissions alone do not tell
    (root may write anywhere but /proc, a read-only mount, a directory)."""
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError:
        return False
    if not existed:
        path.unlink()
    return True


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@friendly_errors
def bench(
    mode: str = typer.Option(
        "pingpong",
        "--mode",
        help="pingpong (latency, one packet in "
        "flight), throughput (flood), load (paced, with --rate)",
    ),
    rate: int = typer.Option(0, "--rate", parser=strict_int, help="--mode load: packets/s offered"),
    flows: int = typer.Option(
        1, "--flows", parser=strict_int, help="throughput/load: sender flows (source ports)"
    ),
    batch: int = typer.Option(32, "--batch", parser=strict_int, help="recvmmsg batch size"),
    rcvbuf: int | None = typer.Option(
        None,
        "--rcvbuf",
        parser=strict_int,
        help="throughput/load: SO_RCVBUF bytes of the receiving socket",
    ),
    strategies: list[str] | None = typer.Option(
        None,
        "--strategy",
        "-s",
        help=f"strategies to run, repeat or comma-separate (default: all of the mode): "
        f"{_STRATEGY_NAMES}",
    ),
    busy_poll_us: list[str] | None = typer.Option(
        None, "--busy-poll-us", help="µs values for the busy-polling strategies (default 50)"
    ),
    duration: float = typer.Option(
        3.0, "--duration", "-d", parser=strict_float, help="seconds per strategy"
    ),
    message_size: int = typer.Option(
        64, "--message-size", "-m", parser=strict_int, help="UDP payload bytes"
    ),
    testbed: str = typer.Option(
        "A",
        "--testbed",
        "-t",
        help="testbed configuration: "
        + "; ".join(f"{k}: {v.summary}" for k, v in CONFIGURATIONS.items()),
    ),
    defer_hard_irqs: int | None = typer.Option(
        None, parser=strict_int, help="napi_defer_hard_irqs on the test devices"
    ),
    gro_flush_timeout: int | None = typer.Option(
        None, parser=strict_int, help="gro_flush_timeout (ns) on the test devices"
    ),
    threaded: bool | None = typer.Option(
        None, "--threaded/--no-threaded", help="threaded NAPI on the test devices"
    ),
    irq_suspend_timeout: int | None = typer.Option(
        None, parser=strict_int, help="irq-suspend-timeout (ns) on the test devices' NAPIs"
    ),
    interface: str | None = typer.Option(
        None, help="measure on this real interface instead of the testbed"
    ),
    peer: str | None = typer.Option(
        None, help="with --interface: the host running `rxtune reflect`"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON (rxtune.bench/1)"),
    save: Path | None = typer.Option(None, "--save", help="also write the JSON result here"),
    csv_path: Path | None = typer.Option(None, "--csv", help="also write a CSV table here"),
    wait: float = WAIT,
) -> None:
    """Measure every receive strategy side by side on a private veth testbed (two network
    namespaces, NAPI on) and show latency, its split at the kernel, and what each costs."""
    if strategies is not None and not _split(strategies):
        raise InvalidValue("--strategy names no strategy", NAMES)
    us_values = [whole_number(v) for v in _split(busy_poll_us)] if busy_poll_us else [50]
    numbers = [us for us in us_values if us is not None]
    if not numbers or len(numbers) != len(us_values):
        raise InvalidValue(
            f"--busy-poll-us {','.join(busy_poll_us or [])!r} is not a list of whole numbers",
            "e.g. 50 or 20,50,100",
        )
    options = bench_run.Options(
        strategies=select(_split(strategies) or None, numbers, mode, batch),
        duration_s=duration,
        message_size=message_size,
        testbed=testbed,
        device=bench_run.DeviceSettings(
            defer_hard_irqs, gro_flush_timeout, threaded, irq_suspend_timeout
        ),
        interface=interface,
        peer=peer,
        mode=mode,
        rate_pps=rate,
        flows=flows,
        rcvbuf=rcvbuf,
        wait_s=wait,
    )
    options.validate()
    for path in (save, csv_path):  # refuse before a long run, not after it
        if path is not None and not writable_place(path):
            raise InvalidValue(f"cannot write {path}", "a file in an existing, writable directory")
    unwind_on_termination()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json,
    ) as progress:
        task = progress.add_task("setting up", total=len(options.strategies))

        def report(done: int, total: int, strategy: Any) -> None:
            label = strategy.label if done < total else "done"
            progress.update(task, completed=done, description=f"measuring {label}")

        result = bench_run.run(options, report)
    if save:
        try:
            save.write_text(json.dumps(result, indent=1))
        except OSError as error:
            raise InvalidValue(
                f"cannot write {save}: {error.strerror}",
                "a file in an existing, writable directory",
            ) from None
    if csv_path:
        write_csv(result, csv_path)
    if as_json:
        print_json(result)
        return
    said(result["metadata"]["recovered"]["restored"])
    console.print(table(result))
    for run in result["runs"]:
        for note in run.get("notes", []):
            console.print(f"[yellow]{run['label']}[/]: {note['text']}")
