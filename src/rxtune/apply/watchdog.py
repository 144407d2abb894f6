"""python -m rxtune.apply.watchdog TOKEN SECONDS: revert unless confirmed in time.
Started by `rxtune tune --confirm-within`, in a session of its own, so a dropped ssh
connection does not take it down."""
from __future__ import annotations

import sys
import time

from .tune import pending_token, revert


def main() -> int:
    token, seconds = sys.argv[1], float(sys.argv[2])
    time.sleep(seconds)
    if pending_token() == token:
        revert()
    return 0


if __name__ == "__main__":
    sys.exit(main())
