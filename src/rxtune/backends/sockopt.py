"""Socket options: read as what a new UDP socket gets, since they belong to each socket.
Numbers verified against include/uapi/asm-generic/socket.h (x86_64, arm64)."""

from __future__ import annotations

import errno
import socket
from typing import Any

from ..errors import NotPermitted, NotReadable, Unsupported
from ..knobs.model import Knob, Rendered, Target
from .context import ReadContext

SO_BUSY_POLL = 46
SO_INCOMING_NAPI_ID = 56
SO_PREFER_BUSY_POLL = 69
SO_BUSY_POLL_BUDGET = 70
SO_RXQ_OVFL = 40
SO_TIMESTAMPNS = 35

OPTIONS = {
    "SO_BUSY_POLL": SO_BUSY_POLL,
    "SO_PREFER_BUSY_POLL": SO_PREFER_BUSY_POLL,
    "SO_BUSY_POLL_BUDGET": SO_BUSY_POLL_BUDGET,
    "SO_RCVBUF": socket.SO_RCVBUF,
}


def probe_set(option: int, value: int) -> None:
    """setsockopt on a scratch UDP socket: Unsupported if this kernel lacks the option."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, value)
        except OSError as error:
            if error.errno == errno.EPERM:
                raise NotPermitted(f"setting it needs CAP_NET_ADMIN: {error.strerror}") from None
            raise Unsupported(f"setsockopt: {error.strerror}") from None


class SocketOption:
    kind = "sockopt"

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        """A socket option is set by the program: its line of C."""
        return Rendered(
            f"setsockopt(fd, SOL_SOCKET, {knob.where}, &(int){{{int(value)}}}, sizeof(int))"
        )

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        """Writes go over netlink or ioctl: the kernel answers for itself."""

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                value = sock.getsockopt(socket.SOL_SOCKET, OPTIONS[knob.where])
            except OSError as error:
                if error.errno == errno.ENOPROTOOPT:
                    probe_set(OPTIONS[knob.where], knob.default or 0)
                    raise NotReadable(
                        f"{knob.where} is set-only: the kernel takes it but does not report it back"
                    ) from None
                raise Unsupported(f"getsockopt {knob.where}: {error.strerror}") from None
        return bool(value) if knob.unit == "bool" else value

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        raise Unsupported(
            f"{knob.name} belongs to each socket: set it in the program "
            f"(rxtune.open_receiver or setsockopt), not on the host"
        )
