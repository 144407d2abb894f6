"""rxtune top: the receive path live, per CPU, per device queue and NAPI, per process."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..errors import InvalidValue
from ..measure.live import Watch, prometheus, short
from .common import console, friendly_errors, strict_float, strict_int

MAX_INTERVAL_S = 3600.0
MAX_COUNT = 1_000_000


def _rate(now: float | None, before: float | None, bad: bool = False) -> Text:
    """A rate, coloured by how it moved since the last interval (drops: any is red)."""
    if now is None:
        return Text("-", style="dim")
    text = short(now)
    if bad and now > 0:
        return Text(text, style="bold red")
    if before is None or math.isclose(now, before, rel_tol=0.2, abs_tol=1.0):
        return Text(text)
    return Text(text, style="green" if now > before else "yellow")


def _view(now: dict[str, Any], before: dict[str, Any] | None) -> Group:
    def old(section: str, index: int, key: str) -> Any:
        try:
            return before[section][index][key] if before else None
        except (IndexError, KeyError):
            return None

    cpus = Table(title="per CPU, per second", title_justify="left", show_edge=False)
    for column in (
        "cpu",
        "pkts",
        "backlog drop",
        "squeeze",
        "NET_RX",
        "dev irq",
        "IPI",
        "timer",
        "sirq%",
        "irq%",
    ):
        cpus.add_column(column, justify="right")
    for i, cpu in enumerate(now["cpus"]):
        irqs, old_irqs = cpu["interrupts"], old("cpus", i, "interrupts") or {}
        cpus.add_row(
            str(cpu["cpu"]),
            _rate(cpu["packets"], old("cpus", i, "packets")),
            _rate(cpu["backlog_drops"], None, bad=True),
            _rate(cpu["time_squeeze"], old("cpus", i, "time_squeeze")),
            _rate(cpu["net_rx_softirqs"], old("cpus", i, "net_rx_softirqs")),
            *(_rate(irqs.get(k), old_irqs.get(k)) for k in ("device", "ipi", "timer")),
            f"{100 * cpu['softirq_share']:.0f}",
            f"{100 * cpu['irq_share']:.0f}",
        )
    queues = Table(title="per device and RX queue", title_justify="left", show_edge=False)
    for column in ("device", "queue", "NAPI", "IRQ (cpus)", "packets", "irqs", "drops"):
        queues.add_column(column, justify="right")
    for i, dev in enumerate(now["devices"]):
        drops = sum(dev["drops"].values())
        queues.add_row(
            dev["name"],
            "all",
            "",
            "",
            _rate(dev["packets"], old("devices", i, "packets")),
            "",
            _rate(drops, None, bad=True),
        )
        for q in dev["queues"]:
            irq = f"{q['irq']} ({q['irq_cpus']})" if q["irq"] else "-"
            queues.add_row(
                "",
                f"rx-{q['queue']}",
                str(q["napi_id"] or "-"),
                irq,
                _rate(q["packets"], None),
                _rate(q["irqs"], None),
                _rate(q["hw_drops"], None, bad=True),
            )
    parts: list[Any] = [Text(now["headline"], style="bold"), cpus, queues]
    ns = now["namespace"]
    parts.append(
        Text("namespace: " + ", ".join(f"{name} {short(value)}/s" for name, value in ns.items()))
    )
    if now["processes"]:
        procs = Table(title="processes", title_justify="left", show_edge=False)
        for column in ("pid", "name", "voluntary ctx/s", "involuntary ctx/s", "socket drops/s"):
            procs.add_column(column, justify="right")
        for p in now["processes"]:
            procs.add_row(
                str(p["pid"]),
                p["name"] or "?",
                _rate(p["ctx_voluntary"], None),
                _rate(p["ctx_involuntary"], None),
                _rate(p["socket_drops"], None, bad=True),
            )
        parts.append(procs)
    if now["drop_reasons"]:
        parts.append(
            Text(
                "drop reasons: "
                + ", ".join(f"{r} {short(n)}/s" for r, n in now["drop_reasons"].items()),
                style="red",
            )
        )
    for line in now["unreadable"]:
        parts.append(Text(f"not read: {line}", style="dim"))
    return Group(*parts)


def _aside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}")


def _check_writable(path: Path) -> None:
    """Refuse, before watching, a --prometheus FILE that could not be written; what a
    collector reads there now stays until the first interval replaces it."""
    valid = "a file path in a directory that exists and this user may write"
    if path.is_dir() or not path.parent.is_dir():
        raise InvalidValue(f"--prometheus {path}", valid)
    try:
        _aside(path).write_text("")
        _aside(path).unlink()
    except OSError as error:
        raise InvalidValue(f"--prometheus {path}: {error.strerror}", valid) from None


def _write_prometheus(path: Path, text: str) -> None:
    """Whole or not at all, as the textfile collector wants: write aside, then rename."""
    _aside(path).write_text(text)
    _aside(path).replace(path)


@friendly_errors
def top(
    devices: list[str] | None = typer.Argument(
        None, metavar="[DEV]...", help="devices to watch (default: all but lo)"
    ),
    netns: str | None = typer.Option(None, "--netns", help="the devices' network namespace"),
    interval: float = typer.Option(1.0, "--interval", parser=strict_float, help="seconds"),
    pids: list[int] | None = typer.Option(
        None, "--pid", parser=strict_int, help="a process to follow (repeatable)"
    ),
    port: int | None = typer.Option(
        None, "--port", parser=strict_int, help="follow the processes bound to this UDP port"
    ),
    once: bool = typer.Option(False, "--once", help="one interval, then exit"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines (schema rxtune.top/1)"),
    prometheus_file: Path | None = typer.Option(
        None, "--prometheus", metavar="FILE", help="also write the counters for node_exporter"
    ),
    count: int | None = typer.Option(
        None, "--count", parser=strict_int, help="stop after this many intervals"
    ),
) -> None:
    """The receive path live: packets, drops and where, time squeezes, NET_RX softirqs,
    interrupts by kind, busy-poll packets and context switches, per CPU, per device queue
    and NAPI, per process; what moved most on top. Drop reasons need root (BPF)."""
    if not (math.isfinite(interval) and 0.05 <= interval <= MAX_INTERVAL_S):
        raise InvalidValue(f"--interval {interval}", f"seconds from 0.05 to {MAX_INTERVAL_S:g}")
    if port is not None and not 0 < port < 65536:
        raise InvalidValue(f"--port {port}", "1..65535")
    if count is not None and not 1 <= count <= MAX_COUNT:
        raise InvalidValue(f"--count {count}", f"a whole number from 1 to {MAX_COUNT}")
    for pid in pids or []:
        if pid < 1 or not Path(f"/proc/{pid}").is_dir():
            raise InvalidValue(f"--pid {pid}: no such process", "the pid of a running process")
    if prometheus_file is not None:
        _check_writable(prometheus_file)
    total = 1 if once else count
    watch = Watch(devices or None, netns, pids, port)
    try:
        watch.interval()  # the baseline
        shown = 0
        before: dict[str, Any] | None = None
        live = None if as_json else Live(console=console, auto_refresh=False, screen=not once)
        if live:
            live.start()
        try:
            while total is None or shown < total:
                time.sleep(interval)
                now = watch.interval()
                assert now is not None
                shown += 1
                if prometheus_file is not None and watch.previous is not None:
                    _write_prometheus(prometheus_file, prometheus(watch.previous, watch))
                if as_json:
                    print(json.dumps(now), flush=True)
                else:
                    assert live is not None
                    live.update(_view(now, before), refresh=True)
                before = now
        finally:
            if live:
                live.stop()
    except KeyboardInterrupt:
        pass
    finally:
        watch.close()
