#!/usr/bin/env python3
"""io_uring with NAPI busy polling: what the ring's setup flags do to a busy poller.

A ring set up with no flags notifies a running task with an IPI for each completion (task
work with TWA_SIGNAL); a busy-polling waiter is always running, so each packet costs an
IPI and ends the busy loop. COOP_TASKRUN drops the IPI; SINGLE_ISSUER | DEFER_TASKRUN
leaves the task work to the waiter (rxtune's choice). Interleaved rounds of each, at a
flood and at a paced rate, with interrupts by kind and the whole machine's receive cost.
Writes JSON. Needs root and kernel 6.9+ (IORING_REGISTER_NAPI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _results import RESULTS, write_results

from rxtune.engine import _engine
from rxtune.measure import load
from rxtune.measure.machine import MachineAccount
from rxtune.measure.pingpong import Endpoint
from rxtune.strategies import select
from rxtune.testbed import veth

FLAGS = {
    "no flags": 0,
    "COOP_TASKRUN": _engine.IORING_SETUP_COOP_TASKRUN,
    "SINGLE_ISSUER|DEFER_TASKRUN": _engine.IORING_SETUP_SINGLE_ISSUER
    | _engine.IORING_SETUP_DEFER_TASKRUN,
}


def _row(record: dict) -> dict:
    cost = record["cost"]
    row = {
        "received_pps": record["rate"]["received_pps"],
        "achieved_pps": record["rate"]["achieved_pps"],
        "receive_cpu_ns_per_packet": cost["receive_cpu_ns_per_packet"],
        "receive_cpu_ns_per_packet_ci": cost["receive_cpu_ns_per_packet_ci"],
        "receive_parts_ns": cost["receive_parts_ns"],
        "interrupts_per_kpkt": cost["interrupts_per_kpkt"],
        "busy_poll_rx_packets": record["busy_poll_rx_packets"],
        "packets_per_call": cost["packets_per_call"],
        "drops": record["drops"],
    }
    if "latency_ns" in record:
        row["latency_ns"] = {k: record["latency_ns"][k] for k in ("p50", "p99", "p50_ci", "p99_ci")}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--output", type=Path, default=RESULTS / "io_uring_napi.json")
    args = parser.parse_args()
    veth.remove_leftovers()
    results: dict = {"benchmark": "io_uring_napi", "testbed": "A", "rounds": args.rounds}
    with veth.testbed(veth.configuration("A")) as bed, MachineAccount() as account:
        tx = Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0])
        rx = Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1])
        for mode, rate in (("throughput", 0), ("load", args.rate)):
            (strategy,) = select(["io_uring_napi"], [50], mode)
            rounds: dict[str, list] = {name: [] for name in FLAGS}
            for _ in range(args.rounds):
                for name, flags in FLAGS.items():
                    settings = load.LoadSettings(mode, args.seconds, 64, rate, uring_setup=flags)
                    rounds[name].append(
                        load.run(
                            strategy,
                            tx,
                            rx,
                            bed.sender.ifname,
                            bed.receiver.ifname,
                            settings,
                            account,
                        )
                    )
            results[mode] = {
                name: _row(
                    load.record(
                        strategy, load.LoadSettings(mode, args.seconds, 64, rate), raw, bed.cpus[1]
                    )
                )
                for name, raw in rounds.items()
            }
            for name, row in results[mode].items():
                print(
                    f"{mode:10s} {name:28s} received {row['received_pps']:>8,}/s  receive "
                    f"{row['receive_cpu_ns_per_packet'] / 1000:.2f} µs/pkt  IPI/kpkt "
                    f"{row['interrupts_per_kpkt']['ipi']:.1f}  busy-poll pkts "
                    f"{row['busy_poll_rx_packets']:,}"
                    + (
                        f"  p50 {row['latency_ns']['p50'] / 1000:.1f} µs"
                        if "latency_ns" in row
                        else ""
                    )
                )
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
