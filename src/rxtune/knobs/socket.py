"""Socket knobs: set by each program on its socket; shown as what a new socket gets."""

from __future__ import annotations

from ..backends.sockopt import SocketOption
from .model import BOOLEAN, INT, Knob, Range, Scope

_SOCKOPT = SocketOption()

KNOBS = (
    Knob(
        "SO_BUSY_POLL",
        Scope.SOCKET,
        "µs",
        0,
        (3, 11),
        _SOCKOPT,
        "SO_BUSY_POLL",
        "busy-poll time of blocking reads on this socket (defaults to net.core.busy_read)",
        valid=INT,
        group="socket",
    ),
    Knob(
        "SO_PREFER_BUSY_POLL",
        Scope.SOCKET,
        "bool",
        False,
        (5, 11),
        _SOCKOPT,
        "SO_PREFER_BUSY_POLL",
        "pledge to keep busy polling, so the kernel may keep the device IRQ masked",
        valid=BOOLEAN,
        group="socket",
    ),
    Knob(
        "SO_BUSY_POLL_BUDGET",
        Scope.SOCKET,
        "packets",
        8,
        (5, 11),
        _SOCKOPT,
        "SO_BUSY_POLL_BUDGET",
        "packets one busy-poll iteration may take",
        valid=Range(0, 65535),
        group="socket",
    ),
    Knob(
        "SO_RCVBUF",
        Scope.SOCKET,
        "bytes",
        None,
        (2, 6),
        _SOCKOPT,
        "SO_RCVBUF",
        "receive buffer: a new socket gets net.core.rmem_default; a request is doubled and "
        "capped by rmem_max",
        valid=INT,
        default_note="net.core.rmem_default",
        group="socket",
    ),
)
