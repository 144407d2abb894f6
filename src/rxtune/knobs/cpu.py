"""CPU knobs: how an idle CPU may sleep (the system-wide CPU latency request, each CPU's
PM QoS resume latency limit, its idle states) and at what frequency it runs (the cpufreq
governor). A receiver's wake-up pays for the idle state its CPU chose; these bound that
choice without a spinning thread."""

from __future__ import annotations

from ..backends import pm_qos
from ..backends.files import CpuFile, CpuIdleStates
from .model import Knob, LatencyLimit, Names, Range, Scope, Word

_FILE = CpuFile()

KNOBS = (
    Knob(
        "cpu_dma_latency",
        Scope.HOST,
        "µs",
        pm_qos.NO_CONSTRAINT,
        (2, 6),
        pm_qos.CpuLatencyRequest(),
        pm_qos.DEVICE,
        "wake-up latency every idle CPU must meet while a process holds the request (0: idle "
        "CPUs only poll), as tuned's force_latency; held, never written",
        valid=Range(0, pm_qos.NO_CONSTRAINT, f"{pm_qos.NO_CONSTRAINT}: no limit"),
        group="pm_qos",
        default_note="no limit",
    ),
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
