"""The kernel's own type information (BTF, /sys/kernel/btf/vmlinux): the names of an
enum's values as this kernel defines them, so that a number a tracepoint hands over (a drop
reason) reads as the kernel's name for it, with no table of ours to fall out of date."""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

from ..errors import Unsupported

VMLINUX = Path("/sys/kernel/btf/vmlinux")
_MAGIC = 0xEB9F
_ENUM, _ENUM64 = 6, 19
# bytes that follow a type's 12-byte header, by kind: fixed, and per vlen item
# (include/uapi/linux/btf.h)
_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_PER_ITEM = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


@cache
def enum_values(name: str, path: Path = VMLINUX) -> dict[int, str]:
    """{value: name} of enum `name` (Unsupported: no BTF, or no such enum)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise Unsupported(f"{path}: {error.strerror} (the kernel has no BTF)") from None
    magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from("<HBBIIIII", data)
    if magic != _MAGIC:
        raise Unsupported(f"{path} is not BTF (or not in this machine's byte order)")
    types, strings = hdr_len + type_off, hdr_len + str_off

    def text(offset: int) -> str:
        start = strings + offset
        return data[start : data.index(b"\0", start)].decode()

    wanted = data.find(b"\0" + name.encode() + b"\0", strings) + 1 - strings  # deduplicated
    at, end = types, types + type_len
    while wanted > 0 and at < end:
        name_off, info, _ = struct.unpack_from("<III", data, at)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        body = at + 12
        at = body + _FIXED.get(kind, 0) + vlen * _PER_ITEM.get(kind, 0)
        if kind in (_ENUM, _ENUM64) and name_off == wanted:
            size = _PER_ITEM[kind]
            found = {}
            for item in range(vlen):
                if kind == _ENUM:
                    value_name, value = struct.unpack_from("<Ii", data, body + item * size)
                else:
                    value_name, low, high = struct.unpack_from("<III", data, body + item * size)
                    value = low | high << 32
                found[value] = text(value_name)
            return found
    raise Unsupported(f"this kernel's BTF has no enum {name}")
