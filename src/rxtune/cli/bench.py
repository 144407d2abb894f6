"""rxtune bench: every receive strategy side by side, with what each costs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..changes.process import unwind_on_termination
from ..errors import InvalidValue
from ..knobs.model import whole_number
from ..measure import bench as bench_run
from ..measure.notes import UNDER_RATE_NOTE
from ..measure.remote import CONTROL_PORT
from ..measure.schema import SCHEMA_ID
from ..measure.stats import overlaps
from ..strategies import NAMES, select
from ..testbed.veth import CONFIGURATIONS
from .common import WAIT, console, friendly_errors, print_json, said, strict_float, strict_int


def _us(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1000:.1f}"


@dataclass(frozen=True)
class Column:
    get: Callable[[dict[str, Any]], Any]
    better: str | None = None  # "low" or "high": the column may mark a best
    fmt: Callable[[Any], str] = str
    ci: Callable[[dict[str, Any]], list[float] | None] | None = None  # 95% interval
    wide: bool = False  # shown with --wide only: not what answers the question


def _interrupts(run: dict[str, Any]) -> str:
    kinds = run["cost"]["interrupts_per_kpkt"]
    return f"{kinds['device']:.0f}·{kinds['ipi']:.0f}·{kinds['timer']:.0f}"


def _latency(key: str, name: str = "latency_ns", ci: bool = False) -> Column:
    return Column(
        lambda r: r[name][key],
        "low",
        _us,
        (lambda r: r[name].get(f"{key}_ci")) if ci else None,
    )


def _split(name: str) -> Column:
    return Column(lambda r: r["split_ns"][name]["p50"], None, _us)


_RECEIVE_COST = Column(
    lambda r: r["cost"]["receive_cpu_ns_per_packet"],
    "low",
    lambda v: f"{v / 1000:.2f}",
    lambda r: r["cost"]["receive_cpu_ns_per_packet_ci"],
)
# the CPUs' time in the POLL idle state: the cost of a PM QoS limit that busy time misses
_IDLE_POLL = Column(
    lambda r: r["cost"].get("polling_in_idle_ns"), None, lambda v: f"{v / 1e6:.0f}", wide=True
)
_COMMON_COST = {
    "cores": Column(lambda r: r["cost"]["receive_cores"], None, lambda v: f"{v:.2f}"),
    "thread µs/pkt": Column(
        lambda r: r["cost"]["thread_cpu_ns_per_packet"],
        None,
        lambda v: f"{v / 1000:.2f}",
        wide=True,
    ),
    "ctx/kpkt": Column(lambda r: r["cost"]["ctx_per_kpkt"], None, lambda v: f"{v:.0f}"),
    "IRQ/kpkt dev·ipi·timer": Column(_interrupts, wide=True),
    "idle-poll ms": _IDLE_POLL,
}
COLUMNS: dict[str, Column] = {
    "p50 µs": _latency("p50", ci=True),
    "p90": replace(_latency("p90"), wide=True),
    "p99": _latency("p99", ci=True),
    "p99.9": _latency("p999"),
    "p99.99": replace(_latency("p9999"), wide=True),
    "→stamp": replace(_split("to_rx_stamp"), wide=True),
    "stamp→app": _split("rx_stamp_to_app"),
    "RTT/s": Column(
        lambda r: r["rate"]["round_trips_per_s"], None, lambda v: f"{v:,.0f}", wide=True
    ),
    "machine µs/RT": Column(
        lambda r: r["cost"]["machine_cpu_ns_per_round_trip"],
        "low",
        lambda v: f"{v / 1000:.1f}",
        lambda r: r["cost"]["machine_cpu_ns_per_round_trip_ci"],
    ),
    "thread %": Column(
        lambda r: r["cost"]["thread_cores"], None, lambda v: f"{100 * v:.0f}", wide=True
    ),
    "ctx/kpkt": Column(lambda r: r["cost"]["ctx_per_kpkt"], None, lambda v: f"{v:.0f}"),
    "IRQ/kpkt dev·ipi·timer": Column(_interrupts, wide=True),
    "idle-poll ms": _IDLE_POLL,
    "NAPI": Column(lambda r: r["napi_id"], wide=True),
}


# drops.* keys as the narrow "drops where" cell names them
_DROP_SHORT = {"socket_buffer": "sock", "veth_forward": "veth", "receiver_device": "dev"}


def _drops(run: dict[str, Any]) -> str:
    return " ".join(f"{_DROP_SHORT.get(k, k)}:{v:,}" for k, v in run["drops"].items() if v) or "0"


THROUGHPUT_COLUMNS: dict[str, Column] = {
    "received/s": Column(lambda r: r["rate"]["received_pps"], None, lambda v: f"{v:,}"),
    "sent/s": Column(lambda r: r["rate"]["achieved_pps"], None, lambda v: f"{v:,}"),
    "drops where": Column(_drops),
    "unacc.": Column(lambda r: r["packets"]["unaccounted"], None, lambda v: f"{v:,}", wide=True),
    "recv µs/pkt": _RECEIVE_COST,
    **_COMMON_COST,
    "NET_RX/kpkt": Column(
        lambda r: r["cost"]["net_rx_softirqs_per_kpkt"], None, lambda v: f"{v:.0f}", wide=True
    ),
    "pkts/call": Column(
        lambda r: r["cost"]["packets_per_call"], None, lambda v: f"{v:.1f}", wide=True
    ),
}
LOAD_COLUMNS: dict[str, Column] = {
    "p50 µs": _latency("p50", ci=True),
    "p99": _latency("p99", ci=True),
    "p99.9": _latency("p999"),
    "p99.99": replace(_latency("p9999"), wide=True),
    "send late": replace(_split("send_delay"), wide=True),
    "→stamp": replace(_split("to_rx_stamp"), wide=True),
    "stamp→app": _split("rx_stamp_to_app"),
    "achieved/s": Column(lambda r: r["rate"]["achieved_pps"], None, lambda v: f"{v:,}"),
    "dropped": Column(lambda r: r["packets"]["dropped"], None, lambda v: f"{v:,}"),
    "recv µs/pkt": _RECEIVE_COST,
    **_COMMON_COST,
}


def _title(result: dict[str, Any]) -> str:
    meta = result["metadata"]
    where = f"testbed {meta['testbed']}"
    if meta["peer"]:
        arrow = "→" if meta.get("direction", "tx") == "tx" else "←"
        where = f"{meta['interface']} {arrow} {meta['peer']} (receiving: " + (
            "the peer)" if meta.get("direction", "tx") == "tx" else "this host)"
        )
        if result["mode"] == "load" and meta.get("clock"):
            where += f", clock offset known to ±{meta['clock']['uncertainty_ns'] / 1000:.0f} µs"
    common = (
        f"{where}, {meta['message_size']} B, {meta['duration_s']} s each in "
        f"{meta['rounds']} interleaved rounds, kernel {meta['kernel']}. [bold green]Green[/]: "
        "best of the column, where its 95% interval overlaps no other"
    )
    cost = (
        "recv µs/pkt is what the whole machine spends per packet received (the receiving "
        "CPU's busy time plus NET_RX softirq and NAPI threads elsewhere), thread µs/pkt the "
        "receiving thread alone"
    )
    parts = (
        "→stamp runs to the kernel's RX stamp, taken when the NAPI poll hands the packet to "
        "the stack (a GRO hold and the veth ring wait are in it), stamp→app from there to "
        "the application (p50 of each)"
    )
    if result["mode"] == "throughput":
        return (
            f"Flood: packets/s each strategy takes, where the rest was dropped, and "
            f"what it costs per packet ({common}, {meta['flows']} flow(s)); {cost}"
        )
    if result["mode"] == "load":
        return (
            f"Latency (µs) from each packet's intended send time at {meta['rate_pps']:,} "
            f"packets/s offered, and its cost ({common}); send late is how long after its "
            f"slot a packet left; {parts}; {cost}"
        )
    basis = "RTT/2 (no shared clock)" if meta["peer"] else "One-way latency"
    return f"{basis} (µs) and cost of each receive strategy: {common}; {parts}"


def _ranked(run: dict[str, Any]) -> bool:
    """Whether a row may be best: measured, and (load) at the rate it was offered."""
    return not run["unsupported"] and not any(
        n["code"] == UNDER_RATE_NOTE for n in run.get("notes", [])
    )


def best_rows(runs: list[dict[str, Any]], column: Column) -> set[int]:
    """Indexes of the rows a column marks best: the best value, where its interval overlaps
    no other row's (a difference inside the noise is no result)."""
    if not column.better or column.ci is None:
        return set()
    ranked = [(i, r) for i, r in enumerate(runs) if _ranked(r) and column.get(r) is not None]
    if len(ranked) < 2:
        return set()
    pick = min if column.better == "low" else max
    index, winner = pick(ranked, key=lambda item: column.get(item[1]))
    mine = column.ci(winner)
    if mine is None:
        return set()
    others = [column.ci(r) for i, r in ranked if i != index]
    return set() if any(overlaps(mine, other) for other in others) else {index}


# what a narrow terminal loses first; latency, the receive cost and the rate stay longest
DROP_FIRST = (
    "idle-poll ms",
    "p99.99",
    "ctx/kpkt",
    "cores",
    "p99.9",
    "dropped",
    "sent/s",
    "stamp→app",
    "drops where",
)


def _side(name: str) -> Column:
    return Column(
        lambda r: r["sides"][name]["machine_cpu_ns_per_packet"], None, lambda v: f"{v / 1000:.2f}"
    )


# two hosts: what each whole machine spent per packet (the peer's figures came back from it)
SIDE_COLUMNS = {"here µs/pkt": _side("local"), "peer µs/pkt": _side("peer")}


def _columns(result: dict[str, Any]) -> dict[str, Column]:
    columns = {"throughput": THROUGHPUT_COLUMNS, "load": LOAD_COLUMNS}.get(result["mode"], COLUMNS)
    return {**columns, **SIDE_COLUMNS} if result["metadata"].get("peer") else columns


def _render(result: dict[str, Any], columns: dict[str, Column]) -> Table:
    out = Table(title=_title(result), title_justify="left", show_edge=False, pad_edge=False)
    out.add_column("strategy", no_wrap=True)
    for name in columns:
        out.add_column(name, justify="right", no_wrap=True)  # a figure is never cut
    runs = result["runs"]
    best = {name: best_rows(runs, column) for name, column in columns.items()}
    for index, run in enumerate(runs):
        if run["unsupported"]:
            out.add_row(run["label"], "[dim]unsupported[/]", *[""] * (len(columns) - 1))
            continue
        cells = []
        for name, column in columns.items():
            value = column.get(run)
            text = "-" if value is None else column.fmt(value)
            cells.append(f"[bold green]{text}[/]" if index in best[name] else text)
        out.add_row(run["label"], *cells)
    return out


def table(result: dict[str, Any], width: int, wide: bool = False) -> tuple[Table, list[str]]:
    """The table for a terminal `width` columns wide, and the columns it had to leave out:
    the ones that answer the question by default (all with `wide`), then, where they do not
    fit, the last of them dropped one by one rather than a figure cut."""
    chosen = {n: c for n, c in _columns(result).items() if wide or not c.wide}
    order = [n for n in DROP_FIRST if n in chosen] + [n for n in reversed(chosen)]
    dropped: list[str] = []
    measuring = Console(width=100_000)  # the natural width, not one clamped to the terminal
    while True:
        rendered = _render(result, chosen)
        needed = Measurement.get(measuring, measuring.options, rendered).maximum
        if needed <= width or len(chosen) <= 2:
            return rendered, dropped
        name = next(n for n in order if n in chosen)
        dropped.append(name)
        del chosen[name]


def notes_once(runs: list[dict[str, Any]]) -> list[str]:
    """Every note of the rows, each text once with the strategies it concerns; what could
    not run, with the reason."""
    by_text: dict[str, list[str]] = {}
    for run in runs:
        if run["unsupported"]:
            by_text.setdefault(f"unsupported: {run['unsupported']}", []).append(run["label"])
        for note in run.get("notes", []):
            by_text.setdefault(note["text"], []).append(run["label"])
    return [f"[yellow]{', '.join(labels)}[/]: {escape(text)}" for text, labels in by_text.items()]


def write_csv(result: dict[str, Any], path: Path) -> None:
    """The table's columns, each cell as the table shows it (so "p50 µs" holds µs)."""
    columns = _columns(result)
    try:
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["strategy", *columns, "unsupported"])
            for run in result["runs"]:
                if run["unsupported"]:
                    writer.writerow([run["label"], *[""] * len(columns), run["unsupported"]])
                    continue
                cells = []
                for column in columns.values():
                    value = column.get(run)
                    cells.append("" if value is None else column.fmt(value).replace(",", ""))
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


def _listed(values: list[str] | None) -> list[str]:
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
        3.0, "--duration", "-d", parser=strict_float, help="seconds per strategy, over all rounds"
    ),
    rounds: int | None = typer.Option(
        None,
        "--rounds",
        parser=strict_int,
        help="interleaved rounds per strategy (default: 5, fewer if --duration is short); "
        "the 95% intervals are over the rounds",
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
        None, help="with --interface: the address of the host running `rxtune serve`"
    ),
    direction: str = typer.Option(
        "tx",
        "--direction",
        help="with --peer: tx, this host sends and the peer receives with each strategy; "
        "rx, the peer sends and this host receives",
    ),
    key_file: Path | None = typer.Option(
        None, "--key-file", help="with --peer: the key `rxtune serve` has (rxtune keygen)"
    ),
    peer_port: int = typer.Option(
        CONTROL_PORT, "--peer-port", parser=strict_int, help="with --peer: its control port"
    ),
    netns: str | None = typer.Option(
        None, "--netns", help="with --peer: run this host's side in this network namespace"
    ),
    as_json: bool = typer.Option(False, "--json", help=f"print the result as JSON ({SCHEMA_ID})"),
    save: Path | None = typer.Option(None, "--save", help="also write the JSON result here"),
    csv_path: Path | None = typer.Option(None, "--csv", help="also write a CSV table here"),
    wide: bool = typer.Option(
        False, "--wide", help="every column, not only those that answer the question"
    ),
    pm_qos: int | None = typer.Option(
        None,
        "--pm-qos",
        parser=strict_int,
        help="also run each sleeping strategy with the CPU latency PM QoS held at US µs "
        "(/dev/cpu_dma_latency, released after its rounds): 0 keeps idle CPUs polling",
    ),
    sender_cpu: int | None = typer.Option(
        None, "--sender-cpu", parser=strict_int, help="pin the testbed's sender to this CPU"
    ),
    receiver_cpu: int | None = typer.Option(
        None, "--receiver-cpu", parser=strict_int, help="pin the testbed's receiver to this CPU"
    ),
    napi_cpu: int | None = typer.Option(
        None,
        "--napi-cpu",
        parser=strict_int,
        help="threaded NAPI (implies --threaded) with its threads pinned to this CPU",
    ),
    wait: float = WAIT,
) -> None:
    """Measure every receive strategy side by side on a private veth testbed (two network
    namespaces, NAPI on) and show latency, its split at the kernel, and what each costs."""
    if strategies is not None and not _listed(strategies):
        raise InvalidValue("--strategy names no strategy", NAMES)
    us_values = [whole_number(v) for v in _listed(busy_poll_us)] if busy_poll_us else [50]
    numbers = [us for us in us_values if us is not None]
    if not numbers or len(numbers) != len(us_values):
        raise InvalidValue(
            f"--busy-poll-us {','.join(busy_poll_us or [])!r} is not a list of whole numbers",
            "e.g. 50 or 20,50,100",
        )
    chosen = select(_listed(strategies) or None, numbers, mode, batch)
    if pm_qos is not None:
        chosen += bench_run.with_pm_qos(chosen, pm_qos)
    options = bench_run.Options(
        strategies=chosen,
        duration_s=duration,
        message_size=message_size,
        testbed=testbed,
        device=bench_run.DeviceSettings(
            defer_hard_irqs,
            gro_flush_timeout,
            True if napi_cpu is not None and threaded is None else threaded,
            irq_suspend_timeout,
        ),
        interface=interface,
        peer=peer,
        direction=direction,
        key_file=key_file,
        peer_port=peer_port,
        netns=netns,
        mode=mode,
        rate_pps=rate,
        flows=flows,
        rcvbuf=rcvbuf,
        wait_s=wait,
        rounds=rounds,
        sender_cpu=sender_cpu,
        receiver_cpu=receiver_cpu,
        napi_cpu=napi_cpu,
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
        task = progress.add_task("setting up", total=len(options.strategies) * options.round_count)

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
    shown, dropped = table(result, console.width, wide)
    console.print(shown)
    if dropped:
        console.print(
            f"[dim]not shown at {console.width} columns: {', '.join(dropped)} "
            "(a wider terminal shows them; all figures are in --json and --csv)[/]"
        )
    for line in notes_once(result["runs"]):
        console.print(line)
