"""The JSON schema of bench results (rxtune.bench/2): metadata once, one row per strategy;
a strategy that could not run keeps its row with `unsupported` set to the reason. Every
field carries its meaning and unit here; the README's field list is made from this
(`field_docs`), so the two cannot drift apart.

bench/2 differs from bench/1: costs are the whole machine's (cost.receive_*), the thread's
beside them (cost.thread_*); interrupts are by kind; load latency runs from intended send
times with rate.offered_pps beside rate.achieved_pps; drops are one per place with
packets.unaccounted; p50/p99 carry 95% intervals over interleaved rounds; the latency
split is named for what it holds (to_rx_stamp, rx_stamp_to_app)."""

from __future__ import annotations

from typing import Any

from ..strategies import NAMES

SCHEMA_ID = "rxtune.bench/2"
OLD_SCHEMA_ID = "rxtune.bench/1"  # recognised, to say why it is not read
SUPERSEDED = {
    OLD_SCHEMA_ID: f"this result is {OLD_SCHEMA_ID}, written by an older rxtune: its CPU "
    "figures count only the receiving thread and its load latency hides sender stalls, so "
    f"it cannot be read as {SCHEMA_ID}"
}


def _f(kind: str | list[str], text: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": text, **extra}


_NS = ["integer", "null"]
_NUM = ["number", "null"]
_INTERVAL = _f(
    ["array", "null"],
    "95% confidence interval [low, high] over the rounds (Student's t); null under 2 rounds",
    items={"type": "number"},
)


def _percentiles(what: str) -> dict[str, Any]:
    return _f(
        "object",
        f"{what}: min, p50, p90, p99, p999, p9999, max, mean in ns over every sample of "
        "every round, count, and p50_ci, p99_ci; a percentile is null where fewer than 10 "
        "samples lie beyond it (p99 needs 1,000 samples, p99.9 10,000, p99.99 100,000)",
        required=["min", "p50", "p90", "p99", "p999", "max", "mean", "count"],
        **{"x-leaf": True},  # field_docs: min, p50 ... and the intervals are not listed
        properties={
            **{
                k: _f(_NS, f"{k} in ns")
                for k in ("min", "p50", "p90", "p99", "p999", "p9999", "max")
            },
            "mean": _f(_NS, "mean in ns"),
            "count": _f("integer", "samples"),
            "p50_ci": _INTERVAL,
            "p99_ci": _INTERVAL,
        },
    )


_INTERRUPTS = _f(
    "object",
    "interrupts per 1000 packets by kind, from the rows of /proc/interrupts: device "
    "(numbered rows), ipi (RES, CAL, TLB, IWI, ...), timer (LOC), other",
    required=["device", "ipi", "timer", "other"],
)
_COST_LOAD = {
    "receive_cpu_ns_per_packet": _f(
        _NUM,
        "ns of CPU the whole machine spent per packet received: the receiving CPU's busy "
        "time + NET_RX softirq time on other CPUs + NAPI kthread time on other CPUs, over "
        "the traffic window (BPF on raw tracepoints)",
    ),
    "receive_cpu_ns_per_packet_ci": _INTERVAL,
    "receive_cores": _f(_NUM, "the same as cores in use over the window (1.0 = one CPU)"),
    "receive_parts_ns": _f(
        "object",
        "the three parts of the receive cost, ns: receiving_cpu_busy, "
        "net_rx_softirq_elsewhere, napi_threads_elsewhere",
    ),
    "receive_cpu_ns": _f(_NS, "the receive cost over all rounds, ns"),
    "thread_cpu_ns_per_packet": _f(
        _NUM, "ns of CPU the receiving thread alone spent per packet (its CPU clock)"
    ),
    "thread_cores": _f(_NUM, "the receiving thread's CPU time over the window, in cores"),
    "thread_cpu_ns": _f(_NS, "the receiving thread's CPU time, ns"),
    "tracer_ns_per_packet": _f(
        _NUM, "run time of rxtune's own accounting programs per packet, ns (their overhead)"
    ),
    "ctx_per_kpkt": _f(_NUM, "context switches of the receiving thread per 1000 packets"),
    "interrupts_per_kpkt": _INTERRUPTS,
    "net_rx_softirqs_per_kpkt": _f(_NUM, "NET_RX softirqs raised on all CPUs per 1000 packets"),
    "packets_per_call": _f(_NUM, "packets per receive call (or per wakeup of the loop)"),
}
_COST_PINGPONG = {
    "machine_cpu_ns_per_round_trip": _f(
        _NUM, "busy time of every CPU of this host per round trip, ns (both sides)"
    ),
    "machine_cpu_ns_per_round_trip_ci": _INTERVAL,
    "machine_cores": _f(_NUM, "busy time of every CPU of this host over the run, in cores"),
    "thread_cpu_ns_per_packet": _f(_NUM, "the receiving (reflecting) thread's CPU per packet"),
    "thread_cores": _f(_NUM, "that thread's CPU time over its loop, in cores"),
    "ctx_per_kpkt": _f(_NUM, "context switches of that thread per 1000 packets"),
    "interrupts_per_kpkt": _INTERRUPTS,
    "net_rx_softirqs_per_kpkt": _f(_NUM, "NET_RX softirqs raised per 1000 round trips"),
    "thread": _f("object", "that thread's raw counters (ns, switches)"),
}
_DROPS = {
    "socket_buffer": "the receiving socket's buffer was full (Udp RcvbufErrors)",
    "ring": "the strategy's ring was full: TPACKET tp_drops, AF_XDP XSK statistics",
    "backlog": "the per-CPU backlog was full (/proc/net/softnet_stat dropped)",
    "veth_forward": "the veth could not forward (sender's tx_dropped, less backlog drops)",
    "receiver_device": "other drops of the receiving device (rx_dropped, less the above)",
}
_CPU_ROW = _f(
    "object",
    "one CPU over the window: cpu, busy_ns, idle_ns, net_rx_softirq_ns, net_rx_softirq_runs,"
    " napi_thread_ns, interrupts (by kind), net_rx_softirqs (raised), time_squeeze (NET_RX"
    " runs that ended with work left, from /proc/net/softnet_stat), steal_ns (time a"
    " hypervisor ran something else on this virtual CPU, /proc/stat, in 10 ms ticks)",
    required=["cpu", "busy_ns", "idle_ns", "interrupts", "net_rx_softirqs"],
)

_RUN = {
    "type": "object",
    "required": ["strategy", "label", "params", "unsupported"],
    "properties": {
        "strategy": _f("string", "the strategy's name in the strategy table", enum=list(NAMES)),
        "label": _f("string", "the strategy as the table shows it"),
        "unsupported": _f(["string", "null"], "why the strategy could not run here, or null"),
        "params": _f("object", "what was set: wait, busy_poll_us, socket options, sysctls, napi"),
        "rounds": _f("integer", "interleaved rounds the row is made of"),
        "per_round": _f("array", "each round's own figures, from which the intervals come"),
        "cpus": _f("array", "per CPU", items=_CPU_ROW),
        "napi_id": _f("integer", "SO_INCOMING_NAPI_ID of the receiving socket (0: none)"),
        "busy_poll_rx_packets": _f("integer", "TcpExt BusyPollRxPackets in the receiver's netns"),
        "direction": _f("string", "two hosts: tx (the peer received) or rx (this host did)"),
        "sides": _f(
            "object",
            "two hosts: local and peer, each host's own figures (role; machine_cpu_ns_per_packet "
            "and machine_cores of its whole machine; interrupts, NET_RX and context switches "
            "per 1000 packets); the row's cost is the receiving host's",
        ),
        "notes": _f(
            "array",
            "what a reader must know to trust the row: {code, text}",
            items={"type": "object", "required": ["code", "text"]},
        ),
    },
    "if": {"properties": {"unsupported": {"type": "null"}}},
    "then": {"required": ["rounds", "packets", "rate", "cost", "cpus", "napi_id", "notes"]},
}

_PINGPONG_RUN = {
    "properties": {
        "latency_basis": _f("string", "one-way (shared clock) or rtt/2 (a peer host)"),
        "latency_ns": _percentiles("one-way latency, or RTT/2 against a peer"),
        "rtt_ns": _percentiles("round-trip time at the client"),
        "split_ns": _f(
            "object",
            "the one-way latency in two parts",
            properties={
                "to_rx_stamp": _percentiles(
                    "send to the kernel's RX stamp (taken when the NAPI poll hands the "
                    "packet to the stack: the veth ring wait and a GRO hold are in it)"
                ),
                "rx_stamp_to_app": _percentiles("RX stamp to the application"),
            },
        ),
        "packets": _f("object", "sent, received, lost, reordered, reflected: counts"),
        "rate": _f("object", "round_trips_per_s", required=["round_trips_per_s"]),
        "cost": _f("object", "what the run cost", properties=_COST_PINGPONG),
        "udp_drops": _f("integer", "Udp RcvbufErrors on the receiving side"),
    },
    "if": {"properties": {"unsupported": {"type": "null"}}},
    "then": {"required": ["latency_ns", "rtt_ns", "split_ns"]},
}
_HIGH_RATE_RUN = {
    "properties": {
        "mode": _f("string", "throughput or load"),
        "latency_basis": _f(
            "string", "two hosts, load: one-way with the receiver's clock corrected by the offset"
        ),
        "rate": _f(
            "object",
            "packets/s",
            required=["offered_pps", "achieved_pps", "received_pps"],
            properties={
                "offered_pps": _f(_NS, "the rate asked for (load mode; null for a flood)"),
                "achieved_pps": _f("integer", "packets the sender put on the wire per second"),
                "received_pps": _f("integer", "packets the receiver took per second"),
            },
        ),
        "packets": _f(
            "object",
            "counts over all rounds",
            required=["sent", "received", "sender_errors", "dropped", "unaccounted"],
            properties={
                "sent": _f("integer", "packets the sender's kernel accepted"),
                "received": _f("integer", "test packets the receive loop took"),
                "sender_errors": _f("integer", "sends that failed: never sent, not drops"),
                "dropped": _f("integer", "the sum of drops.*"),
                "unaccounted": _f(
                    "integer", "sent - received - dropped: in flight at the end, or lost unseen"
                ),
                "duplicates": _f("integer", "packets seen twice"),
                "reordered": _f("integer", "packets that arrived after a later one"),
                "foreign": _f("integer", "packets that were not the test's"),
                "late_sends": _f("integer", "paced packets that left over 10 µs after their slot"),
            },
        ),
        "drops": _f(
            "object",
            "one count per place a packet can die, each drop counted once",
            required=list(_DROPS),
            properties={k: _f("integer", v) for k, v in _DROPS.items()},
        ),
        "latency_ns": _percentiles(
            "load mode: latency from each packet's intended send time (its slot at the "
            "offered rate) to the receive loop"
        ),
        "split_ns": _f(
            "object",
            "load mode: the latency in three parts",
            properties={
                "send_delay": _percentiles("how long after its slot the packet left"),
                "to_rx_stamp": _percentiles(
                    "sent to the kernel's RX stamp (NAPI poll to stack: veth ring wait, GRO)"
                ),
                "rx_stamp_to_app": _percentiles("RX stamp to the receive loop"),
            },
        ),
        "cost": _f(
            "object",
            "what receiving cost, over the traffic window",
            required=["receive_cpu_ns_per_packet", "receive_cores", "interrupts_per_kpkt"],
            properties=_COST_LOAD,
        ),
        "sender": _f(
            "object",
            "preempted: times the sender thread was taken off its CPU (involuntary context "
            "switches) during the traffic: what explains late sends",
        ),
        "window": _f(
            "object",
            "ns: the traffic windows' total length; drain_ns, how long after the sender's "
            "last packet the receiver took its last (left out of the cost)",
        ),
    },
}

_METADATA = {
    "kernel": _f("string", "uname -r"),
    "cpus": _f("integer", "CPUs of the host"),
    "testbed": _f(["string", "null"], "the testbed configuration, or null on a real interface"),
    "message_size": _f("integer", "UDP payload bytes"),
    "duration_s": _f("number", "seconds per strategy, over all its rounds"),
    "rounds": _f("integer", "interleaved rounds per strategy"),
    "mode": _f("string", "pingpong, throughput or load"),
    "rate_pps": _f(_NS, "load mode: the offered rate"),
    "pinning": _f("object", "the CPUs the client (sender) and the reflector (receiver) ran on"),
    "interface": _f(["string", "null"], "two hosts: this host's device"),
    "peer": _f(["string", "null"], "two hosts: the address of the peer running rxtune serve"),
    "direction": _f(["string", "null"], "two hosts: tx (the peer receives) or rx (this host)"),
    "peer_host": _f(
        ["object", "null"],
        "two hosts: what the peer reported: kernel, cpus, device, capabilities, knob snapshot",
    ),
    "clock": _f(
        ["object", "null"],
        "two hosts: the peer's CLOCK_MONOTONIC minus ours (offset_ns), within ±uncertainty_ns",
    ),
    "knobs": _f("object", "the receive-path knobs as they stood during the bench"),
    "calibration": _f(
        ["object", "null"],
        "throughput, load: the null receiver (an XDP program drops every packet at the "
        "receiving device): sent, receive_cpu_ns_per_packet, the floor under every row's "
        "receive cost on this path",
    ),
}

BENCH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "an rxtune bench",
    "type": "object",
    "required": ["schema", "mode", "metadata", "runs"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "mode": {"enum": ["pingpong", "throughput", "load"]},
        "metadata": _f(
            "object",
            "the host and the settings of the bench",
            required=["kernel", "cpus", "testbed", "message_size", "duration_s", "rounds"],
            properties=_METADATA,
        ),
        "runs": {"type": "array", "items": _RUN},
    },
    "allOf": [
        {
            "if": {"properties": {"mode": {"const": mode}}},
            "then": {"properties": {"runs": {"items": rule}}},
        }
        for mode, rule in (
            ("pingpong", _PINGPONG_RUN),
            ("load", _HIGH_RATE_RUN),
            ("throughput", _HIGH_RATE_RUN),
        )
    ],
}


def field_docs() -> list[tuple[str, str]]:
    """(path, meaning) of every documented field, in schema order: the README's list."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for name, child in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            if "description" in child:
                out.append((path, child["description"]))
            if not child.get("x-leaf"):
                walk(f"{path}.", child)

    walk("metadata.", {"properties": _METADATA})
    walk("runs[].", _RUN)
    for mode, rule in (("pingpong", _PINGPONG_RUN), ("throughput, load", _HIGH_RATE_RUN)):
        before = len(out)
        walk("runs[].", rule)
        out[before:] = [(f"{path} ({mode})", text) for path, text in out[before:]]
    return out


def fields_markdown() -> str:
    """The README's list of bench/2 fields."""
    return "\n".join(f"- `{path}`: {text}" for path, text in field_docs())
