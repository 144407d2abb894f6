#!/usr/bin/env python3
"""How often does `rxtune compare` call a difference where there is none? The same bench
(the same strategies, rate and settings) run N times one after another; every pair of runs
is compared, and each (pair, strategy, figure) that compare calls significant is a false
positive. Its rate should be at most about 5% (95% intervals). Writes JSON.

The pairs share runs, so they are not independent: the rate is an estimate with that
caveat, beside the count of independent pairs (consecutive runs) and theirs alone."""

from __future__ import annotations

import argparse
import itertools
import sys

from _results import RESULTS, write_results

from rxtune.decide.compare import METRICS, compare
from rxtune.measure import bench
from rxtune.strategies import LOAD, select


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0, help="per strategy and run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--strategies", default="blocking,epoll,busy_poll_epoll")
    parser.add_argument("--output", default=RESULTS / "compare_false_positives.json")
    args = parser.parse_args()
    strategies = select(args.strategies.split(","), [50], LOAD)
    runs = []
    for index in range(args.runs):
        print(f"run {index + 1}/{args.runs}", file=sys.stderr, flush=True)
        options = bench.Options(
            strategies, args.seconds, mode=LOAD, rate_pps=args.rate, rounds=args.rounds
        )
        runs.append(bench.run(options))

    def tally(pairs: list[tuple[int, int]]) -> dict:
        calls, positives, where = 0, 0, []
        for a, b in pairs:
            for row in compare(runs[a], runs[b])["rows"]:
                for metric in METRICS:
                    found = row["metrics"][metric]
                    if found is None:
                        continue
                    calls += 1
                    if found["significant"]:
                        positives += 1
                        where.append(f"runs {a}-{b} {row['strategy']} {metric} ×{found['ratio']}")
        return {
            "pairs": len(pairs),
            "comparisons": calls,
            "significant": positives,
            "false_positive_rate": round(positives / max(calls, 1), 4),
            "where": where,
        }

    results = {
        "benchmark": "compare_false_positives",
        "runs": args.runs,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "rate_pps": args.rate,
        "strategies": [s.label for s in strategies],
        "all_pairs": tally(list(itertools.combinations(range(args.runs), 2))),
        "consecutive_pairs": tally([(i, i + 1) for i in range(0, args.runs - 1, 2)]),
    }
    for name in ("all_pairs", "consecutive_pairs"):
        found = results[name]
        print(
            f"{name}: {found['significant']} of {found['comparisons']} comparisons significant "
            f"({100 * found['false_positive_rate']:.1f}%)"
        )
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
