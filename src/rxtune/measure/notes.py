"""The notes a bench row can carry: a code that programs read (advise) and a text that
people read. A strategy's own caveats are declared with it in the strategy table."""

from __future__ import annotations

from typing import Any

NO_NAPI = "no-napi"  # packets did not come through a NAPI
BUSY_POLL_IDLE = "busy-poll-idle"  # busy polling was asked for and never found a packet
GRO_FORWARDING = "gro-forwarding"  # GRO holds datagrams: a busy poller waits out its window
NO_ECHO = "no-echo"  # ping-pong round trips without an answer
LOST = "lost"  # packets that did not arrive, with where they were counted
UNDER_RATE_NOTE = "under-rate"  # a load run that did not achieve its offered rate
NO_IDLE_STATES = "no-idle-states"  # a PM QoS row on CPUs without cpuidle states to rule out
STEAL = "steal"  # the hypervisor took the CPUs away during the row: its tail is the VM's


def note(code: str, text: str) -> dict[str, Any]:
    return {"code": code, "text": text}
