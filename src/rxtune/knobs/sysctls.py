"""Host and namespace knobs: sysctls under net.core."""
from __future__ import annotations

from ..backends.files import Sysctl
from .model import INT, Knob, Range, Scope

_SYSCTL = Sysctl()


def _sysctl(name: str, scope: Scope, unit: str, default: int | None, since: tuple[int, int],
            doc: str, valid: Range = INT, default_note: str = "") -> Knob:
    return Knob(name=name, scope=scope, unit=unit, default=default, since=since,
                backend=_SYSCTL, where=name, shell=f"sysctl -w {name}={{value}}", doc=doc,
                valid=valid, default_note=default_note, group="sysctl")


KNOBS = (
    _sysctl("net.core.busy_poll", Scope.HOST, "µs", 0, (3, 11),
            "busy-poll time for poll/select/epoll on every socket of the host (0: off)"),
    _sysctl("net.core.busy_read", Scope.HOST, "µs", 0, (3, 11),
            "busy-poll time for blocking reads; the SO_BUSY_POLL a new socket gets (0: off)"),
    _sysctl("net.core.netdev_budget", Scope.HOST, "packets", 300, (2, 6),
            "packets one NET_RX softirq run may take from all NAPIs before it yields"),
    _sysctl("net.core.netdev_budget_usecs", Scope.HOST, "µs", None, (4, 12),
            "time one NET_RX softirq run may take before it yields (time_squeeze)",
            default_note="2 jiffies: 8000 at HZ=250, 2000 at HZ=1000"),
    _sysctl("net.core.dev_weight", Scope.HOST, "packets", 64, (2, 6),
            "packets the backlog NAPI (RPS, non-NAPI devices) takes per poll"),
    _sysctl("net.core.netdev_max_backlog", Scope.HOST, "packets", 1000, (2, 6),
            "per-CPU backlog queue length; overflow is counted as softnet 'dropped'"),
    _sysctl("net.core.gro_normal_batch", Scope.HOST, "packets", 8, (5, 4),
            "packets GRO batches before passing them up the stack"),
    # other namespaces show these read-only: one value for the host
    _sysctl("net.core.rmem_default", Scope.HOST, "bytes", 212992, (2, 6),
            "receive buffer a new socket gets", default_note="x86_64 and arm64"),
    _sysctl("net.core.rmem_max", Scope.HOST, "bytes", 212992, (2, 6),
            "largest receive buffer SO_RCVBUF may ask for", default_note="x86_64 and arm64"),
)
