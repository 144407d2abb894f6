"""The JSON schema of bench results (rxtune.bench/1): metadata once, one row per strategy;
a strategy that could not run keeps its row with `unsupported` set to the reason."""

from __future__ import annotations

from ..strategies import NAMES

_NUMBER = {"type": ["number", "null"]}

_PERCENTILES = {
    "type": "object",
    "required": ["min", "p50", "p90", "p99", "p999", "max", "mean", "count"],
    "properties": {
        k: {"type": ["integer", "null"]}
        for k in ("min", "p50", "p90", "p99", "p999", "max", "mean", "count")
    },
}

_RUN = {
    "type": "object",
    "required": ["strategy", "label", "params", "unsupported"],
    "properties": {
        "strategy": {"enum": list(NAMES)},
        "label": {"type": "string"},
        "unsupported": {"type": ["string", "null"]},
        "params": {
            "type": "object",
            "properties": {
                "busy_poll_us": {"type": ["integer", "null"]},
                "batch": {"type": "integer", "minimum": 1, "maximum": 256},
            },
        },
        "latency_ns": _PERCENTILES,
        "rtt_ns": _PERCENTILES,
        "split_ns": {
            "type": "object",
            "required": ["to_kernel", "kernel_to_app"],
            "properties": {"to_kernel": _PERCENTILES, "kernel_to_app": _PERCENTILES},
        },
        "packets": {
            "type": "object",
            "required": ["sent", "received", "lost", "reordered"],
            "properties": {
                k: {"type": "integer", "minimum": 0}
                for k in ("sent", "received", "lost", "reordered")
            },
        },
        "drops": {"type": "object", "additionalProperties": {"type": "integer"}},
        "rate": {"type": "object", "additionalProperties": _NUMBER},
        "cost": {
            "type": "object",
            "additionalProperties": _NUMBER,
            "required": [
                "ctx_voluntary",
                "ctx_involuntary",
                "cpu_user_ns",
                "cpu_system_ns",
                "cpu_ns_per_packet",
                "cpu_fraction",
                "hardirqs",
                "net_rx_softirqs",
            ],
        },
        "cpus": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "cpu",
                    "hardirqs",
                    "net_rx_softirqs",
                    "user_ns",
                    "system_ns",
                    "softirq_ns",
                ],
            },
        },
        "napi_id": {"type": "integer"},
        "busy_poll_rx_packets": {"type": "integer"},
        # bench/1 as first written had text only; now a code (measure/notes.py) and a text
        "notes": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["code", "text"],
                        "properties": {"code": {"type": "string"}, "text": {"type": "string"}},
                    },
                ]
            },
        },
    },
    "if": {"properties": {"unsupported": {"type": "null"}}},
    "then": {
        "required": ["packets", "rate", "cost", "cpus", "napi_id", "busy_poll_rx_packets", "notes"]
    },
}

_PINGPONG_RUN = {
    "if": {"properties": {"unsupported": {"type": "null"}}},
    "then": {
        "required": ["latency_ns", "rtt_ns", "split_ns"],
        "properties": {"rate": {"required": ["round_trips_per_s"]}},
    },
}
_LOAD_RUN = {
    "if": {"properties": {"unsupported": {"type": "null"}}},
    "then": {
        "required": ["latency_ns", "split_ns", "drops", "offered_pps"],
        "properties": {"rate": {"required": ["sent_pps", "received_pps"]}},
    },
}
_THROUGHPUT_RUN = {
    "if": {"properties": {"unsupported": {"type": "null"}}},
    "then": {
        "required": ["drops"],
        "properties": {
            "drops": {
                "type": "object",
                "required": ["sender", "socket_buffer", "softnet_backlog", "ring", "device"],
            }
        },
    },
}

BENCH_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "an rxtune bench",
    "type": "object",
    "required": ["schema", "mode", "metadata", "runs"],
    "properties": {
        "schema": {"const": "rxtune.bench/1"},
        "mode": {"enum": ["pingpong", "throughput", "load"]},
        "metadata": {
            "type": "object",
            "required": ["kernel", "cpus", "testbed", "message_size", "duration_s", "knobs"],
        },
        "runs": {"type": "array", "items": _RUN},
    },
    "allOf": [
        {
            "if": {"properties": {"mode": {"const": mode}}},
            "then": {"properties": {"runs": {"items": rule}}},
        }
        for mode, rule in (
            ("pingpong", _PINGPONG_RUN),
            ("load", _LOAD_RUN),
            ("throughput", _THROUGHPUT_RUN),
        )
    ],
}
