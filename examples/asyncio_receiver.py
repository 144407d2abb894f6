#!/usr/bin/env python3
"""Receive with rxtune inside an asyncio program, the event loop never blocked.

    sudo python3 examples/asyncio_receiver.py so_busy_poll 198.18.0.2 9000 --seconds 10
    python3 examples/asyncio_receiver.py epoll 0.0.0.0 9000

How it waits, and what that costs (benchmarks/python_api.py measures it, the "asyncio"
consumer beside the C engine's own loop; figures in the README):
- a sleeping strategy (blocking, poll, epoll, recvmmsg, io_uring, tpacket_v3, af_xdp_poll)
  waits in the event loop itself: a reader callback on the receiver's fd, then a batch
  taken without waiting. No thread. The loop's epoll_wait replaces the strategy's own
  wait, and asyncio's machinery (the callback, a future, a task step) costs a few µs per
  wakeup: where each wakeup brings one packet, that is most of what the receiving costs.
- a spinning or busy-polling strategy (spin, so_busy_poll, epoll_params, io_uring_napi,
  af_xdp, ...) waits in a thread of the receiver's own, in C without the GIL: the loop
  stays free, and that thread spins (spin, af_xdp) or busy polls up to its µs before each
  sleep (so_busy_poll: a whole core once packets come faster than that), as it would in
  any language. Give the process two CPUs: on the loop's own core each batch crosses two
  context switches to reach the loop. Measured with this script at 20,000 packets/s, two
  CPUs: epoll 0.56 s of CPU in 1.5 s, so_busy_poll(50) 0.64 s, io_uring 0.59 s, with the
  other task ticking about 1,350 times (1 ms sleeps) in each run.
Meanwhile a second task keeps ticking: its count shows the loop was never held up.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import rxtune
import rxtune.strategies


async def ticker(period_s: float, ticks: list[int]) -> None:
    while True:
        await asyncio.sleep(period_s)
        ticks[0] += 1


async def main(strategy: str, address: str, port: int, seconds: float) -> None:
    ticks = [0]
    with rxtune.open_receiver(strategy, (address, port)) as rx:
        tick = asyncio.create_task(ticker(0.001, ticks))
        packets, first_byte_sum, end = 0, 0, time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                batch = await asyncio.wait_for(rx.recv_batch_async(), end - time.monotonic())
            except TimeoutError:
                break
            with batch:
                for payload in batch:
                    first_byte_sum += payload[0]
                packets += len(batch)
        tick.cancel()
        stats = rx.stats()
    print(
        f"{strategy}: {packets} packets in {stats['batches']} batches, "
        f"{stats['process_cpu_ns'] / 1e9:.2f} s of CPU in {stats['seconds']:.1f} s; "
        f"the other task ticked {ticks[0]} times"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("strategy", choices=rxtune.strategies.NAMES)
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.strategy, args.address, args.port, args.seconds))
