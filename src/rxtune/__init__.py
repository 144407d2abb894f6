"""rxtune: measure and tune the Linux receive path.

The public API: `inventory()` reads the receive path; `tune()`, `revert()` and `confirm()`
change it as the command line does; `open_receiver()` gives a socket set up for a receive
strategy. The command line is `rxtune` (rxtune.cli)."""

from .api import Receiver, confirm, inventory, open_receiver, revert, tune
from .errors import InvalidValue, NotPermitted, RxtuneError, Unsupported, VerifyFailed

__all__ = [
    "InvalidValue",
    "NotPermitted",
    "Receiver",
    "RxtuneError",
    "Unsupported",
    "VerifyFailed",
    "confirm",
    "inventory",
    "open_receiver",
    "revert",
    "tune",
]
