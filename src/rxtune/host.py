"""Where rxtune looks: which network namespace, where /proc and /sys are, which kernel.

Everything that reads the machine goes through a Host, so tests can point one at a
captured tree, and the testbed can point one at a namespace it created.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import select
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import InvalidValue, NotPermitted, RxtuneError

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
NETNS_RUN_DIR = Path("/run/netns")

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        if err == errno.EPERM:
            raise NotPermitted(
                f"{what}: {os.strerror(err)} (entering a network namespace needs root)"
            )
        raise RxtuneError(f"{what}: {os.strerror(err)}")


def check_netns_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise InvalidValue(f"network namespace name {name!r}", "a name `ip netns list` shows")


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP back while a process forks: a KeyboardInterrupt raised
    inside fork's own handlers (logging's at-fork lock release) is swallowed by Python, and
    the run would go on as if never interrupted. Delivered as soon as the block ends.

    Blocking them in this thread is not enough once another thread exists (numpy's BLAS
    starts some at import): the kernel hands a process's signal to any thread that does not
    block it, and Python then runs the handler here all the same. So the Python-level
    handlers only note the signal for the block's length, and it is raised again after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be swapped in the main thread, where Python runs them
        return
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: caught.append(signum)) for sig in _STOP_SIGNALS
    }
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # what waits is delivered now
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def enter_netns(name: str) -> None:
    """Move this process into a named network namespace, as `ip netns exec` does: join the
    namespace, then remount /sys in a private mount namespace so /sys/class/net shows its
    devices. Only for processes that stay there (CLI runs, forked workers)."""
    check_netns_name(name)
    path = NETNS_RUN_DIR / name
    if not path.exists():
        known = sorted(p.name for p in NETNS_RUN_DIR.glob("*")) if NETNS_RUN_DIR.exists() else []
        raise RxtuneError(f"no network namespace '{name}' (known: {', '.join(known) or 'none'})")
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        raise NotPermitted(f"network namespace {name}: entering it needs root") from None
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {name}")
    finally:
        os.close(fd)
    _check(_libc.unshare(CLONE_NEWNS), "unshare mount namespace")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "make / a slave mount")
    _libc.umount2(b"/sys", MNT_DETACH)
    _check(_libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None), "mount sysfs")


class Worker:
    """A forked child inside a network namespace, optionally pinned to a CPU, running one
    function. It may call ready() once to tell the parent it is set up."""

    def __init__(
        self, netns: str | None, cpu: int | None, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ):
        result_r, result_w = os.pipe()
        ready_r, ready_w = os.pipe()
        with signals_deferred():
            self.pid = os.fork()
        if self.pid == 0:  # child: never returns
            os.close(result_r)
            os.close(ready_r)
            self._child(result_w, ready_w, netns, cpu, fn, args, kwargs)
        os.close(result_w)
        os.close(ready_w)
        self._result_fd, self._ready_fd = result_r, ready_r
        self._done = False

    @staticmethod
    def _child(
        result_w: int,
        ready_w: int,
        netns: str | None,
        cpu: int | None,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
    ) -> None:
        try:
            # die with the parent: a killed run must not leave workers holding its lock
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
            for signum in (signal.SIGTERM, signal.SIGHUP):  # never unwind the parent's stack
                signal.signal(signum, signal.SIG_DFL)
            if netns is not None:
                enter_netns(netns)
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

            def ready() -> None:
                os.write(ready_w, b"r")

            outcome: tuple[bool, Any] = (True, fn(ready, *args, **kwargs))
        except BaseException as error:  # handed to the parent, which raises it
            outcome = (False, error)
        try:
            data = pickle.dumps(outcome)
        except Exception as error:
            data = pickle.dumps((False, RxtuneError(f"{outcome[1]!r} ({error})")))
        with os.fdopen(result_w, "wb") as pipe:
            pipe.write(data)
        os._exit(0)

    def wait_ready(self, timeout: float) -> bool:
        readable, _, _ = select.select([self._ready_fd, self._result_fd], [], [], timeout)
        return self._ready_fd in readable and os.read(self._ready_fd, 1) == b"r"

    def result(self, timeout: float | None = None) -> Any:
        readable, _, _ = select.select([self._result_fd], [], [], timeout)
        if not readable:
            self.kill()
            raise RxtuneError(f"worker {self.pid} gave no answer within {timeout} s")
        with os.fdopen(self._result_fd, "rb") as pipe:
            data = pipe.read()
        os.close(self._ready_fd)
        os.waitpid(self.pid, 0)
        self._done = True
        if not data:
            raise RxtuneError(f"worker {self.pid} died without an answer")
        ok, value = pickle.loads(data)
        if not ok:
            raise value
        return value

    def kill(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        for fd in (self._result_fd, self._ready_fd):
            try:
                os.close(fd)
            except OSError:
                pass


@contextmanager
def socket_namespace(netns: str | None) -> Iterator[None]:
    """Sockets made in the block belong to `netns` (None: this one), and stay there after:
    the calling thread enters it and comes back."""
    if netns is None:
        yield
        return
    from pyroute2.netns import popns, pushns

    check_netns_name(netns)
    pushns(netns)
    try:
        yield
    finally:
        popns()


def call_in_netns(netns: str | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run fn in a forked child inside `netns` (or here when None) and return its result;
    an exception in the child is raised here."""
    if netns is None:
        return fn(*args, **kwargs)
    worker = Worker(netns, None, lambda ready, *a, **k: fn(*a, **k), *args, **kwargs)
    try:
        return worker.result()
    finally:
        worker.kill()


@dataclass(frozen=True)
class Host:
    """The machine as rxtune sees it: a network namespace (None: this process's) and the
    roots of /proc and /sys (other roots: captured trees, for tests)."""

    netns: str | None = None
    proc: Path = Path("/proc")
    sys: Path = Path("/sys")

    @property
    def in_initial_netns(self) -> bool:
        """busy_read, busy_poll and the other host-wide sysctls exist only there, which is
        also the one test that works where /proc/1/ns is hidden."""
        return (self.proc / "sys/net/core/busy_poll").exists()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn inside this host's namespace."""
        return call_in_netns(self.netns, fn, *args, **kwargs)

    @staticmethod
    def netns_exists(name: str) -> bool:
        return (NETNS_RUN_DIR / name).exists()

    def devices(self) -> list[str]:
        net = self.sys / "class/net"
        return sorted(p.name for p in net.iterdir()) if net.exists() else []


def is_root() -> bool:
    return os.geteuid() == 0
