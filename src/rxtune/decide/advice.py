"""From bench results to a recommendation. Every claim quotes a measured figure; where the
figures show the path is not set up for busy polling (no NAPI id, GRO holding datagrams),
that comes first, since no strategy can fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidValue
from ..knobs.model import Knob
from ..knobs.registry import get
from ..measure.notes import GRO_FORWARDING, NO_NAPI, UNDER_RATE_NOTE
from ..measure.schema import SCHEMA_ID, SUPERSEDED
from ..measure.stats import overlaps
from ..measure.sweep import rate_name
from ..strategies import BY_NAME, build
from . import snippets

GOALS = ("latency", "cpu", "balanced")
BALANCED_CPU_FACTOR = 1.5  # balanced: at most this many times the best sleeping row's cores
SIGNIFICANT = 0.10  # without intervals, a smaller latency gain counts as noise
MAX_LOAD_LOSS = 0.01  # a load row that lost more is not a basis for advice
# notes about the path itself, which no strategy can fix: shown first
PATH_NOTES = (NO_NAPI, GRO_FORWARDING)


@dataclass
class Advice:
    goal: str
    mode: str
    choice: dict[str, Any] | None
    baseline: dict[str, Any] | None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)  # device-side pitfalls, as commands
    commands: list[str] = field(default_factory=list)
    # what `rxtune.tune(values=...)` / apply.tune.Request take as they are
    settings: list[tuple[Knob, Any]] = field(default_factory=list)
    code: str = ""
    python: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "rxtune.advice/1",
            "goal": self.goal,
            "mode": self.mode,
            "strategy": self.choice["label"] if self.choice else None,
            "baseline": self.baseline["label"] if self.baseline else None,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "fixes": self.fixes,
            "commands": self.commands,
            "settings": {knob.name: value for knob, value in self.settings},
            "code": self.code,
            "python": self.python,
        }


def _latency(run: dict[str, Any], key: str) -> float:
    value = run.get("latency_ns", {}).get(key)
    return float("inf") if value is None else value


def _cost(run: dict[str, Any]) -> float:
    """CPU per packet over the whole machine (per round trip in ping-pong)."""
    cost = run["cost"]
    return cost.get("receive_cpu_ns_per_packet") or cost["machine_cpu_ns_per_round_trip"]


def _cores(run: dict[str, Any]) -> float:
    """The machine's CPU in cores that receiving takes: a busy poller keeps its core
    whatever the rate, so this, not CPU per packet, is what latency is traded against."""
    cost = run["cost"]
    return cost.get("receive_cores") or cost["machine_cores"]


def _differs(a: dict[str, Any], b: dict[str, Any], key: str) -> bool:
    """Whether a's latency percentile is better than b's beyond the noise: intervals over
    rounds that do not overlap, or (no intervals) by more than SIGNIFICANT."""
    ia, ib = a["latency_ns"].get(f"{key}_ci"), b["latency_ns"].get(f"{key}_ci")
    if ia and ib:
        return not overlaps(ia, ib) and _latency(a, key) < _latency(b, key)
    return _latency(a, key) < (1 - SIGNIFICANT) * _latency(b, key)


def _cheaper(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether a's receive cost per packet is below b's beyond the noise."""
    ia = a["cost"].get("receive_cpu_ns_per_packet_ci") or a["cost"].get(
        "machine_cpu_ns_per_round_trip_ci"
    )
    ib = b["cost"].get("receive_cpu_ns_per_packet_ci") or b["cost"].get(
        "machine_cpu_ns_per_round_trip_ci"
    )
    if ia and ib:
        return not overlaps(ia, ib) and _cost(a) < _cost(b)
    return _cost(a) < (1 - SIGNIFICANT) * _cost(b)


def _usable(run: dict[str, Any], mode: str) -> bool:
    """Rows a recommendation may rest on: measured; in ping-pong without lost round trips;
    under load at the offered rate and without losses beyond 1% (a flood drops by design)."""
    if run["unsupported"]:
        return False
    if mode == "pingpong":
        return not run["packets"]["lost"]
    if mode == "load":
        under = any(n["code"] == UNDER_RATE_NOTE for n in run["notes"])
        return not under and run["packets"]["dropped"] <= MAX_LOAD_LOSS * run["packets"]["sent"]
    return True


def _throughput(run: dict[str, Any]) -> float:
    rate = run["rate"]
    return rate.get("received_pps") or rate.get("round_trips_per_s") or 0


def _at_equal_latency(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose p99 is not worse than the best p99 beyond the noise."""
    fastest = min(runs, key=lambda r: _latency(r, "p99"))
    return [r for r in runs if r is fastest or not _differs(fastest, r, "p99")]


def _changes_host(row: dict[str, Any]) -> bool:
    params = row.get("params", {})
    return params.get("pm_qos_us") is not None or bool(params.get("knobs"))


def _path_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """Rows that could not run and notes about the path, each said once with the rows it
    concerns (nine busy pollers share one GRO note)."""
    said: dict[str, list[str]] = {}
    for row in rows:
        if row["unsupported"]:
            said.setdefault(f"could not run here: {row['unsupported']}", []).append(row["label"])
        for note in row.get("notes", []):
            if note["code"] in PATH_NOTES:
                said.setdefault(note["text"], []).append(row["label"])
    return [f"{', '.join(labels)}: {text}" for text, labels in said.items()]


def _without_impossible_busy_polling(
    rows: list[dict[str, Any]], runs: list[dict[str, Any]], dev: str | None, advice: Advice
) -> list[dict[str, Any]]:
    """Where the figures show a device-side pitfall, busy polling is not recommended
    whatever its numbers: the cause and its fix come first."""
    codes = {n["code"] for r in rows for n in r.get("notes", [])}
    device = dev or "DEV"
    if GRO_FORWARDING in codes:
        advice.reasons.append(
            "busy polling is not recommended on this device: rx-udp-gro-forwarding is on, so "
            "GRO holds each datagram until the NAPI poll completes and a busy poller waits out "
            "its whole window (latency grows with the busy-poll µs); turn it off first, then "
            "measure busy polling again"
        )
        advice.fixes += [
            f"ethtool -K {device} rx-udp-gro-forwarding off",
            f"rxtune set rx-udp-gro-forwarding=off --dev {device}   # journaled; rxtune revert",
        ]
    elif NO_NAPI in codes:
        advice.reasons.append(
            "busy polling is impossible on this path: packets reached the socket with NAPI id "
            "0 (not through a NAPI, e.g. veth without GRO, or the backlog after RPS), so a busy "
            "poller has nothing to poll and only spins. A NAPI path: on veth, GRO on the "
            "receiving device or an XDP program on it; on a NIC, its driver's NAPI per queue "
            "(and no RPS for this traffic)"
        )
        advice.fixes += [
            f"ethtool -K {device} gro on        # veth: GRO puts the device on NAPI",
            f"rxtune set rx-gro=on --dev {device}   # the same, journaled",
        ]
    else:
        return runs
    return [r for r in runs if not BY_NAME[r["strategy"]].busy_polls]


def _never_worse(best: dict[str, Any], base: dict[str, Any], advice: Advice) -> dict[str, Any]:
    """A choice that measured worse than the baseline at p50 or p99 beyond the noise is
    never recommended, whatever goal chose it."""
    worse = [key for key in ("p50", "p99") if _differs(base, best, key)]
    if best is base or not worse:
        return best
    advice.reasons.append(
        f"{best['label']} measured worse than {base['label']} at {' and '.join(worse)} beyond "
        "the noise: not recommended"
    )
    return base


def advise(
    result: dict[str, Any],
    goal: str = "balanced",
    dev: str | None = None,
    cpu_budget: float | None = None,
) -> Advice:
    """What to do from a bench result; with cpu_budget (cores), only strategies whose
    receive path took at most that much of the machine are candidates."""
    if goal not in GOALS:
        raise InvalidValue(f"unknown goal '{goal}'", GOALS)
    if cpu_budget is not None and not 0 < cpu_budget <= 4096:
        raise InvalidValue(f"--cpu-budget {cpu_budget}", "cores, more than 0")
    if result.get("schema") in SUPERSEDED:
        raise InvalidValue(
            SUPERSEDED[result["schema"]],
            f"a result of {SCHEMA_ID}: run `rxtune bench --save FILE` again",
        )
    if result.get("schema") != SCHEMA_ID:
        raise InvalidValue("not an rxtune bench result", "a file written by `rxtune bench --save`")
    mode = result["mode"]
    runs = [r for r in result["runs"] if _usable(r, mode)]
    advice = Advice(goal, mode, None, None)
    if cpu_budget is not None:
        over = [r["label"] for r in runs if _cores(r) > cpu_budget]
        runs = [r for r in runs if _cores(r) <= cpu_budget]
        if over:
            advice.reasons.append(
                f"over the budget of {cpu_budget:g} cores, not considered: {', '.join(over)}"
            )
    advice.warnings += _path_warnings(result["runs"])
    runs = _without_impossible_busy_polling(result["runs"], runs, dev, advice)
    if not runs:
        advice.reasons.append(
            "no strategy ran at its offered rate without losses: nothing to recommend from "
            "these figures"
        )
        return advice
    # the baseline sleeps with the host as it is: a row with PM QoS held or knobs set is a
    # change to weigh against it, not the baseline
    sleeping = [r for r in runs if BY_NAME[r["strategy"]].sleeps and not _changes_host(r)]
    advice.baseline = min(
        sleeping or runs,
        key=lambda r: _latency(r, "p50") if mode != "throughput" else _cost(r),
    )
    if mode == "throughput":
        best = max(runs, key=_throughput) if goal != "cpu" else min(runs, key=_cost)
    elif goal == "latency":
        # of those whose p99 the noise does not separate from the best, the best p50
        best = min(_at_equal_latency(runs), key=lambda r: (_latency(r, "p50"), _cores(r)))
    elif goal == "cpu":
        # the cheapest of those as fast as the fastest: cost alone would buy cheap packets
        # with latency (a TPACKET block timeout, a batch wait)
        as_fast = _at_equal_latency(runs)
        best = min(as_fast, key=_cores)
        base = advice.baseline
        if base in as_fast and best is not base and not _cheaper(best, base):
            advice.reasons.append(
                f"{best['label']} costs less than {advice.baseline['label']} per packet by "
                "less than the run-to-run noise (their 95% intervals overlap)"
            )
            best = advice.baseline
    else:
        budget = _cores(advice.baseline) * BALANCED_CPU_FACTOR
        affordable = [r for r in runs if _cores(r) <= budget] or [advice.baseline]
        best = min(affordable, key=lambda r: (_latency(r, "p99"), _latency(r, "p50")))
        fastest = min(runs, key=lambda r: _latency(r, "p99"))
        if fastest is not best:
            advice.reasons.append(
                f"{fastest['label']} is faster (p99 {_latency(fastest, 'p99') / 1000:.1f} µs) but "
                f"takes {_cores(fastest):.2f} cores of the machine, over the balanced budget of "
                f"{budget:.2f} ({BALANCED_CPU_FACTOR}× {advice.baseline['label']}); "
                f"--goal latency takes it"
            )
    base = advice.baseline
    if (
        mode != "throughput"
        and goal != "cpu"
        and best is not base
        and not (_differs(best, base, "p50") or _differs(best, base, "p99"))
    ):
        advice.reasons.append(
            f"{best['label']} is not faster than {base['label']} at p50 or p99 beyond "
            "the run-to-run noise (their 95% intervals overlap): not a reason to change"
        )
        best = base
    if mode != "throughput":
        best = _never_worse(best, base, advice)
    advice.choice = best
    if mode == "throughput":
        advice.reasons.insert(
            0,
            f"{best['label']} received {_throughput(best):,.0f} packets/s at "
            f"{_cost(best) / 1000:.2f} µs of the machine's CPU per packet "
            f"({base['label']}: {_throughput(base):,.0f}/s, "
            f"{_cost(base) / 1000:.2f} µs)",
        )
        if goal == "cpu":
            advice.warnings.append(
                "a flood measures no latency, and the cheapest packets may be bought with it "
                "(a TPACKET block timeout, a batch wait): measure at your rate with "
                "`rxtune bench --mode load --rate N`, where --goal cpu takes the cheapest "
                "strategy of those as fast as the fastest"
            )
    elif best is base:
        advice.reasons.insert(
            0,
            (
                f"keep {base['label']}: p50 {_latency(base, 'p50') / 1000:.1f} µs, p99 "
                f"{_latency(base, 'p99') / 1000:.1f} µs with {_cores(base):.2f} cores of the "
                f"machine; nothing that fits the {goal} goal does better beyond the noise"
            ),
        )
    else:
        advice.reasons.insert(
            0,
            (
                f"{best['label']}: p50 {_latency(best, 'p50') / 1000:.1f} µs, p99 "
                f"{_latency(best, 'p99') / 1000:.1f} µs against {base['label']}'s "
                f"{_latency(base, 'p50') / 1000:.1f} / {_latency(base, 'p99') / 1000:.1f} µs; "
                f"receiving takes {_cores(best):.2f} cores of the machine against "
                f"{_cores(base):.2f}"
            ),
        )
        split = best.get("split_ns", {}).get("rx_stamp_to_app", {}).get("p50")
        base_split = base.get("split_ns", {}).get("rx_stamp_to_app", {}).get("p50")
        if split is not None and base_split and best is not base and split < base_split:
            advice.reasons.append(
                f"the gain is in the wait from the kernel's RX stamp to the "
                f"application: {base_split / 1000:.1f} → {split / 1000:.1f} µs"
            )
    if best.get("busy_poll_rx_packets") == 0 and BY_NAME[best["strategy"]].busy_polls:
        advice.warnings.append(
            f"{best['label']}: BusyPollRxPackets did not grow: busy polling "
            "never found a packet on this path"
        )
    strategy = build(
        best["strategy"],
        best["params"].get("busy_poll_us") or 50,
        best["params"].get("batch") or 32,
    )
    advice.commands = snippets.commands(strategy, dev)
    advice.settings = snippets.settings(strategy)
    # a row measured with registry knobs set (a sweep's dimension): part of what it recommends
    for name, value in best["params"].get("knobs", {}).items():
        knob = get(name)
        advice.settings.append((knob, value))
        advice.commands.append(snippets.knob_command(knob, value, dev))
    advice.code = strategy.code()
    advice.python = strategy.python()
    us = best["params"].get("pm_qos_us")
    if us is not None:  # a PM QoS row: the limit is held by a process, not set
        advice.commands += [
            f"# hold the CPU latency PM QoS at {us} µs while the receiver runs; the kernel drops "
            "it when the file closes:",
            f"exec 3>/dev/cpu_dma_latency && printf '%x' {us} >&3   # in a shell that stays",
            f"# tuned: [cpu] force_latency={us}",
        ]
        advice.code = (
            f'int qos = open("/dev/cpu_dma_latency", O_WRONLY);  /* keep it open */\n'
            f"write(qos, &(int32_t){{{us}}}, sizeof(int32_t));\n" + advice.code
        )
        advice.python = (
            f'qos = os.open("/dev/cpu_dma_latency", os.O_WRONLY)  # keep it open\n'
            f'os.write(qos, struct.pack("i", {us}))\n' + advice.python
        )
        if best["cost"].get("polling_in_idle_ns") is None:
            advice.warnings.append(
                "the CPUs' time polling in idle, the hidden cost of a PM QoS limit, could not "
                "be measured here (no cpuidle POLL state)"
            )
    return advice


def advise_sweep(
    sweep: dict[str, Any],
    goal: str = "balanced",
    dev: str | None = None,
    cpu_budget: float | None = None,
) -> tuple[list[tuple[str, Advice]], str]:
    """Advice per load level of a sweep, and the knee in words: at which rates busy
    polling beats the best sleeping strategy beyond the noise, at p50 and at p99."""
    levels: list[tuple[str, Advice]] = []
    pays: dict[str, list[tuple[int, bool]]] = {"p50": [], "p99": []}
    for rate in sorted({p["rate"] for p in sweep["points"]}, key=lambda r: (r == 0, r)):
        rows = [p["row"] for p in sweep["points"] if p["rate"] == rate]
        mode = "throughput" if rate == 0 else "load"
        result = {"schema": SCHEMA_ID, "mode": mode, "runs": rows}
        levels.append((rate_name(rate), advise(result, goal, dev, cpu_budget)))
        usable = [r for r in rows if _usable(r, mode) and "latency_ns" in r]
        sleepers = [r for r in usable if BY_NAME[r["strategy"]].sleeps]
        pollers = [r for r in usable if BY_NAME[r["strategy"]].busy_polls]
        for key, found in pays.items():
            if rate and sleepers and pollers:
                base = min(sleepers, key=lambda r, k=key: _latency(r, k))  # type: ignore[misc]
                best = min(pollers, key=lambda r, k=key: _latency(r, k))  # type: ignore[misc]
                found.append((rate, _differs(best, base, key)))
    if not pays["p99"]:
        return levels, "no rate with both a busy-polling and a sleeping strategy measured"
    return levels, "; ".join(_knee(key, found) for key, found in pays.items())


def _knee(key: str, pays: list[tuple[int, bool]]) -> str:
    yes = [rate_name(r) for r, won in pays if won]
    no = [rate_name(r) for r, won in pays if not won]
    if not no:
        every = ", ".join(yes)
        return f"at {key} busy polling beats sleeping beyond the noise at every rate ({every})"
    if not yes:
        return (
            f"at {key} busy polling does not beat sleeping beyond the noise at any rate "
            f"measured ({', '.join(no)}): the core it keeps buys nothing there"
        )
    return (
        f"at {key} busy polling beats sleeping beyond the noise at {', '.join(yes)}, "
        f"not at {', '.join(no)}"
    )
