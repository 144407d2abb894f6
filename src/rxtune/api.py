"""The Python API: read the receive path, change it as `rxtune set/tune` do, and receive
with any strategy of the bench in your own program, the waiting and the batching in C.

    import rxtune
    report = rxtune.inventory(["eth1"])            # what `rxtune show --json` prints
    rxtune.tune(values={"busy_read": 50})          # `rxtune set busy_read=50`, journaled
    rxtune.tune("latency", devices=["eth1"])       # `rxtune tune --profile latency --dev eth1`
    rxtune.revert()                                # `rxtune revert`
    with rxtune.open_receiver("io_uring", ("0.0.0.0", 9000)) as rx:
        with rx.recv_batch() as batch:             # up to 64 datagrams, zero-copy
            for payload in batch:                  # views in place, valid inside the with
                ...
        print(rx.stats())                          # packets, drops where, NAPI id, CPU
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .apply import tune as tuning
from .apply.profile import load
from .engine import _engine
from .engine.paths import MAX_BATCH, PathOptions, ReceivePath, device_of, open_path, socket_drops
from .errors import InvalidValue
from .host import Host
from .inspect.inventory import collect
from .knobs.registry import get
from .strategies import BY_NAME, NAMES, build
from .strategies import Receiver as ReceivePathKind

if TYPE_CHECKING:
    from .measure.machine import MachineAccount


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


RING_OPTIONS = frozenset(
    {
        "uring_buffers",
        "uring_wait_nr",
        "uring_min_wait_us",
        "tpacket_block_size",
        "tpacket_blocks",
        "tpacket_timeout_ms",
        "xsk_frames",
    }
)
SPINS_IN_A_THREAD_S = 0.1  # a spinning strategy's thread looks for close() this often


class Receiver:
    """A strategy's receive path in your process, read batch by batch by the C engine.

    recv_batch(max=capacity, timeout=None) -> Batch
        Waits the strategy's way (spin, busy poll, sleep) in C without the GIL, then takes up
        to `max` packets; after `timeout` seconds with none, an empty batch. Each payload is
        a read-only view in place, in the receiver's buffers or ring (no copy on io_uring,
        TPACKET_V3 and AF_XDP): p[i] is a byte, p[a:b] a copy, bytes(p), memoryview(p) and
        np.frombuffer(p) work. It is valid until the batch is released (batch.release(),
        leaving `with batch:`, the next recv or close()), then it raises ValueError; a
        memoryview or numpy array of it still alive makes the next recv refuse
        (BufferError) rather than hand its memory back. Also: batch.lengths and
        batch.timestamps (numpy; kernel RX stamps in ns, CLOCK_REALTIME, -1 where the
        strategy has none) and batch.sources ((address, port), None on io_uring).
    recv(timeout=None) -> bytes
        One datagram's payload, copied; TimeoutError after `timeout` seconds.
    """

    recv_batch: Callable[..., _engine.Batch]
    recv: Callable[..., bytes]

    def __init__(
        self, path: ReceivePath, account: MachineAccount | None = None, cpu: int | None = None
    ):
        assert path.rx is not None
        self._path, self._rx = path, path.rx
        self.strategy = path.strategy
        # the C methods themselves: no Python frame between a loop and the engine
        self.recv_batch = path.rx.recv_batch
        self.recv = path.rx.recv
        self._account, self._cpu = account, cpu
        self._opened = (time.monotonic_ns(), time.process_time_ns())
        self._first = account.snapshot() if account else None
        self._thread: ThreadPoolExecutor | None = None
        self._closing = False
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        # closed at close(), when collected, and at interpreter exit (an XDP program also
        # goes with its link when the process dies)
        self._finalizer = weakref.finalize(self, _close, path, account)

    @property
    def capacity(self) -> int:
        """The most packets one batch takes."""
        return self._rx.capacity

    @property
    def socket(self) -> socket.socket | None:
        """The socket the strategy reads (a packet socket for TPACKET_V3; None for AF_XDP)."""
        return self._path.napi_source

    def fileno(self) -> int:
        """The fd that polls readable when a batch waits: the socket, the packet socket, the
        XSK, or for io_uring an eventfd the ring signals."""
        return self._rx.fileno()

    def napi_id(self) -> int:
        """The NAPI the last packet came through (0: none, or AF_XDP in copy mode)."""
        return self._path.napi_id()

    def stats(self) -> dict[str, Any]:
        """What this receiver took and lost since open, and what it cost: packets, batches,
        drops where they happened (socket buffer, ring), the NAPI id, the process's CPU
        time; with account=True also the whole machine's receive cost as the bench counts
        it (the receiving CPU's busy time, NET_RX softirq and NAPI threads elsewhere)."""
        counts = self._rx.stats()
        sock = self._path.napi_source
        udp = sock is not None and sock.type == socket.SOCK_DGRAM
        now_ns, cpu_ns = time.monotonic_ns(), time.process_time_ns()
        seconds = (now_ns - self._opened[0]) / 1e9
        packets = counts["packets"]
        figures: dict[str, Any] = {
            "strategy": self.strategy.label,
            "packets": packets,
            "batches": counts["batches"],
            "packets_per_batch": round(packets / max(counts["batches"], 1), 2),
            "drops": {
                "socket_buffer": socket_drops(sock) if udp and sock else 0,
                "ring": counts["ring_drops"],
            },
            "foreign": counts["foreign"],
            "truncated": counts["truncated"],
            "napi_id": self.napi_id(),
            "seconds": round(seconds, 3),
            "process_cpu_ns": cpu_ns - self._opened[1],
        }
        if self._account and self._first and self._cpu is not None:
            from .measure.machine import Window, receive_cost

            window = Window(self._first, self._account.snapshot())
            cost = receive_cost([window], self._cpu, [packets])
            figures["receive_cpu_ns_per_packet"] = cost["receive_cpu_ns_per_packet"]
            figures["receive_cores"] = cost["receive_cores"]
            figures["receive_parts_ns"] = cost["receive_parts_ns"]
        return figures

    async def recv_batch_async(self, max: int = 0) -> _engine.Batch:
        """recv_batch for asyncio. A sleeping strategy waits in the event loop: a reader
        callback on fileno(), then a batch taken without waiting (the loop's epoll_wait
        replaces the strategy's own wait; an io_uring ring is then the loop thread's). A
        spinning or busy-polling strategy waits in a thread of its own, in C without the
        GIL: the loop stays free, and that thread wants a core of its own (on the loop's
        core each batch crosses two context switches)."""
        loop = asyncio.get_running_loop()
        if self.strategy.entry.sleeps:
            if self._reader_loop is not loop:
                # registered once, before the first look: no wakeup falls in between (and an
                # io_uring ring's poll wakeups start with that first look)
                loop.add_reader(self._rx.fileno(), self._readable)
                self._reader_loop = loop
            while True:
                batch = self._rx.recv_batch(max, 0)
                if len(batch):
                    return batch
                self._waiter = loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="rxtune-recv")
        return await loop.run_in_executor(self._thread, self._wait_in_thread, max)

    def _readable(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _wait_in_thread(self, max: int) -> _engine.Batch:
        while not self._closing:
            batch = self._rx.recv_batch(max, SPINS_IN_A_THREAD_S)
            if len(batch):
                return batch
        raise ValueError("the receiver is closed")

    def close(self) -> None:
        self._closing = True
        if self._reader_loop is not None and not self._reader_loop.is_closed():
            self._reader_loop.remove_reader(self._rx.fileno())
        self._reader_loop = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _close(path: ReceivePath, account: MachineAccount | None) -> None:
    path.close()
    if account:
        account.close()


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(f"{name}={value!r} is out of range", f"{low}..{high}")


def open_receiver(
    strategy: str,
    bind: tuple[str, int],
    busy_poll_us: int = 50,
    *,
    batch: int = 64,
    device: str | None = None,
    queue: int = 0,
    rcvbuf: int | None = None,
    timestamps: bool = True,
    buffer_size: int = 2048,
    account: bool = False,
    cpu: int | None = None,
    **ring: int,
) -> Receiver:
    """A Receiver for any strategy of the bench (rxtune.strategies.NAMES): the socket
    strategies, recvmmsg, io_uring with or without NAPI busy polling, TPACKET_V3 and AF_XDP
    (rxtune attaches its XDP program to `device` for the receiver's life).

    Options mirror the bench's: busy_poll_us, batch (the most packets a batch takes),
    rcvbuf, and ring sizes and waits: uring_buffers; uring_wait_nr, the completions a
    sleeping io_uring wait asks for, returning uring_min_wait_us after the first (6.12);
    tpacket_block_size, tpacket_blocks, tpacket_timeout_ms; xsk_frames. TPACKET_V3 and
    AF_XDP read a device: `device`, or the one holding the bind address. account=True also
    counts the whole machine's receive cost in stats(), for a receiver pinned to `cpu`
    (root: BPF). Host sysctls and NAPI settings a strategy relies on (busy_read,
    busy_poll_epoll, irq_suspend) are not touched: set them with `rxtune set`. A strategy
    the kernel lacks is refused (Unsupported) with the reason the bench gives."""
    if strategy not in BY_NAME:
        raise InvalidValue(f"open_receiver has no strategy '{strategy}'", NAMES)
    if not (
        isinstance(bind, tuple)
        and len(bind) == 2
        and isinstance(bind[0], str)
        and isinstance(bind[1], int)
        and 0 <= bind[1] <= 65535
    ):
        raise InvalidValue(
            f"bind={bind!r} is not an (IPv4 address, port 0..65535) pair", "('198.18.0.2', 9000)"
        )
    _check_range("busy_poll_us", busy_poll_us, 1, 1_000_000)
    _check_range("batch", batch, 1, MAX_BATCH)
    _check_range("buffer_size", buffer_size, 64, 65536)
    _check_range("queue", queue, 0, 63)
    if rcvbuf is not None:
        _check_range("rcvbuf", rcvbuf, 1, 1 << 31)
    unknown = set(ring) - RING_OPTIONS
    if unknown:
        raise InvalidValue(
            f"open_receiver has no option {', '.join(sorted(unknown))}", RING_OPTIONS
        )
    chosen = build(strategy, busy_poll_us, batch)
    if chosen.kind in (ReceivePathKind.TPACKET, ReceivePathKind.AF_XDP) and device is None:
        device = device_of(bind[0])
        if device is None:
            raise InvalidValue(
                f"{strategy} reads a device and no device holds {bind[0]}",
                "device='eth1', or bind to a device's address",
            )
    if account:
        cpus = os.sched_getaffinity(0)
        cpu = cpu if cpu is not None else (next(iter(cpus)) if len(cpus) == 1 else None)
        if cpu is None:
            raise InvalidValue(
                "account=True counts the receiving CPU's busy time: pin the receiver",
                "cpu=N, or os.sched_setaffinity(0, {N}) before open_receiver",
            )
    options = PathOptions(
        batch=batch,
        buffer_size=buffer_size,
        timestamps=timestamps,
        rcvbuf=rcvbuf,
        queue=queue,
        **ring,
    )
    # imported here: numpy and BPF are for account=True only, not for `import rxtune`
    from .measure.machine import MachineAccount

    meter = MachineAccount() if account else None
    try:
        path = open_path(chosen, bind[0], bind[1], device, options)
    except BaseException:
        if meter:
            meter.close()
        raise
    return Receiver(path, meter, cpu)
