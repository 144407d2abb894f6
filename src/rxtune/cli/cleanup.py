"""rxtune cleanup: undo what a killed run left behind (every run also does this first)."""
from __future__ import annotations

from ..apply.journal import host_lock
from ..apply.transient import recover_leftovers
from ..errors import NotPermitted
from ..host import is_root
from ..testbed import veth
from .common import console, friendly_errors


@friendly_errors
def cleanup() -> None:
    """Restore host settings a killed bench left changed and remove its namespaces."""
    if not is_root():
        raise NotPermitted("cleanup restores host sysctls and removes namespaces: run as root")
    with host_lock("rxtune cleanup"):
        restored = recover_leftovers()
        removed = veth.remove_leftovers()
    for item in restored:
        console.print(f"restored {item}")
    for name in removed:
        console.print(f"removed namespace {name}")
    if not restored and not removed:
        console.print("nothing to clean up")
