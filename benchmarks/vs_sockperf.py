#!/usr/bin/env python3
"""rxtune against sockperf on the same testbed, interleaved in one run.

1. Ping-pong latency per receive mode: rounds alternate sockperf and rxtune (the order flips
   every round, so drift in the machine hits both alike). sockperf reports latency as RTT/2
   per packet in its --full-log CSV; rxtune's figure compared with it is its own RTT/2, and
   its one-way latency is written beside. Per-round ratios, their median and spread.
2. Receive cost at an offered rate both carry: sockperf's client at --mps RATE into
   sockperf's server (recvfrom, and epoll), against every rxtune strategy at RATE (rxtune's
   own paced sender). sockperf reports no cost; both are measured the same way, by
   rxtune's whole-machine accounting (the receiving CPU's busy time plus NET_RX softirq
   elsewhere), for sockperf over a steady window inside its run, for rxtune over its
   traffic windows. The ratio of rxtune's best receive cost to sockperf's is the figure to
   improve.

Writes figures and ratios to JSON. Needs root and sockperf (apt-get install sockperf).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _results import RESULTS, write_results

from rxtune.measure import bench, pingpong
from rxtune.measure.counters import netns_snapshot
from rxtune.measure.machine import MachineAccount, Window, receive_cost
from rxtune.measure.stats import interval
from rxtune.strategies import build, select
from rxtune.testbed import veth

PORT = 11111
# sockperf's client sends nothing for its first ~2 s (warm-up): the cost window opens after
# that and closes before the end of its run
SOCKPERF_STARTUP_S = 2.6
STEADY_MARGIN_S = 0.5
# mode -> (sockperf flags on both sides, rxtune strategy, busy-poll µs)
MODES = {
    "epoll": (["-F", "e"], "epoll", None),
    "blocking recvfrom": (["-F", "r"], "blocking", None),
    "spin (--nonblocked)": (["-F", "r", "--nonblocked"], "spin", None),
    "SO_BUSY_POLL=50 (--lls 50)": (["-F", "r", "--lls", "50"], "so_busy_poll", 50),
}
SOCKPERF_RECEIVERS = {"sockperf recvfrom": ["-F", "r"], "sockperf epoll": ["-F", "e"]}
LIKE_FOR_LIKE = (("blocking", "sockperf recvfrom"), ("epoll", "sockperf epoll"))


def _netns_cmd(netns: str, cpu: int, *args: str) -> list[str]:
    return ["ip", "netns", "exec", netns, "taskset", "-c", str(cpu), *args]


@contextmanager
def _sockperf_server(bed: veth.Testbed, conn: Path, flags: list[str]) -> Iterator[subprocess.Popen]:
    """sockperf's server on the receiving CPU, up for the block, given 0.5 s to start."""
    server = subprocess.Popen(
        _netns_cmd(bed.receiver.netns, bed.cpus[1], "sockperf", "server", "-f", str(conn)) + flags,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        yield server
    finally:
        server.terminate()
        server.wait()


def sockperf_round(bed: veth.Testbed, flags: list[str], seconds: float, size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        conn, log = Path(tmp) / "conn", Path(tmp) / "log.csv"
        conn.write_text(f"U:{bed.receiver.address}:{PORT}\n")
        with _sockperf_server(bed, conn, flags):
            subprocess.run(
                _netns_cmd(
                    bed.sender.netns,
                    bed.cpus[0],
                    "sockperf",
                    "ping-pong",
                    "-f",
                    str(conn),
                    "-t",
                    str(seconds),
                    "-m",
                    str(size),
                    "--full-log",
                    str(log),
                    *flags,
                ),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        # the per-packet log: "packet, txTime(sec), rxTime(sec), latency(usec)" rows
        lines = log.read_text().splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("packet,")) + 1
        half_rtt_us = [float(line.split(",")[3]) for line in lines[start:] if line[:1].isdigit()]
    samples = np.array(half_rtt_us) * 1000
    return {
        "half_rtt_ns": _percentiles(samples),
        "packets": len(samples),
        "round_trips_per_s": round(len(samples) / (seconds * 0.775), 1),
    }


def _percentiles(samples: np.ndarray) -> dict[str, float]:
    points = np.percentile(samples, [50, 90, 99, 99.9])
    return dict(zip(("p50", "p90", "p99", "p999"), (round(float(p)) for p in points), strict=True))


def rxtune_round(
    bed: veth.Testbed,
    strategy: str,
    us: int | None,
    seconds: float,
    size: int,
) -> dict:
    settings = pingpong.Settings(seconds, size)
    chosen = build(strategy, us)
    with MachineAccount() as account:
        raw = pingpong.run(
            chosen,
            pingpong.Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0]),
            pingpong.Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1]),
            settings,
            account,
        )
    record = pingpong.record(chosen, settings, [raw])
    rtt = record["rtt_ns"]
    return {
        "half_rtt_ns": {k: round(rtt[k] / 2) for k in ("p50", "p90", "p99", "p999")},
        "one_way_ns": {k: record["latency_ns"][k] for k in ("p50", "p90", "p99", "p999")},
        "packets": record["packets"]["received"],
        "round_trips_per_s": record["rate"]["round_trips_per_s"],
        "napi_id": record["napi_id"],
    }


def sockperf_receive_round(
    bed: veth.Testbed,
    flags: list[str],
    rate: int,
    seconds: float,
    size: int,
) -> dict:
    """sockperf's client at --mps rate into its server; the cost over a steady window
    inside the run, per datagram the receiving namespace took (its Udp InDatagrams)."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = Path(tmp) / "conn"
        conn.write_text(f"U:{bed.receiver.address}:{PORT}\n")
        with _sockperf_server(bed, conn, flags) as server:
            client = subprocess.Popen(
                _netns_cmd(
                    bed.sender.netns,
                    bed.cpus[0],
                    "sockperf",
                    "throughput",
                    "-f",
                    str(conn),
                    "-t",
                    str(seconds),
                    "-m",
                    str(size),
                    f"--mps={rate}",
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            with MachineAccount() as account:
                time.sleep(SOCKPERF_STARTUP_S)
                counted = netns_snapshot(server.pid)["InDatagrams"]
                first = account.snapshot(server.pid)
                time.sleep(seconds - 2 * STEADY_MARGIN_S)
                last = account.snapshot(server.pid)
                counted = netns_snapshot(server.pid)["InDatagrams"] - counted
            client.wait(60)
    window = Window(first, last)
    cost = receive_cost([window], bed.cpus[1], [counted])
    return {
        "received_pps": round(counted / (window.ns / 1e9)),
        "receive_cpu_ns_per_packet": cost["receive_cpu_ns_per_packet"],
        "thread_cpu_ns_per_packet": cost["thread_cpu_ns_per_packet"],
        "receive_parts_ns": cost["receive_parts_ns"],
    }


def rxtune_receive_round(rate: int, seconds: float, size: int) -> dict:
    """Every rxtune strategy of load mode at rate, one interleaved round (rxtune bench)."""
    result = bench.run(
        bench.Options(
            select(None, [50], "load"),
            duration_s=seconds,
            message_size=size,
            mode="load",
            rate_pps=rate,
            rounds=1,
        )
    )
    return {
        run["label"]: {
            "received_pps": run["rate"]["received_pps"],
            "achieved_pps": run["rate"]["achieved_pps"],
            "receive_cpu_ns_per_packet": run["cost"]["receive_cpu_ns_per_packet"],
            "thread_cpu_ns_per_packet": run["cost"]["thread_cpu_ns_per_packet"],
            "latency_p50_ns": run["latency_ns"]["p50"],
            "latency_p99_ns": run["latency_ns"]["p99"],
        }
        for run in result["runs"]
        if not run["unsupported"]
    }


def _shown(spread: dict, scale: float = 1.0) -> str:
    return (
        f"{spread['median'] / scale:.3f} [{spread['min'] / scale:.3f}..{spread['max'] / scale:.3f}]"
    )


def _spread(values: list[float]) -> dict:
    return {
        "median": round(float(np.median(values)), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "ci95": interval(values),
    }


def latency(bed: veth.Testbed, args: argparse.Namespace) -> dict:
    modes = {}
    for mode, (flags, strategy, us) in MODES.items():
        rounds = []
        for index in range(args.rounds):
            order = ("sockperf", "rxtune") if index % 2 == 0 else ("rxtune", "sockperf")
            pair = {}
            for tool in order:
                pair[tool] = (
                    sockperf_round(bed, flags, args.seconds, args.message_size)
                    if tool == "sockperf"
                    else rxtune_round(bed, strategy, us, args.seconds, args.message_size)
                )
            rounds.append(pair)
        ratios = {
            k: _spread(
                [r["rxtune"]["half_rtt_ns"][k] / r["sockperf"]["half_rtt_ns"][k] for r in rounds]
            )
            for k in ("p50", "p99")
        }
        modes[mode] = {"ratio_rxtune_to_sockperf": ratios, "rounds": rounds}
        print(
            f"{mode:28s} half-RTT ratio rxtune/sockperf p50 {_shown(ratios['p50'])}  "
            f"p99 {_shown(ratios['p99'])}"
        )
    return modes


def receive_cost_at_rate(args: argparse.Namespace) -> dict:
    """Rounds of sockperf's receivers (on a testbed of this script) and of rxtune's bench
    (on its own), one after the other: two testbeds cannot stand side by side."""
    rounds = []
    every_cpu = os.sched_getaffinity(0)
    for _ in range(args.rounds):
        with veth.testbed(veth.configuration("A")) as bed:
            os.sched_setaffinity(0, {bed.cpus[0]})  # off the receiving CPU
            pair = {
                name: sockperf_receive_round(
                    bed, flags, args.rate, args.rate_seconds, args.message_size
                )
                for name, flags in SOCKPERF_RECEIVERS.items()
            }
        os.sched_setaffinity(0, every_cpu)  # the bench pins its own sender and receiver
        pair.update(rxtune_receive_round(args.rate, args.rate_seconds, args.message_size))
        rounds.append(pair)
    names = [n for n in rounds[0] if all(n in r for r in rounds)]
    summary = {
        name: {
            key: _spread([r[name][key] for r in rounds])
            for key in ("received_pps", "receive_cpu_ns_per_packet")
        }
        for name in names
    }
    carried = [n for n in names if summary[n]["received_pps"]["median"] >= 0.99 * args.rate]
    rxtune_names = [n for n in carried if not n.startswith("sockperf")]
    best = min(rxtune_names, key=lambda n: summary[n]["receive_cpu_ns_per_packet"]["median"])
    sockperf_best = min(
        (n for n in carried if n.startswith("sockperf")),
        key=lambda n: summary[n]["receive_cpu_ns_per_packet"]["median"],
    )
    ratio = _spread(
        [
            r[best]["receive_cpu_ns_per_packet"] / r[sockperf_best]["receive_cpu_ns_per_packet"]
            for r in rounds
        ]
    )
    like_for_like = {
        f"{mine} / {theirs}": _spread(
            [
                r[mine]["receive_cpu_ns_per_packet"] / r[theirs]["receive_cpu_ns_per_packet"]
                for r in rounds
            ]
        )
        for mine, theirs in LIKE_FOR_LIKE
        if mine in names and theirs in names
    }
    for name in names:
        cost = summary[name]["receive_cpu_ns_per_packet"]
        print(
            f"  {name:28s} {summary[name]['received_pps']['median']:>9,.0f}/s  receive "
            f"{_shown(cost, 1000)} µs/packet"
        )
    print(
        f"receive cost at {args.rate:,}/s: rxtune's best ({best}) / {sockperf_best}: "
        f"{_shown(ratio)}"
    )
    for pair, spread in like_for_like.items():
        print(f"  like for like, {pair}: {_shown(spread)}")
    return {
        "rate_pps": args.rate,
        "seconds": args.rate_seconds,
        "summary": summary,
        "best_rxtune": best,
        "best_sockperf": sockperf_best,
        "ratio_best_rxtune_to_sockperf": ratio,
        "ratio_like_for_like": like_for_like,
        "rounds": rounds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per ping-pong round")
    parser.add_argument("--rate", type=int, default=100_000, help="packets/s both carry")
    parser.add_argument("--rate-seconds", type=float, default=5.0, help="per rate round")
    parser.add_argument("--message-size", type=int, default=64)
    parser.add_argument("--only", choices=("latency", "cost"), default=None)
    parser.add_argument("--output", type=Path, default=RESULTS / "vs_sockperf.json")
    args = parser.parse_args()
    if not shutil.which("sockperf"):
        print("sockperf is not installed (apt-get install sockperf)", file=sys.stderr)
        return 2
    if args.rounds < 5 or args.rate_seconds <= 2 * STEADY_MARGIN_S:
        print("--rounds 5 or more, --rate-seconds over 2", file=sys.stderr)
        return 2
    veth.remove_leftovers()
    results: dict = {
        "benchmark": "vs_sockperf",
        "testbed": "A",
        "seconds": args.seconds,
        "message_size": args.message_size,
        "rounds": args.rounds,
    }
    if args.only != "cost":
        every_cpu = os.sched_getaffinity(0)
        with veth.testbed(veth.configuration("A")) as bed:
            os.sched_setaffinity(0, {bed.cpus[0]})  # keep this script off the receiving CPU
            results["pingpong"] = latency(bed, args)
        os.sched_setaffinity(0, every_cpu)
    if args.only != "latency":
        results["receive_cost_at_rate"] = receive_cost_at_rate(args)
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
