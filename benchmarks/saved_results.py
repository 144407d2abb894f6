"""The saved results the tests and the README read, made again on this machine with
rxtune's own commands: bench results of testbeds A (ping-pong, flood, 100k/s), B (the GRO
forwarding pitfall) and C (no NAPI), a default sweep, and a check of common advice.

    python3 benchmarks/saved_results.py [--only NAME ...]

Each is written to benchmarks/results/NAME.json as the command saves it."""

from __future__ import annotations

import argparse
import subprocess
import sys

from _results import RESULTS

LOAD_STRATEGIES = (
    "blocking,epoll,spin,so_busy_poll,busy_poll_epoll,epoll_params,recvmmsg,io_uring,"
    "io_uring_napi,tpacket_v3,af_xdp,af_xdp_poll"
)
SAVED: dict[str, list[str]] = {
    "pingpong": ["bench", "-d", "3"],
    "throughput": ["bench", "--mode", "throughput", "-d", "3", "-s", LOAD_STRATEGIES],
    "load_100k": ["bench", "--mode", "load", "--rate", "100000", "-d", "3", "-s", LOAD_STRATEGIES],
    "testbed_b_pitfall": [
        "bench", "-t", "B", "-d", "3", "-s", "epoll,so_busy_poll", "--busy-poll-us", "5,20,50,100",
    ],
    "testbed_c_no_napi": [
        "bench", "-t", "C", "-d", "3", "-s", "blocking,epoll,so_busy_poll,busy_poll_epoll",
    ],
    "sweep": ["sweep"],
    "check_advice": ["sweep", "--check-advice"],
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SAVED), default=sorted(SAVED))
    args = parser.parse_args()
    for name in args.only:
        path = RESULTS / f"{name}.json"
        command = [sys.executable, "-m", "rxtune", *SAVED[name], "--save", str(path)]
        print("$", " ".join(command[2:]), flush=True)
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
