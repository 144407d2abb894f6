"""Does the advice users find hold on this host? Each piece (from answers, blog posts and
profiles) is measured against the host's defaults at a low and a high load, under the
host-wide lock, and called helped, traded (better on one figure, worse on another), no
measurable effect, or hurt, with the evidence; a knob the device lacks makes its piece
"cannot be tested here", with the reason.

Every piece runs as a row of one bench per rate, interleaved round by round with its
baseline (a knob piece is its baseline with the knobs set around each of its rounds; a
strategy piece is a strategy of its own), so each verdict is a ratio from one run. Each
baseline also runs twice under two names: those two must not differ (the known answer),
and where they do the host was too noisy for verdicts at that rate, and the result says so."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..changes.lock import host_lock
from ..errors import InvalidValue, Unsupported
from ..knobs.registry import get
from ..measure import bench, load
from ..measure.sweep import rate_name
from ..strategies import LOAD, Strategy, build
from ..testbed import veth
from .compare import Ratio, difference, ratio, round_values

CHECK_SCHEMA_ID = "rxtune.check-advice/1"
MIN_LOSS = 0.001  # losses below this share of the packets are no verdict's reason
FIGURES = ("p50", "p99", "cost")
CANNOT = "cannot be tested here"


@dataclass(frozen=True)
class Piece:
    advice: str  # as users find it
    source: str
    knobs: tuple[tuple[str, Any], ...] = ()  # registry knobs set for a bench of its own
    strategy: str | None = None  # or: a strategy measured beside its baseline
    baseline: str = "epoll"  # the receive loop the piece is measured with, or against


PIECES = (
    Piece(
        "sysctl -w net.core.netdev_budget=600",
        "answers on NAPI batching (the seed conversation): more packets per NET_RX run",
        knobs=(("netdev_budget", 600),),
    ),
    Piece(
        "sysctl -w net.core.netdev_budget_usecs=2000",
        "the same answers: a NET_RX run may take up to 2 ms",
        knobs=(("netdev_budget_usecs", 2000),),
    ),
    Piece(
        "ethtool -C DEV rx-usecs 100 rx-frames 64",
        "the same answers: interrupt moderation, fewer interrupts per packet",
        knobs=(("rx-usecs", 100), ("rx-max-frames", 64)),
    ),
    Piece(
        "sysctl -w net.core.busy_read=50 net.core.busy_poll=50",
        "the same answers; tuned's network-latency profile sets exactly these",
        strategy="busy_poll_epoll",
        baseline="epoll",
    ),
    Piece(
        "setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, 50)",
        "the seed conversation's first answer",
        strategy="so_busy_poll",
        baseline="blocking",
    ),
)
BUSY_POLL_US = 50  # what the pieces above say


@dataclass(frozen=True)
class CheckOptions:
    rates: tuple[int, ...] = (10_000, 200_000)  # a low and a high load
    duration_s: float = 2.0  # per strategy and bench, over its rounds
    rounds: int = 5
    testbed: str = "A"
    wait_s: float = 0.0
    pieces: tuple[Piece, ...] = PIECES

    def validate(self) -> None:
        if not self.rates:
            raise InvalidValue("no rate to check at", "e.g. --rates 10000,200000")
        for rate in self.rates:
            if not 1 <= rate <= load.MAX_RATE:
                raise InvalidValue(f"rate {rate} for --check-advice", f"1..{load.MAX_RATE}/s")
        if not 2 <= self.rounds <= 100:
            raise InvalidValue(f"--rounds {self.rounds}", "2..100: a verdict needs an interval")
        veth.configuration(self.testbed)
        for piece in self.pieces:  # names here; values at run time: a refused one is a finding
            for name, _ in piece.knobs:
                get(name)

    def options(self, strategies: list[Strategy], rate: int) -> bench.Options:
        return bench.Options(
            strategies,
            duration_s=self.duration_s,
            testbed=self.testbed,
            mode=LOAD,
            rate_pps=rate,
            rounds=self.rounds,
        )


def loss_fractions(row: dict[str, Any]) -> list[float]:
    """Each round's share of the packets sent that did not arrive."""
    return [
        max(0, r["sent"] - r["received"]) / r["sent"]
        for r in row.get("per_round", [])
        if r.get("sent")
    ]


def lost_more(base: list[float], new: list[float]) -> bool:
    """Whether the rounds of `new` lost a larger share than those of `base` beyond the
    noise, and more than MIN_LOSS. Over rounds, not as one count: drops come in bursts (one
    preemption of the receiver), so a count's Poisson noise would call chance a result."""
    found = difference(base, new)
    return found is not None and float(np.mean(new)) > MIN_LOSS and found[1] > 0


def verdict(ratios: dict[str, Ratio | None], lost: bool) -> str:
    """From new/base ratios (lower is better) and whether new lost more packets."""
    better = [m for m, r in ratios.items() if r and r.significant and r.value < 1]
    worse = [m for m, r in ratios.items() if r and r.significant and r.value > 1]
    if lost:
        worse.append("drops")
    if better and worse:
        return "traded"
    return "hurt" if worse else "helped" if better else "no measurable effect"


def evidence(row: dict[str, Any]) -> dict[str, Any]:
    """The figures a verdict rests on, as a reader checks them."""
    latency, cost, packets = row["latency_ns"], row["cost"], row["packets"]
    return {
        "label": row["label"],
        "p50_ns": latency["p50"],
        "p50_ci": latency.get("p50_ci"),
        "p99_ns": latency["p99"],
        "p99_ci": latency.get("p99_ci"),
        "receive_cpu_ns_per_packet": cost["receive_cpu_ns_per_packet"],
        "receive_cpu_ns_per_packet_ci": cost.get("receive_cpu_ns_per_packet_ci"),
        "time_squeeze": sum(c.get("time_squeeze", 0) for c in row["cpus"]),
        "dropped": packets["dropped"],
        "sent": packets["sent"],
    }


def judge(base: list[dict[str, Any]], new: dict[str, Any]) -> dict[str, Any]:
    """A piece's row against its baseline rows (one bench, or those before and after)."""
    ratios = {
        m: ratio([v for b in base for v in round_values(b, m)], round_values(new, m))
        for m in FIGURES
    }
    lost = lost_more([f for b in base for f in loss_fractions(b)], loss_fractions(new))
    return {
        "verdict": verdict(ratios, lost),
        "ratios": {
            m: None
            if r is None
            else {"ratio": round(r.value, 3), "ci": [round(r.low, 3), round(r.high, 3)]}
            for m, r in ratios.items()
        },
        "baseline": [evidence(b) for b in base],
        "with": evidence(new),
    }


Progress = Callable[[str], None]


def run(options: CheckOptions, progress: Progress | None = None) -> dict[str, Any]:
    """rxtune.check-advice/1: per piece and rate its verdict and evidence, and per rate
    whether each baseline measured twice agreed with itself."""
    options.validate()
    started = time.monotonic()
    out: dict[str, Any] = {
        "schema": CHECK_SCHEMA_ID,
        "metadata": {
            "kernel": platform.release(),
            "rates": list(options.rates),
            "duration_s": options.duration_s,
            "rounds": options.rounds,
            "testbed": options.testbed,
        },
        "pieces": [{"advice": p.advice, "source": p.source, "results": {}} for p in options.pieces],
        "same_twice": {},
    }
    with host_lock("rxtune sweep --check-advice", options.wait_s):
        rows, cannot = _rows(options)
        for rate in options.rates:
            name = rate_name(rate)
            if progress:
                progress(f"{name}: {len(rows)} rows")
            measured = bench.run(options.options(list(rows.values()), rate))["runs"]
            by_label = {r["label"]: r for r in measured}
            out["same_twice"][name] = {
                base: _judged(by_label, base, f"{base} again") for base in _baselines(options)
            }
            for index, piece in enumerate(options.pieces):
                out["pieces"][index]["results"][name] = (
                    {"verdict": CANNOT, "reason": cannot[index]}
                    if index in cannot
                    else _judged(by_label, rows[piece.baseline].label, rows[index].label)
                )
    out["metadata"]["elapsed_s"] = round(time.monotonic() - started, 1)
    return out


def _baselines(options: CheckOptions) -> list[str]:
    return list(dict.fromkeys(p.baseline for p in options.pieces))


def _rows(options: CheckOptions) -> tuple[dict[Any, Strategy], dict[int, str]]:
    """The bench's rows: each baseline (keyed by its name) and again (the known answer),
    and each piece that can run here (keyed by its index); and why the others cannot."""
    rows: dict[Any, Strategy] = {}
    for name in _baselines(options):
        rows[name] = build(name, BUSY_POLL_US)
        rows[f"{name} again"] = rows[name].with_knobs((), label=f"{name} again")
    cannot: dict[int, str] = {}
    for index, piece in enumerate(options.pieces):
        if piece.strategy:
            rows[index] = build(piece.strategy, BUSY_POLL_US)
            continue
        try:  # the kernel refuses the value (netdev_budget_usecs under 2 jiffies), or the
            # device lacks the knob (no coalescing on veth): said, not measured
            knobs = tuple((get(k), get(k).check(v)) for k, v in piece.knobs)
            row = build(piece.baseline, BUSY_POLL_US).with_knobs(knobs)
            bench.preflight(options.options([row], options.rates[0]))
            rows[index] = row
        except (Unsupported, InvalidValue) as error:
            cannot[index] = str(error)
    return rows, cannot


def _judged(by_label: dict[str, dict[str, Any]], baseline: str, label: str) -> dict[str, Any]:
    row, base = by_label.get(label), by_label.get(baseline)
    for found, name in ((base, baseline), (row, label)):
        if found is None or found["unsupported"]:
            return {
                "verdict": CANNOT,
                "reason": found["unsupported"] if found else f"{name} did not run",
            }
    return judge([base], row)  # type: ignore[list-item, arg-type]


def noisy(result: dict[str, Any]) -> list[str]:
    """Where a baseline measured twice in one bench differed from itself beyond its
    interval (about one comparison in twenty does by chance): the size of that difference
    is noise on this host, and a verdict resting on a ratio no larger than it is doubtful."""
    out = []
    for rate, baselines in result["same_twice"].items():
        for label, found in baselines.items():
            if found["verdict"] in ("no measurable effect", CANNOT):
                continue
            moved = [
                f"{m} ×{r['ratio']:.2f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]"
                for m, r in found["ratios"].items()
                if r and not r["ci"][0] <= 1 <= r["ci"][1]
            ]
            out.append(f"{rate}: {label} against itself, {', '.join(moved) or 'drops'}")
    return out


CHECK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "rxtune sweep --check-advice",
    "type": "object",
    "required": ["schema", "metadata", "pieces", "same_twice"],
    "properties": {
        "schema": {"const": CHECK_SCHEMA_ID},
        "pieces": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["advice", "source", "results"],
                "properties": {
                    "results": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["verdict"],
                            "properties": {
                                "verdict": {
                                    "enum": [
                                        "helped",
                                        "traded",
                                        "no measurable effect",
                                        "hurt",
                                        CANNOT,
                                    ]
                                }
                            },
                        },
                    }
                },
            },
        },
    },
}
