"""rxtune: measure and tune the Linux receive path.

The public API: `inventory()` reads the receive path; `open_receiver()` gives a socket set
up for a receive strategy. The command line is `rxtune` (rxtune.cli)."""
from .api import Receiver, inventory, open_receiver
from .errors import InvalidValue, NotPermitted, RxtuneError, Unsupported, VerifyFailed

__all__ = ["inventory", "open_receiver", "Receiver", "RxtuneError", "Unsupported",
           "NotPermitted", "InvalidValue", "VerifyFailed"]
