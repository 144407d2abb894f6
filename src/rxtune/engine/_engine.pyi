# Types of the C engine (csrc/module.c), for mypy and readers; the docstrings are in C.
from typing import Any

import numpy as np

# latency, send_delay, to_stamp, stamp_to_app (load mode), or None (count only)
_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None

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
def rx_socket(
    fd: int,
    epfd: int,
    wait: int,
    batch: int,
    deadline_ns: int,
    arrays: _Arrays,
    seen: bytearray,
    real_minus_mono: int,
) -> dict[str, int]: ...
def rx_uring(
    fd: int,
    entries: int,
    buffers: int,
    buffer_size: int,
    napi_busy_poll_us: int,
    prefer: int,
    wait_nr: int,
    min_wait_us: int,
    setup_flags: int,
    deadline_ns: int,
    arrays: _Arrays,
    seen: bytearray,
    real_minus_mono: int,
) -> dict[str, int]: ...
def rx_tpacket(
    fd: int,
    block_size: int,
    block_count: int,
    timeout_ms: int,
    port: int,
    deadline_ns: int,
    arrays: _Arrays,
    seen: bytearray,
    real_minus_mono: int,
) -> dict[str, int]: ...
def xdp_prog_load() -> tuple[int, int]: ...
def xdp_drop_prog_load() -> int: ...
def xsk_open(ifindex: int, queue: int, xskmap_fd: int, frames: int) -> Any: ...
def rx_xdp(
    xsk: Any,
    poll_mode: int,
    port: int,
    deadline_ns: int,
    arrays: _Arrays,
    seen: bytearray,
) -> dict[str, int]: ...
def account_open(ncpus: int, napi_threads: bool, stats: bool) -> Any: ...
def account_read(account: Any, ncpus: int) -> tuple[int, list[tuple[int, int, int, int]]]: ...
def account_overhead(account: Any) -> tuple[int, int]: ...
