"""python -m rxtune.apply.watchdog JOURNAL GROUP DEADLINE: at DEADLINE (seconds since the
epoch) revert the changes of GROUP unless they were confirmed. Started detached by
`rxtune set/tune --confirm-within`, or by a systemd timer at the deadline. It waits for the
host lock as long as it takes and never gives up silently: if it dies, the next rxtune
command reverts in its place."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..changes.journal import Journal
from ..changes.lock import host_lock
from ..changes.recover import expire
from ..errors import Busy

LOCK_RETRY_S = 3600.0


def main() -> int:
    path, deadline = Path(sys.argv[1]), float(sys.argv[3])
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, 1.0))  # short steps: a wall-clock jump is seen within a second
    while True:
        try:
            with host_lock("rxtune confirmation timer", wait=LOCK_RETRY_S):
                expire(Journal(path.name, path.parent), "the confirmation timer")
            return 0
        except Busy:
            continue


if __name__ == "__main__":
    sys.exit(main())
