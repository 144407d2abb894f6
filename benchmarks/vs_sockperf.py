#!/usr/bin/env python3
"""rxtune against sockperf on the same testbed, interleaved in one run: ping-pong latency
per receive mode, and a flood's packets/s received with the receiver's CPU per packet.

For each receive mode, rounds alternate sockperf and rxtune (the order flips every round,
so drift in the machine hits both alike). sockperf reports latency as RTT/2 per packet in
its --full-log CSV; rxtune's figure compared with it is its own RTT/2, and its one-way
latency is written beside. Writes figures and ratios (rxtune / sockperf) to JSON.

Needs root and sockperf (Debian: apt-get install sockperf).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rxtune.host import call_in_netns
from rxtune.measure import load, pingpong
from rxtune.measure.counters import netns_snapshot
from rxtune.strategies import build
from rxtune.testbed import veth

PORT = 11111
# mode -> (sockperf flags on both sides, rxtune strategy, busy-poll µs)
MODES = {
    "epoll": (["-F", "e"], "epoll", None),
    "blocking recvfrom": (["-F", "r"], "blocking", None),
    "spin (--nonblocked)": (["-F", "r", "--nonblocked"], "spin", None),
    "SO_BUSY_POLL=50 (--lls 50)": (["-F", "r", "--lls", "50"], "so_busy_poll", 50),
}


def sockperf_round(bed: veth.Testbed, flags: list[str], seconds: float, size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        conn, log = Path(tmp) / "conn", Path(tmp) / "log.csv"
        conn.write_text(f"U:{bed.receiver.address}:{PORT}\n")
        server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                bed.receiver.netns,
                "taskset",
                "-c",
                str(bed.cpus[1]),
                "sockperf",
                "server",
                "-f",
                str(conn),
                *flags,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    bed.sender.netns,
                    "taskset",
                    "-c",
                    str(bed.cpus[0]),
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
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            server.terminate()
            server.wait()
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
    bed: veth.Testbed, strategy: str, us: int | None, seconds: float, size: int
) -> dict:
    record = pingpong.run(
        build(strategy, us),
        pingpong.Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0]),
        pingpong.Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1]),
        pingpong.Settings(seconds, size),
    )
    rtt = record["rtt_ns"]
    return {
        "half_rtt_ns": {k: round(rtt[k] / 2) for k in ("p50", "p90", "p99", "p999")},
        "one_way_ns": {k: record["latency_ns"][k] for k in ("p50", "p90", "p99", "p999")},
        "packets": record["packets"]["received"],
        "round_trips_per_s": record["rate"]["round_trips_per_s"],
        "napi_id": record["napi_id"],
    }


def _cpu_ns(pid: int) -> int:
    """CPU time of a process's main thread, from the scheduler (/proc/PID/schedstat, ns)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _ctx(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return sum(
        int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
    )


def _udp_in(netns: str) -> int:
    return call_in_netns(netns, lambda: netns_snapshot()["InDatagrams"])


def sockperf_throughput_round(bed: veth.Testbed, seconds: float, size: int) -> dict:
    """sockperf's flood (tp) against a blocking-recvfrom server; what arrived is counted by
    the receiving namespace's own UDP counter, the server's CPU by the scheduler."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = Path(tmp) / "conn"
        conn.write_text(f"U:{bed.receiver.address}:{PORT}\n")
        server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                bed.receiver.netns,
                "taskset",
                "-c",
                str(bed.cpus[1]),
                "sockperf",
                "server",
                "-f",
                str(conn),
                "-F",
                "r",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            received, cpu, ctx = _udp_in(bed.receiver.netns), _cpu_ns(server.pid), _ctx(server.pid)
            start = time.monotonic()
            subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    bed.sender.netns,
                    "taskset",
                    "-c",
                    str(bed.cpus[0]),
                    "sockperf",
                    "throughput",
                    "-f",
                    str(conn),
                    "-t",
                    str(seconds),
                    "-m",
                    str(size),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.2)
            elapsed = time.monotonic() - start
            received, cpu = _udp_in(bed.receiver.netns) - received, _cpu_ns(server.pid) - cpu
            ctx = _ctx(server.pid) - ctx
        finally:
            server.terminate()
            server.wait()
    return {
        "received_pps": round(received / elapsed),
        "received": received,
        "cpu_ns_per_packet": round(cpu / max(received, 1), 1),
        "ctx_per_kpkt": round(1000 * ctx / max(received, 1), 1),
    }


def rxtune_throughput_round(bed: veth.Testbed, seconds: float, size: int, rate: int = 0) -> dict:
    """rxtune's flood (rate 0), or its paced sender at `rate`: the same offered load as
    sockperf's sender managed, so the receivers compare at equal work."""
    mode = "load" if rate else "throughput"
    record = load.run(
        build("blocking", None),
        pingpong.Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0]),
        pingpong.Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1]),
        bed.sender.ifname,
        bed.receiver.ifname,
        load.LoadSettings(mode, seconds, size, rate),
    )
    return {
        "received_pps": record["rate"]["received_pps"],
        "sent_pps": record["rate"]["sent_pps"],
        "received": record["packets"]["received"],
        "cpu_ns_per_packet": record["cost"]["cpu_ns_per_packet"],
        "ctx_per_kpkt": record["cost"]["ctx_per_kpkt"],
    }


def throughput(bed: veth.Testbed, rounds: int, seconds: float, size: int) -> dict:
    pairs = []
    for index in range(rounds):
        order = ("sockperf", "rxtune") if index % 2 == 0 else ("rxtune", "sockperf")
        pair = {}
        for tool in order:
            pair[tool] = (
                sockperf_throughput_round(bed, seconds, size)
                if tool == "sockperf"
                else rxtune_throughput_round(bed, seconds, size)
            )
        pair["rxtune_at_sockperf_rate"] = rxtune_throughput_round(
            bed, seconds, size, int(pair["sockperf"]["received_pps"])
        )
        pairs.append(pair)
    tools = ("sockperf", "rxtune", "rxtune_at_sockperf_rate")
    summary = {
        tool: {
            k: float(np.median([p[tool][k] for p in pairs]))
            for k in ("received_pps", "cpu_ns_per_packet", "ctx_per_kpkt")
        }
        for tool in tools
    }
    summary["ratio_rxtune_to_sockperf"] = {
        k: round(summary["rxtune"][k] / summary["sockperf"][k], 3)
        for k in ("received_pps", "cpu_ns_per_packet")
    }
    summary["ratio_at_equal_rate"] = {
        k: round(summary["rxtune_at_sockperf_rate"][k] / summary["sockperf"][k], 3)
        for k in ("received_pps", "cpu_ns_per_packet")
    }
    return {"summary": summary, "rounds": pairs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--message-size", type=int, default=64)
    parser.add_argument("--only", choices=("latency", "throughput"), default=None)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "vs_sockperf.json"
    )
    args = parser.parse_args()
    if not shutil.which("sockperf"):
        print("sockperf is not installed (apt-get install sockperf)", file=sys.stderr)
        return 2
    veth.remove_leftovers()
    results: dict = {
        "benchmark": "vs_sockperf",
        "testbed": "A",
        "seconds": args.seconds,
        "message_size": args.message_size,
        "rounds": args.rounds,
        "modes": {},
    }
    with veth.testbed(veth.configuration("A")) as bed:
        for mode, (flags, strategy, us) in MODES.items() if args.only != "throughput" else ():
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
            summary = {}
            for tool in ("sockperf", "rxtune"):
                summary[tool] = {
                    k: float(np.median([r[tool]["half_rtt_ns"][k] for r in rounds]))
                    for k in ("p50", "p90", "p99", "p999")
                }
            summary["rxtune_one_way"] = {
                k: float(np.median([r["rxtune"]["one_way_ns"][k] for r in rounds]))
                for k in ("p50", "p90", "p99", "p999")
            }
            summary["ratio_rxtune_to_sockperf"] = {
                k: round(summary["rxtune"][k] / summary["sockperf"][k], 3)
                for k in ("p50", "p90", "p99", "p999")
            }
            results["modes"][mode] = {"summary": summary, "rounds": rounds}
            print(
                f"{mode:28s} half-RTT p50 sockperf {summary['sockperf']['p50'] / 1000:6.2f} µs"
                f"  rxtune {summary['rxtune']['p50'] / 1000:6.2f} µs  ratio "
                f"{summary['ratio_rxtune_to_sockperf']['p50']:.3f}   p99 ratio "
                f"{summary['ratio_rxtune_to_sockperf']['p99']:.3f}"
            )
        if args.only == "latency":
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(results, indent=1))
            return 0
        flood = throughput(bed, args.rounds, args.seconds, args.message_size)
        results["throughput (blocking recvfrom, flood)"] = flood
        ratio = flood["summary"]["ratio_rxtune_to_sockperf"]
        print(
            f"{'throughput, blocking recv':28s} received/s sockperf "
            f"{flood['summary']['sockperf']['received_pps']:,.0f}  rxtune "
            f"{flood['summary']['rxtune']['received_pps']:,.0f}  ratio "
            f"{ratio['received_pps']:.3f}   receiver CPU/packet ratio "
            f"{ratio['cpu_ns_per_packet']:.3f}; at sockperf's rate: received ratio "
            f"{flood['summary']['ratio_at_equal_rate']['received_pps']:.3f}, CPU/packet "
            f"ratio {flood['summary']['ratio_at_equal_rate']['cpu_ns_per_packet']:.3f}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1))
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
