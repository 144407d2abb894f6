# Types of the C engine (csrc/module.c), for mypy and readers; the docstrings are in C.
from collections.abc import Iterator
from typing import Any, overload

import numpy as np

# latency, send_delay, to_stamp, stamp_to_app (load mode), or None (count only)
_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None

DROP_SLOTS: int
WAIT_BLOCK: int
WAIT_POLL: int
WAIT_EPOLL: int
WAIT_SPIN: int
MIN_MESSAGE: int
EPIOCSPARAMS: int
IORING_SETUP_COOP_TASKRUN: int
IORING_SETUP_SINGLE_ISSUER: int
IORING_SETUP_DEFER_TASKRUN: int

def reflect(
    fd: int,
    epfd: int,
    wait: int,
    deadline_ns: int,
    one_way: np.ndarray,
    to_kernel: np.ndarray,
    kernel_to_app: np.ndarray,
    cookie: int = ...,
    echo_from: str | None = ...,
    echo_from_port: int = ...,
    max_pps: int = ...,
) -> dict[str, int]: ...
def ping(
    fd: int,
    epfd: int,
    wait: int,
    deadline_ns: int,
    message_size: int,
    count: int,
    warmup: bool,
    reply_timeout_ns: int,
    rtt: np.ndarray,
    kernel_to_app: np.ndarray | None = ...,
    cookie: int = ...,
) -> dict[str, int]: ...
def clock_offset() -> int: ...
def send_load(
    fds: list[int],
    message_size: int,
    rate_pps: int,
    duration_ns: int,
    batch: int,
    stall: tuple[int, int] = ...,
) -> dict[str, int]: ...

class Payload:
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> bytes: ...
    def __bytes__(self) -> bytes: ...
    def __buffer__(self, flags: int) -> memoryview: ...
    def tobytes(self) -> bytes: ...

class Batch:
    lengths: np.ndarray
    timestamps: np.ndarray
    sources: list[tuple[str, int] | None]
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Payload: ...
    def __iter__(self) -> Iterator[Payload]: ...
    def release(self) -> None: ...
    def __enter__(self) -> Batch: ...
    def __exit__(self, *exc: object) -> None: ...

class Rx:
    capacity: int
    closed: bool
    def recv_batch(self, max: int = ..., timeout: float | None = ...) -> Batch: ...
    def recv(self, timeout: float | None = ...) -> bytes: ...
    def run(
        self, deadline_ns: int, arrays: _Arrays, seen: bytearray, real_minus_mono: int
    ) -> dict[str, int]: ...
    def stats(self) -> dict[str, int]: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...

def rx_socket(fd: int, epfd: int, wait: int, capacity: int, buffer_size: int) -> Rx: ...
def rx_uring(
    fd: int,
    capacity: int,
    entries: int,
    buffers: int,
    buffer_size: int,
    napi_busy_poll_us: int,
    prefer: int,
    wait_nr: int,
    min_wait_us: int,
    setup_flags: int,
) -> Rx: ...
def rx_tpacket(
    fd: int, capacity: int, block_size: int, block_count: int, timeout_ms: int, port: int
) -> Rx: ...
def rx_xdp(
    ifindex: int,
    queue: int,
    xskmap_fd: int,
    frames: int,
    capacity: int,
    poll_mode: int,
    port: int,
) -> Rx: ...
def xdp_link(prog_fd: int, ifindex: int, flags: int) -> int: ...
def xdp_prog_load() -> tuple[int, int]: ...
def xdp_drop_prog_load() -> int: ...
def account_open(ncpus: int, napi_threads: bool, stats: bool) -> Any: ...
def account_read(account: Any, ncpus: int) -> tuple[int, list[tuple[int, int, int, int]]]: ...
def account_overhead(account: Any) -> tuple[int, int]: ...
def drops_open(ncpus: int) -> Any: ...
def drops_read(drops: Any) -> dict[int, int]: ...
