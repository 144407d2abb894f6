"""Per-CPU knobs: how an idle CPU may sleep (its PM QoS resume latency limit) and at
what frequency it runs (the cpufreq governor). A receiver's wake-up pays for the idle state
its CPU chose; these bound that choice without a spinning thread."""

from __future__ import annotations

from ..backends.files import CpuFile, CpuIdleStates
from .model import Knob, LatencyLimit, Names, Scope, Word

_FILE = CpuFile()

KNOBS = (
    Knob(
        "pm_qos_resume_latency_us",
        Scope.CPU,
        "µs",
        0,
        (4, 11),
        _FILE,
        "power/pm_qos_resume_latency_us",
        "deepest idle-state exit latency this CPU may pick (0: no limit; n/a: never idle "
        "in a state, only poll): a sleeping receiver's wake-up cost",
        valid=LatencyLimit(),
        group="pm_qos",
        default_note="0: no limit",
    ),
    Knob(
        "idle_states_disabled",
        Scope.CPU,
        "names",
        "none",
        (3, 10),
        CpuIdleStates(),
        "cpuidle/stateN/disable",
        "idle states this CPU may not enter (e.g. the deep ones, whose exit a wake-up pays)",
        valid=Names(),
        group="cpuidle",
    ),
    Knob(
        "scaling_governor",
        Scope.CPU,
        "name",
        None,
        (2, 6),
        _FILE,
        "cpufreq/scaling_governor",
        "how the CPU frequency follows load (performance: the highest, always)",
        valid=Word(),
        group="cpufreq",
        default_note="the distribution's choice",
    ),
)
