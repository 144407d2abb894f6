"""The Python API: read the receive path, change it as `rxtune set/tune` do, and receive
with a strategy in your own program.

    import rxtune
    report = rxtune.inventory(["eth1"])            # what `rxtune show --json` prints
    rxtune.tune(values={"busy_read": 50})          # `rxtune set busy_read=50`, journaled
    rxtune.tune("latency", devices=["eth1"])       # `rxtune tune --profile latency --dev eth1`
    rxtune.revert()                                # `rxtune revert`
    with rxtune.open_receiver("so_busy_poll", ("0.0.0.0", 9000), busy_poll_us=50) as rx:
        data = rx.recv()                           # busy polls the NAPI, then sleeps
        print(rx.napi_id())                        # which NAPI the packet came through
"""

from __future__ import annotations

import select
import socket
import time
from types import TracebackType
from typing import Any

from .apply import tune as tuning
from .apply.profile import load
from .engine.sockets import StrategySocket, open_udp
from .errors import InvalidValue
from .host import Host
from .inspect.inventory import collect
from .knobs.registry import get
from .strategies import BY_NAME, PINGPONG, Wait
from .strategies import Receiver as ReceivePath
from .strategies import select as select_strategies

SOCKET_STRATEGIES = tuple(
    name for name, e in BY_NAME.items() if e.receiver == ReceivePath.SOCKET and PINGPONG in e.modes
)


def inventory(devices: list[str] | None = None, netns: str | None = None) -> dict[str, Any]:
    """The receive path as it stands (schema rxtune.show/1)."""
    return collect(Host(netns=netns), devices)


def tune(
    profile: str | None = None,
    values: dict[str, Any] | None = None,
    devices: list[str] | None = None,
    netns: str | None = None,
    dry_run: bool = False,
    confirm_within: float | None = None,
    wait: float = 0.0,
) -> tuning.Result:
    """Apply a profile (by name or path) or single knob values, all or nothing, journaled,
    each read back: what `rxtune tune` and `rxtune set` do. Single values are strict (a knob
    the device lacks refuses the whole request); a profile skips what a device lacks."""
    if (profile is None) == (values is None):
        raise InvalidValue(
            "give a profile or values", "tune('latency') or tune(values={'busy_read': 50})"
        )
    if profile is not None:
        chosen = load(profile)
        pairs, _ = chosen.for_devices(devices or [])
        command = f"rxtune.tune({profile!r})"
    else:
        pairs = [(get(name), value) for name, value in (values or {}).items()]
        command = f"rxtune.tune(values={values!r})"
    return tuning.run(
        tuning.Request(
            pairs,
            command,
            devices or [],
            netns,
            strict=values is not None,
            dry_run=dry_run,
            confirm_within=confirm_within,
            wait=wait,
        )
    )


def revert(force: bool = False, wait: float = 0.0) -> tuning.RevertResult:
    """Put back what tune/set changed, never over a value changed since (unless force)."""
    return tuning.revert(force=force, wait=wait)


def confirm(wait: float = 0.0) -> tuning.ConfirmResult:
    """Keep changes made with confirm_within."""
    return tuning.confirm(wait)


class Receiver:
    """A UDP socket set up for a receive strategy: its socket options (SO_BUSY_POLL,
    prefer, budget), its epoll fd and params. Host-wide sysctls (busy_read, busy_poll) are
    not touched: set them with `rxtune set` if the strategy relies on them."""

    def __init__(self, opened: StrategySocket):
        self._opened = opened
        self.socket: socket.socket = opened.sock
        self.strategy = opened.strategy

    def recv(self, bufsize: int = 65535, timeout: float | None = None) -> bytes:
        """One datagram, waiting the strategy's way; TimeoutError after `timeout` seconds."""
        wait, sock = self.strategy.wait, self.socket
        if wait == Wait.BLOCK:
            sock.settimeout(timeout)
            return sock.recv(bufsize)
        if wait in (Wait.EPOLL, Wait.POLL):
            poller = self._opened.epoll or select.poll()
            if wait == Wait.POLL:
                poller.register(sock.fileno(), select.POLLIN)
            while True:
                ready = poller.poll(
                    timeout if wait == Wait.EPOLL else (None if timeout is None else timeout * 1000)
                )
                if not ready:
                    raise TimeoutError("no datagram")
                try:
                    return sock.recv(bufsize, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
        end = None if timeout is None else time.monotonic() + timeout
        while True:  # spin
            try:
                return sock.recv(bufsize, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if end is not None and time.monotonic() > end:
                    raise TimeoutError("no datagram") from None

    def napi_id(self) -> int:
        return self._opened.napi_id()

    def close(self) -> None:
        self._opened.close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_receiver(strategy: str, bind: tuple[str, int], busy_poll_us: int = 50) -> Receiver:
    """A Receiver for one of the socket strategies (blocking, poll, epoll, spin,
    so_busy_poll, so_busy_poll_prefer, epoll_params, ...)."""
    if strategy not in SOCKET_STRATEGIES:
        raise InvalidValue(
            f"open_receiver has no strategy '{strategy}' (io_uring, TPACKET and "
            "AF_XDP loops live in the C engine)",
            SOCKET_STRATEGIES,
        )
    (chosen,) = select_strategies([strategy], [busy_poll_us])
    return Receiver(open_udp(chosen, bind, rx_timestamps=False))
