"""The errors rxtune raises: each says what went wrong and, where it can, what is valid."""

from __future__ import annotations

from collections.abc import Iterable


class RxtuneError(Exception):
    """Base of every error rxtune raises on purpose."""


class Unsupported(RxtuneError):
    """The kernel, the device or the machine lacks a feature; `reason` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotReadable(RxtuneError):
    """The kernel takes the value but does not report it back (a set-only option)."""


class NotPermitted(RxtuneError):
    """The operation needs privileges (root, CAP_NET_ADMIN) the caller lacks."""


class InvalidValue(RxtuneError):
    """Bad input; `valid` names what would have been accepted."""

    def __init__(self, message: str, valid: Iterable[str] | str | None = None):
        if valid is not None and not isinstance(valid, str):
            valid = ", ".join(valid)
        super().__init__(f"{message} (valid: {valid})" if valid else message)
        self.valid = valid


class VerifyFailed(RxtuneError):
    """A value read back after a write differs from what was written."""


class Busy(RxtuneError):
    """Another rxtune run holds the lock on host-wide state."""
