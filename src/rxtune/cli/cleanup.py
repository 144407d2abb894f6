"""rxtune cleanup: undo what a killed run left behind (every changing command also does
this first by itself)."""

from __future__ import annotations

from ..changes.lock import host_lock
from ..changes.recover import recover
from ..errors import NotPermitted
from ..host import is_root
from ..testbed import veth
from .common import WAIT, console, friendly_errors, said


@friendly_errors
def cleanup(wait: float = WAIT) -> None:
    """Restore host settings a killed run left changed, revert lapsed confirmations, and
    remove leftover namespaces."""
    if not is_root():
        raise NotPermitted("cleanup restores host sysctls and removes namespaces: run as root")
    with host_lock("rxtune cleanup", wait):
        done = recover("rxtune cleanup")
        removed = veth.remove_leftovers()
    said(done)
    for name in removed:
        console.print(f"removed namespace {name}")
    if not done and not removed:
        console.print("nothing to clean up")
