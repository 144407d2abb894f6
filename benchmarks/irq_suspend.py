#!/usr/bin/env python3
"""irq_suspend on veth: why its ping-pong latency is what it is, and where it can win.

1. Ping-pong with irq_suspend at several gro-flush-timeout values: at one packet in flight
   epoll_wait finds no event, the kernel cancels the suspension, and the NAPI runs in the
   fallback (defer-hard-irqs with the gro-flush timer as the safety net): the p99 follows
   gro-flush-timeout.
2. Load mode at rates that keep the receiver busy (epoll keeps finding events), against
   plain epoll and epoll with busy-poll params: latency and the machine's receive cost.

Every configuration runs in interleaved rounds (rxtune bench). Writes JSON.
Needs root and kernel 6.13+ (irq-suspend-timeout).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from _results import RESULTS, write_results

from rxtune.measure import bench
from rxtune.strategies import BY_NAME, select

GRO_FLUSH_US = (20, 50, 200, 800)


def _variant(gro_flush_us: int):
    entry = BY_NAME["irq_suspend"]
    napi = {**entry.napi, "gro-flush-timeout": gro_flush_us * 1000}
    strategy = replace(entry, napi=napi).resolve(50, 32)
    return replace(strategy, label=f"irq_suspend(50) gro-flush {gro_flush_us} µs")


def _row(run: dict) -> dict:
    latency = run["latency_ns"]
    cost = run["cost"]
    return {
        "label": run["label"],
        "p50_ns": latency["p50"],
        "p50_ci": latency["p50_ci"],
        "p99_ns": latency["p99"],
        "p99_ci": latency["p99_ci"],
        "p999_ns": latency["p999"],
        "cores": cost.get("receive_cores", cost.get("machine_cores")),
        "receive_cpu_ns_per_packet": cost.get("receive_cpu_ns_per_packet"),
        "ipi_per_kpkt": cost["interrupts_per_kpkt"]["ipi"],
        "busy_poll_rx_packets": run["busy_poll_rx_packets"],
        "achieved_pps": run["rate"].get("achieved_pps"),
        "notes": [n["code"] for n in run["notes"]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per configuration")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rates", default="50000,100000,200000")
    parser.add_argument("--output", type=Path, default=RESULTS / "irq_suspend.json")
    args = parser.parse_args()
    results: dict = {"benchmark": "irq_suspend", "testbed": "A", "rounds": args.rounds}
    pingpong = bench.run(
        bench.Options(
            [*select(["epoll"], [50]), *(_variant(us) for us in GRO_FLUSH_US)],
            duration_s=args.seconds,
            rounds=args.rounds,
        )
    )
    results["pingpong"] = [_row(r) for r in pingpong["runs"]]
    for row in results["pingpong"]:
        print(
            f"ping-pong {row['label']:40s} p50 {row['p50_ns'] / 1000:7.1f} µs  p99 "
            f"{row['p99_ns'] / 1000:7.1f} µs  cores {row['cores']:.2f}"
        )
    results["load"] = {}
    for rate in (int(r) for r in args.rates.split(",")):
        result = bench.run(
            bench.Options(
                select(["epoll", "epoll_params", "irq_suspend"], [50], "load"),
                duration_s=args.seconds,
                rounds=args.rounds,
                mode="load",
                rate_pps=rate,
            )
        )
        results["load"][rate] = [_row(r) for r in result["runs"] if not r["unsupported"]]
        for row in results["load"][rate]:
            print(
                f"load {rate:>7,}/s {row['label']:22s} p50 {row['p50_ns'] / 1000:7.1f} µs  p99 "
                f"{row['p99_ns'] / 1000:7.1f} µs  receive {row['cores']:.2f} cores, "
                f"{row['ipi_per_kpkt']:.0f} IPIs/kpkt {' '.join(row['notes'])}"
            )
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
