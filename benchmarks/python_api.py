#!/usr/bin/env python3
"""The Python receive API against the C engine's own loop, strategy by strategy.

For each strategy, on one receive path opened the same way (rxtune.engine.paths), these
consumers take the packets: (a) the engine's own loop (C, counting each packet), (b) a
pure-Python loop over Receiver.recv_batch that touches every payload (sums its first byte),
(c) a Python loop over Receiver.recv(), one datagram per call, (d) for blocking, a plain
Python socket.recv_into loop on the same socket, what a Python program does without rxtune,
and (e) loop (b) in asyncio, for the sleeping strategies (examples/asyncio_receiver.py; a
spinning one's thread wants a second core, and the receiver here has one). None asks for RX
stamps. Each at a flood (sendmmsg batches) and at a fixed rate, in interleaved rounds, with
the whole machine's receive cost as the bench counts it. Ratios to (a) are given pooled and
per round (each round's ratio comes from runs side by side). Writes JSON. Needs root
(testbed, BPF accounting).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _results import RESULTS, write_results

import rxtune
from rxtune.engine.paths import ReceivePath
from rxtune.measure import load
from rxtune.measure.machine import MachineAccount
from rxtune.measure.pingpong import Endpoint
from rxtune.strategies import THROUGHPUT, names_for, select
from rxtune.testbed import veth

MESSAGE = 64
IDLE_S = 0.2  # a consumer waits this long at most, then looks at the clock
SEEN_BYTES = 1 << 20  # the engine's bitmap of sequence numbers: 8M packets
# a batching configuration beside the strategies as the bench runs them: a sleeping io_uring
# wait asks for 32 completions and returns 50 µs after the first (6.12), so a wakeup at a
# fixed rate carries several packets, and what Python adds per wakeup is shared among them
BATCHED = {"io_uring": {"uring_wait_nr": 32, "uring_min_wait_us": 50}}


def _stats(packets: int, calls: int, path: ReceivePath) -> dict[str, int]:
    """The engine loop's stats, for a consumer that only counts (no arrival times: the
    window is the sender's)."""
    assert path.rx is not None
    counts = path.rx.stats()
    return {
        "packets": packets,
        "calls": calls,
        "duplicates": 0,
        "reordered": 0,
        "foreign": counts["foreign"],
        "highest_seq": 0,
        "ring_drops": counts["ring_drops"],
        "socket_overflows": 0,
        "first_ns": 0,
        "last_ns": 0,
    }


def engine(path: ReceivePath, deadline: int) -> dict[str, int]:
    """(a) The C engine's own loop, counting each packet (and its sequence number, for
    duplicates) as in throughput mode: no RX stamps and no latency record, which the Python
    consumers do not ask for either."""
    assert path.rx is not None
    seen = bytearray(SEEN_BYTES)
    return path.rx.run(deadline, None, seen, 0)


def python_batch(path: ReceivePath, deadline: int) -> dict[str, int]:
    """(b) What a user writes with the API: batches, every payload touched; the clock is
    read only when a wait comes back empty."""
    rx = rxtune.Receiver(path)  # kept: a receiver closes its path when it is collected
    recv_batch = rx.recv_batch
    packets = calls = total = 0
    while True:
        batch = recv_batch(timeout=IDLE_S)
        if not len(batch):
            if time.monotonic_ns() > deadline:
                break
            continue
        for payload in batch:
            total += payload[0]
        packets += len(batch)
        calls += 1
    return _stats(packets, calls, path)


def python_recv(path: ReceivePath, deadline: int) -> dict[str, int]:
    """(c) One datagram per call, copied into bytes."""
    rx = rxtune.Receiver(path)
    recv = rx.recv
    packets = total = 0
    while True:
        try:
            data = recv(timeout=IDLE_S)
        except TimeoutError:
            if time.monotonic_ns() > deadline:
                break
            continue
        total += data[0]
        packets += 1
    return _stats(packets, packets, path)


def python_asyncio(path: ReceivePath, deadline: int) -> dict[str, int]:
    """(e) Loop (b) in asyncio: await recv_batch_async (a reader callback for a sleeping
    strategy, a thread of its own for a spinning one or io_uring), stopped at the deadline
    by another task."""
    rx = rxtune.Receiver(path)
    counts = {"packets": 0, "calls": 0, "total": 0}

    async def consume() -> None:
        while True:
            batch = await rx.recv_batch_async()
            for payload in batch:
                counts["total"] += payload[0]
            counts["packets"] += len(batch)
            counts["calls"] += 1

    async def main() -> None:
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(max(deadline - time.monotonic_ns(), 0) / 1e9)
        consumer.cancel()

    asyncio.run(main())
    stats = _stats(counts["packets"], counts["calls"], path)
    rx.close()  # its thread, if it had one, stops within a slice
    return stats


def socket_recv_into(path: ReceivePath, deadline: int) -> dict[str, int]:
    """(d) No rxtune: a blocking socket.recv_into loop on the same socket (its 100 ms
    SO_RCVTIMEO ends a wait with BlockingIOError)."""
    sock = path.napi_source
    assert sock is not None
    buffer = bytearray(2048)
    packets = total = 0
    while True:
        try:
            sock.recv_into(buffer)
        except BlockingIOError:
            if time.monotonic_ns() > deadline:
                break
            continue
        total += buffer[0]
        packets += 1
    return _stats(packets, packets, path)


CONSUMERS: dict[str, Callable[[ReceivePath, int], dict[str, int]]] = {
    "engine": engine,
    "python_batch": python_batch,
    "python_recv": python_recv,
    "asyncio": python_asyncio,
    "socket_recv_into": socket_recv_into,
}


def _row(record: dict) -> dict:
    cost = record["cost"]
    return {
        "received_pps": record["rate"]["received_pps"],
        "achieved_pps": record["rate"]["achieved_pps"],
        "received": record["packets"]["received"],
        "sent": record["packets"]["sent"],
        "receive_cpu_ns_per_packet": cost["receive_cpu_ns_per_packet"],
        "receive_cpu_ns_per_packet_ci": cost["receive_cpu_ns_per_packet_ci"],
        "receive_cores": cost["receive_cores"],
        "thread_cpu_ns_per_packet": cost["thread_cpu_ns_per_packet"],
        "packets_per_call": cost["packets_per_call"],
        "ctx_per_kpkt": cost["ctx_per_kpkt"],
        "drops": record["drops"],
        "per_round": [
            {k: r[k] for k in ("received", "achieved_pps", "receive_cpu_ns_per_packet")}
            for r in record["per_round"]
        ],
    }


def _ratio(rows: dict, name: str, key: str) -> dict | None:
    """name/engine of a figure, pooled and round by round (each round's runs side by side)."""
    if name not in rows or "engine" not in rows:
        return None
    a, b = rows["engine"], rows[name]
    if key == "received_pps":
        pairs = [
            (x["received"], y["received"])
            for x, y in zip(a["per_round"], b["per_round"], strict=True)
        ]
        pooled = b["received"] / max(a["received"], 1)
    else:
        pairs = [(x[key], y[key]) for x, y in zip(a["per_round"], b["per_round"], strict=True)]
        pooled = b[key] / max(a[key], 1e-9)
    each = [round(y / x, 3) for x, y in pairs if x]
    return {"pooled": round(pooled, 3), "per_round": each, "range": [min(each), max(each)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=100_000, help="the fixed rate, packets/s")
    parser.add_argument("-s", "--strategies", default=",".join(names_for(THROUGHPUT)))
    parser.add_argument("--output", type=Path, default=RESULTS / "python_api.json")
    args = parser.parse_args()
    names = args.strategies.split(",")
    veth.remove_leftovers()
    results: dict = {
        "benchmark": "python_api",
        "testbed": "A",
        "message_size": MESSAGE,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "fixed_rate_pps": args.rate,
        "consumers": {name: fn.__doc__ for name, fn in CONSUMERS.items()},
    }
    with veth.testbed(veth.configuration("A")) as bed, MachineAccount() as account:
        tx = Endpoint(bed.sender.netns, bed.sender.address, bed.cpus[0])
        rx = Endpoint(bed.receiver.netns, bed.receiver.address, bed.cpus[1])
        for mode, rate in (("throughput", 0), ("load", args.rate)):
            configs = [(strategy, strategy.label, {}) for strategy in select(names, [50], mode)]
            configs += [
                (
                    strategy,
                    f"{strategy.label} wait {w['uring_wait_nr']}/{w['uring_min_wait_us']}µs",
                    w,
                )
                for strategy in select([n for n in names if n in BATCHED], [50], mode)
                for w in [BATCHED[strategy.name]]
            ]
            runs: dict[tuple[str, str], list] = {}
            for _ in range(args.rounds):
                for strategy, label, extra in configs:
                    for consumer, fn in CONSUMERS.items():
                        if consumer == "socket_recv_into" and strategy.name != "blocking":
                            continue
                        if consumer == "asyncio" and not strategy.entry.sleeps:
                            continue  # its thread wants a core of its own: this receiver has one
                        settings = load.LoadSettings(
                            mode, args.seconds, MESSAGE, rate, consumer=fn, **extra
                        )
                        runs.setdefault((label, consumer), []).append(
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
            table: dict = {}
            for strategy, label, extra in configs:
                rows = {
                    consumer: _row(
                        load.record(
                            strategy,
                            load.LoadSettings(
                                mode,
                                args.seconds,
                                MESSAGE,
                                rate,
                                consumer=CONSUMERS[consumer],
                                **extra,
                            ),
                            raw,
                            bed.cpus[1],
                        )
                    )
                    for (row_label, consumer), raw in runs.items()
                    if row_label == label
                }
                ratios = {
                    f"{name}/engine": {
                        "received": _ratio(rows, name, "received_pps"),
                        "receive_cpu_per_packet": _ratio(rows, name, "receive_cpu_ns_per_packet"),
                    }
                    for name in CONSUMERS
                    if name != "engine" and name in rows
                }
                table[label] = {"settings": extra, "consumers": rows, "ratios": ratios}
                line = "  ".join(
                    f"{c} {r['received_pps']:>7,}/s {r['receive_cpu_ns_per_packet'] / 1000:.2f}µs"
                    for c, r in rows.items()
                )
                print(f"{mode:10s} {label:26s} {line}", flush=True)
            results[mode] = table
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
