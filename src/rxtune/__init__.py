"""rxtune: measure and tune the Linux receive path.

The public API: `inventory()` reads the receive path; `tune()`, `revert()` and `confirm()`
change it as the command line does; `open_receiver()` receives with any strategy of the
bench, in batches waited for and taken in C. The command line is `rxtune` (rxtune.cli)."""

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
