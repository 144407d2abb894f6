"""rxtune show: the receive path as it stands, each value beside its kernel default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.tree import Tree

from .. import documents
from ..host import Host
from ..inspect.diff import diff
from ..inspect.inventory import collect
from ..inspect.schema import SHOW_SCHEMA
from .common import console, friendly_errors, print_json

_STATUS_STYLE = {
    "unsupported": "dim",
    "not-permitted": "yellow",
    "not-readable": "dim",
    "error": "red",
}


def _value(knob: dict[str, Any]) -> str:
    if knob["status"] != "ok":
        return f"[{_STATUS_STYLE[knob['status']]}]{knob['status']}[/]"
    value = knob["value"]
    text = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return f"[bold yellow]{text}[/]" if knob.get("non_default") else text


def _default(knob: dict[str, Any]) -> str:
    default = knob["default"]
    if default is None:
        return f"[dim]{knob.get('default_note') or 'driver'}[/]"
    return ("on" if default else "off") if isinstance(default, bool) else str(default)


def _knob_table(title: str, knobs: list[dict[str, Any]], verbose: bool) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("knob", no_wrap=True)  # a name is never broken; the note folds
    for column in ("value", "default", "unit", "note"):
        table.add_column(column, overflow="fold")
    hidden: dict[str, list[str]] = {}
    for knob in knobs:
        if knob["status"] == "unsupported" and not verbose and knob["default"] is None:
            # device-specific knobs this device lacks: one line per reason (all: --all)
            short = knob["name"].split(".")[-1]
            hidden.setdefault(knob["reason"].replace(short, "these"), []).append(knob["name"])
            continue
        note = knob.get("reason", "") if knob["status"] != "ok" else ""
        table.add_row(knob["name"], _value(knob), _default(knob), knob["unit"], note)
    for reason, names in hidden.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        table.add_row(f"[dim]{shown}[/]", "[dim]unsupported[/]", "", "", f"[dim]{reason}[/]")
    return table


def render(inventory: dict[str, Any], verbose: bool) -> None:
    host = inventory["host"]
    where = f" namespace {host['netns']}" if host["netns"] else ""
    console.print(
        f"[bold]rxtune show[/] {host['hostname']}{where}: kernel {host['kernel']}, "
        f"{host['cpus']} CPUs   [bold yellow]yellow[/]: differs from the kernel default"
    )
    console.print(_knob_table("Host and namespace", inventory["knobs"], verbose))
    for dev in inventory["devices"]:
        console.print()
        console.print(
            _knob_table(f"Device {dev['name']} (ifindex {dev['ifindex']})", dev["knobs"], verbose)
        )
        tree = Tree(f"[bold]{dev['name']}[/]: queues and NAPI")
        for queue in dev["queues"]:
            values = ", ".join(
                f"{k['name']}={k['value'] if k['status'] == 'ok' else k['status']}"
                for k in queue["knobs"]
            )
            counts = queue.get("irq_count_per_cpu")
            tree.add(
                f"rx-{queue['queue']}: {values}" + (f", irqs per cpu {counts}" if counts else "")
            )
        if not dev["napi"]:
            tree.add(f"[dim]NAPI: {dev['napi_status'].get('reason', 'none')}[/]")
        for napi in dev["napi"]:
            values = ", ".join(
                f"{k['name']}={_value(k)}" for k in napi["knobs"] if k["status"] == "ok"
            )
            tree.add(f"NAPI {napi['id']}: {values}")
        for title, stats in (
            ("queue statistics", dev["queue_stats"]),
            ("page pools", dev["page_pools"]),
        ):
            if stats["status"] != "ok":
                tree.add(f"[dim]{title}: {stats['reason']}[/]")
            for row in stats["rows"]:
                tree.add(f"{title}: " + ", ".join(f"{k}={v}" for k, v in _flat(row).items()))
        console.print(tree)
    cpus = Table(title="CPUs (since boot)", title_justify="left", show_edge=False)
    for column in ("cpu", "processed", "dropped", "time_squeeze", "NET_RX softirqs"):
        cpus.add_column(column, justify="right")
    for row in inventory["cpus"]:
        cpus.add_row(
            *(
                str(row[k])
                for k in ("cpu", "processed", "dropped", "time_squeeze", "net_rx_softirqs")
            )
        )
    console.print()
    console.print(cpus)
    console.print()
    console.print(_drops(inventory["drops"]))
    if "platform" in inventory:
        console.print()
        console.print(_platform(inventory["platform"]))
        per_cpu = [
            {**knob, "name": f"cpu{row['cpu']} {knob['name']}"}
            for row in inventory["cpu_knobs"]
            for knob in row["knobs"]
        ]
        console.print()
        console.print(_knob_table("Per CPU (set with --cpu N)", per_cpu, verbose))
    caps = Table(
        title="What this kernel and these devices support", title_justify="left", show_edge=False
    )
    caps.add_column("feature")
    caps.add_column("")
    caps.add_column("how we know", overflow="fold")
    for cap in inventory["capabilities"]:
        mark = {True: "[green]yes[/]", False: "[red]no[/]", None: "[yellow]?[/]"}[cap["supported"]]
        caps.add_row(cap["name"], mark, cap["detail"])
    console.print()
    console.print(caps)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A netlink reply with its nests flattened (a page pool's info beside its stats)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out.update(_flat(value) if isinstance(value, dict) else {key: value})
    return out


def _drops(rows: list[dict[str, Any]]) -> Table:
    """Where packets were dropped since boot, beside the knobs that govern each place."""
    table = Table(
        title="Drops (since boot) and where to look", title_justify="left", show_edge=False
    )
    for column in ("where", "counter", "count", "knobs", "why look there"):
        table.add_column(column, overflow="fold")
    quiet = []
    for row in rows:
        if not row["count"]:
            quiet.append(f"{row['counter']} ({row['where']})")
            continue
        knobs = ", ".join(f"{k}={v}" for k, v in row["knobs"].items())
        count = f"[bold yellow]{row['count']}[/]"
        table.add_row(row["where"], row["counter"], count, knobs, row["why"])
    if quiet:
        table.add_row("[dim]elsewhere[/]", f"[dim]0: {', '.join(quiet)}[/]", "", "", "")
    return table


def _platform(facts: dict[str, Any]) -> Table:
    """How idle CPUs sleep and wake, the PM QoS in force, frequency, SMT, isolation."""
    table = Table(title="Platform", title_justify="left", show_edge=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("default", overflow="fold")
    idle = facts["cpuidle"]
    table.add_row("cpuidle driver / governor", f"{idle['driver']} / {idle['governor']}", "")
    for cpu in idle["cpus"]:
        states = "; ".join(
            f"{st['name']} (exit {st['exit_latency_us']} µs, residency "
            f"{st['target_residency_us']} µs{', [yellow]disabled[/]' if st['disabled'] else ''})"
            for st in cpu["states"]
        )
        if states:
            table.add_row(f"cpu{cpu['cpu']} idle states", states, "all enabled")
    if idle.get("note"):
        table.add_row("idle states", f"[dim]{idle['note']}[/]", "")
    dma = facts["pm_qos"]["cpu_dma_latency"]
    if "unsupported" in dma:
        table.add_row("/dev/cpu_dma_latency", f"[dim]{dma['unsupported']}[/]", "")
    else:
        held = ", ".join(f"{h['command']} ({h['pid']})" for h in dma["holders"]) or "nobody"
        # the limit itself is a host knob (cpu_dma_latency); here, who holds it
        table.add_row("/dev/cpu_dma_latency held by", held, "nobody")
    freq = facts["frequency"]
    for policy in freq["policies"]:
        table.add_row(
            f"cpufreq {policy['policy']} (cpus {policy['cpus']})",
            f"{policy['driver']} {policy['governor']} {policy['min_khz']}-{policy['max_khz']} kHz",
            "",
        )
    if freq.get("note"):
        table.add_row("cpufreq", f"[dim]{freq['note']}[/]", "")
    siblings = sorted(set(facts["smt"]["siblings"].values()) - {None})
    table.add_row("SMT siblings", "; ".join(siblings) or "-", "")
    isolation = {k: v for k, v in facts["cmdline"].items() if v is not None}
    table.add_row(
        "kernel command line",
        " ".join(f"{k}={v}" for k, v in isolation.items()) or "no isolation or idle option",
        "none",
    )
    pids = facts["irqbalance_pids"]
    table.add_row(
        "irqbalance", f"running ({', '.join(map(str, pids))})" if pids else "not running", ""
    )
    for dev in facts["devices"]:
        irqs = ", ".join(f"{i['irq']}→cpus {i['effective'] or i['affinity']}" for i in dev["irqs"])
        node = dev["numa_node"] if dev["numa_node"] is not None else f"none ({dev['numa_note']})"
        threads = ", ".join(
            f"{t['name']} on cpus {t['cpus']} (last {t['last_cpu']})" for t in dev["napi_threads"]
        )
        readers = ", ".join(
            (
                f"{r['name']} ({r['pid']}) on cpus {r['cpus']} (last {r['last_cpu']}): "
                if r["pid"]
                else "a process not visible here: "
            )
            + " ".join(r["sockets"])
            for r in dev["readers"]
        )
        table.add_row(
            f"{dev['name']}",
            f"NUMA node: {node}; IRQs: {irqs or 'none'}; NAPI threads: {threads or 'none'}; "
            f"read by: {readers or 'no socket'}",
            "",
        )
    if facts.get("sockets_note"):
        table.add_row("sockets", f"[dim]{facts['sockets_note']}[/]", "")
    return table


def _render_diff(changes: list[dict[str, Any]], saved: Path) -> None:
    if not changes:
        console.print(f"no differences from {saved}")
        return
    table = Table(title=f"Changes since {saved}", title_justify="left", show_edge=False)
    for column in ("knob", "saved", "now"):
        table.add_column(column)
    for change in changes:
        table.add_row(change["knob"], str(change["saved"]), f"[bold yellow]{change['now']}[/]")
    console.print(table)


@friendly_errors
def show(
    devices: list[str] | None = typer.Argument(
        None, metavar="[DEV]...", help="devices to show (default: all but lo)"
    ),
    netns: str | None = typer.Option(
        None, "--netns", help="read devices in this network namespace"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON (schema rxtune.show/1)"),
    saved: Path | None = typer.Option(
        None, "--diff", metavar="SAVED.json", help="compare with a saved `show --json`"
    ),
    verbose: bool = typer.Option(False, "--all", help="also list knobs this device lacks"),
) -> None:
    """Show the receive path: sysctls, device NAPI settings, queues, NAPI instances, IRQs,
    coalescing and drops, each beside its kernel default; and what this kernel supports."""
    old = None if saved is None else documents.load(saved, SHOW_SCHEMA, "rxtune show --json")
    inventory = collect(Host(netns=netns), devices or None)
    if old is not None:
        changes = diff(old, inventory)
        print_json(changes) if as_json else _render_diff(changes, saved)  # type: ignore[arg-type]
    elif as_json:
        print_json(inventory)
    else:
        render(inventory, verbose)
