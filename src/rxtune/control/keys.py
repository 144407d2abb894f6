"""The pre-shared key: 32 random bytes, hex, in a file only its owner may read."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from ..errors import InvalidValue, NotPermitted

KEY_BYTES = 32


def generate(path: Path) -> None:
    """Write a new key to path, created with mode 0600; an existing file is never replaced
    (the peer that shares it would stop working)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidValue(f"{path} exists", "a new file: a key is never overwritten") from None
    except OSError as error:
        raise InvalidValue(f"cannot create {path}: {error.strerror}", "a writable place") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(KEY_BYTES) + "\n")


def load(path: Path) -> bytes:
    """The key in path; refused when group or others may read it (copy it with its mode, or
    `chmod 600` it), or when it is not a key rxtune wrote."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise InvalidValue(f"no key file {path}", "a file made by `rxtune keygen`") from None
    except OSError as error:
        raise NotPermitted(f"cannot open key file {path}: {error.strerror}") from None
    with os.fdopen(fd) as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidValue(f"{path} is not a regular file", "a file made by `rxtune keygen`")
        if mode & 0o077:
            raise NotPermitted(
                f"key file {path} has mode {stat.S_IMODE(mode):04o}: group or others may read "
                f"it, and anyone who can read it can run the bench against the peer "
                f"(chmod 600 {path})"
            )
        text = f.read(4 * KEY_BYTES).strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise InvalidValue(f"{path} holds no key", f"{2 * KEY_BYTES} hex digits (rxtune keygen)")
    return key
