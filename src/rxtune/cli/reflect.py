"""rxtune reflect: the echo side of `rxtune bench --interface DEV --peer ADDR`, run on the
peer host. It echoes every packet until Ctrl-C (or --duration)."""

from __future__ import annotations

import socket
import time

import numpy as np
import typer

from ..engine import _engine
from ..engine.sockets import open_udp
from ..errors import InvalidValue
from ..measure.pingpong import PORT
from ..strategies import NAMES, select
from .common import console, friendly_errors, strict_float, strict_int

SLICE_NS = 500_000_000  # the C loop returns this often, so Ctrl-C is seen


@friendly_errors
def reflect(
    address: str = typer.Option("0.0.0.0", help="address to listen on"),
    port: int = typer.Option(PORT, parser=strict_int, help="UDP port"),
    strategy: str = typer.Option("spin", help=f"how to wait: {', '.join(NAMES)}"),
    busy_poll_us: int = typer.Option(50, parser=strict_int, help="µs for busy-polling strategies"),
    duration: float | None = typer.Option(
        None, parser=strict_float, help="seconds to run (default: until Ctrl-C)"
    ),
) -> None:
    """Echo rxtune's test packets back to their sender (run it on the peer host)."""
    if not 1 <= port <= 65535:
        raise InvalidValue(f"--port {port}", "1..65535")
    if duration is not None and not 0.1 <= duration <= 31_536_000:
        raise InvalidValue(f"--duration {duration}", "0.1 s to a year, or none: until Ctrl-C")
    try:
        socket.inet_pton(socket.AF_INET, address)
    except OSError:
        raise InvalidValue(
            f"--address {address!r} is not an IPv4 address",
            "e.g. 198.18.0.2, or 0.0.0.0 for every address",
        ) from None
    (chosen,) = select([strategy], [busy_poll_us])
    sock = open_udp(chosen, (address, port), rx_timestamps=False)
    nothing = np.empty(0, np.int64)  # a remote reflector records nothing: no shared clock
    echoed = 0
    end = time.monotonic_ns() + int(duration * 1e9) if duration else None
    console.print(f"reflecting on {address}:{port} with {chosen.label}; Ctrl-C to stop")
    try:
        while end is None or time.monotonic_ns() < end:
            deadline = time.monotonic_ns() + SLICE_NS
            echoed += _engine.reflect(
                sock.sock.fileno(),
                sock.epfd,
                int(chosen.wait),
                deadline if end is None else min(deadline, end),
                nothing,
                nothing,
                nothing,
            )["received"]
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    console.print(f"echoed {echoed} packets")
