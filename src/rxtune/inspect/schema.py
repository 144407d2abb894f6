"""The JSON schema of `rxtune show --json` (rxtune.show/1). Bump the version on any change
a reader would notice."""

from __future__ import annotations

_KNOB = {
    "type": "object",
    "required": ["name", "unit", "default", "writable", "since", "status", "value"],
    "properties": {
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "default": {},
        "value": {},
        "writable": {"type": "boolean"},
        "since": {"type": "string", "pattern": r"^\d+\.\d+$"},
        "status": {"enum": ["ok", "unsupported", "not-permitted", "not-readable", "error"]},
        "reason": {"type": "string"},
        "non_default": {"type": "boolean"},
    },
    "if": {"properties": {"status": {"const": "ok"}}},
    "then": {"required": ["non_default"]},
    "else": {"required": ["reason"]},
}

_KNOBS = {"type": "array", "items": _KNOB}

SHOW_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "an rxtune show",
    "type": "object",
    "required": ["schema", "host", "knobs", "devices", "cpus", "drops", "capabilities"],
    "properties": {
        "schema": {"const": "rxtune.show/1"},
        "drops": {
            "type": "array",
            "description": "each place the kernel counts drops, with the knobs that govern it",
            "items": {
                "type": "object",
                "required": ["point", "where", "counter", "count", "drop", "knobs", "why"],
                "properties": {"count": {"type": "integer"}, "knobs": {"type": "object"}},
            },
        },
        "host": {"type": "object", "required": ["kernel", "netns", "cpus", "initial_netns"]},
        "platform": {
            "type": "object",
            "description": "how idle CPUs sleep and wake, PM QoS, frequency, SMT, isolation",
            "required": [
                "cpuidle",
                "pm_qos",
                "frequency",
                "smt",
                "cmdline",
                "irqbalance_pids",
                "devices",
            ],
            "properties": {
                "cpuidle": {"type": "object", "required": ["driver", "governor", "cpus"]},
                "pm_qos": {
                    "type": "object",
                    "required": ["cpu_dma_latency"],
                },
                "devices": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "numa_node", "irqs", "napi_threads", "readers"],
                        "properties": {
                            "readers": {
                                "type": "array",
                                "description": "processes whose sockets can receive from the "
                                "device, with the CPUs they may run on and last ran on",
                                "items": {
                                    "type": "object",
                                    "required": ["pid", "name", "cpus", "last_cpu", "sockets"],
                                },
                            },
                        },
                    },
                },
            },
        },
        "knobs": _KNOBS,
        "devices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "ifindex",
                    "knobs",
                    "queues",
                    "napi",
                    "napi_status",
                    "queue_stats",
                    "page_pools",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "ifindex": {"type": "integer"},
                    "knobs": _KNOBS,
                    "queues": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["queue", "knobs"],
                            "properties": {"queue": {"type": "integer"}, "knobs": _KNOBS},
                        },
                    },
                    "napi": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "knobs"],
                            "properties": {"id": {"type": "integer"}, "knobs": _KNOBS},
                        },
                    },
                },
            },
        },
        "cpus": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cpu", "processed", "dropped", "time_squeeze", "net_rx_softirqs"],
            },
        },
        "capabilities": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "supported", "detail"],
                "properties": {"supported": {"type": ["boolean", "null"]}},
            },
        },
    },
}
