"""Driver name and version: the one thing ethtool netlink does not carry, so the
SIOCETHTOOL ioctl (ETHTOOL_GDRVINFO) it is."""

from __future__ import annotations

import ctypes
import fcntl
import socket
import struct
from typing import Any

from ..errors import InvalidValue, Unsupported
from ..knobs.model import Knob, Rendered, Target
from .context import ReadContext

SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x00000003
_DRVINFO_SIZE = 196  # u32 cmd; char driver[32], version[32], fw_version[32], bus_info[32],
# erom_version[32], reserved2[12]; u32 x5
_FIELDS = {"driver": 4, "version": 36, "firmware-version": 68, "bus-info": 100}


def driver_info(dev: str) -> dict[str, str]:
    buf = ctypes.create_string_buffer(struct.pack("I", ETHTOOL_GDRVINFO), _DRVINFO_SIZE)
    ifreq = struct.pack("16sP", dev.encode(), ctypes.addressof(buf))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
        except OSError as error:
            raise Unsupported(f"{dev}: ETHTOOL_GDRVINFO: {error.strerror}") from None
    raw = buf.raw
    return {
        name: raw[offset : offset + 32].split(b"\0")[0].decode(errors="replace")
        for name, offset in _FIELDS.items()
    }


class DriverInfo:
    kind = "ioctl"

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        """Writes go over netlink or ioctl: the kernel answers for itself."""

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        raise InvalidValue(f"{knob.name} is read-only")

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        info = ctx.cached(("drvinfo", target.dev), lambda: driver_info(str(target.dev)))
        return info[knob.where]

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        raise Unsupported(f"{knob.name} is read-only")
