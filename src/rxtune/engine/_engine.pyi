# Types of the C engine (csrc/module.c), for mypy and readers; the docstrings are in C.
from typing import Any

import numpy as np

_Samples = np.ndarray | None

WAIT_BLOCK: int
WAIT_POLL: int
WAIT_EPOLL: int
WAIT_SPIN: int
MIN_MESSAGE: int
EPIOCSPARAMS: int

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
    fds: list[int], message_size: int, rate_pps: int, duration_ns: int, batch: int
) -> dict[str, int]: ...
def rx_socket(
    fd: int,
    epfd: int,
    wait: int,
    batch: int,
    deadline_ns: int,
    latency: _Samples,
    to_kernel: _Samples,
    kernel_to_app: _Samples,
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
    deadline_ns: int,
    latency: _Samples,
    to_kernel: _Samples,
    kernel_to_app: _Samples,
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
    latency: _Samples,
    to_kernel: _Samples,
    kernel_to_app: _Samples,
    seen: bytearray,
    real_minus_mono: int,
) -> dict[str, int]: ...
def xdp_prog_load() -> tuple[int, int]: ...
def xsk_open(ifindex: int, queue: int, xskmap_fd: int, frames: int) -> Any: ...
def rx_xdp(
    xsk: Any,
    poll_mode: int,
    port: int,
    deadline_ns: int,
    latency: _Samples,
    to_kernel: _Samples,
    kernel_to_app: _Samples,
    seen: bytearray,
) -> dict[str, int]: ...
