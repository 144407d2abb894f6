"""`rxtune serve`: the peer's half of a two-host bench. It runs one round at a time as an
authenticated client asks (reflect, ping, receive or send, with a strategy from the
table), opens the data socket for that round only, measures its own machine meanwhile and
reports its figures back. It echoes only packets with the round's cookie, from the address
the control connection came from, at most at the agreed rate, until the round's deadline;
it sends only to that address. Host settings a strategy needs are journaled and restored
as the bench does; nothing else on the host changes."""

from __future__ import annotations

import os
import platform
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute

from ..backends import capabilities
from ..changes.lock import host_lock
from ..changes.recover import recover
from ..changes.transient import TransientChanges
from ..control.channel import (
    MAX_TO_SERVER,
    PLAIN,
    Channel,
    ChannelError,
    Refused,
    check_endpoint,
    check_hello,
    hello,
    nonce,
    parse,
    session_key,
    their_nonce,
)
from ..errors import Busy, InvalidValue, RxtuneError
from ..host import Worker
from ..strategies import Strategy
from . import load, pingpong
from .bench import apply, apply_knobs, snapshot
from .machine import MachineAccount
from .remote import CONTROL_PORT, RunSpec, TrafficWindow, to_wire

IDLE_S = 30.0
MAX_SESSIONS = 8
RUN_WAIT_S = 60.0  # a second client's round waits this long for the first's to end
DRAIN_BYTES = 4 << 20
# what a run may need: busy-poll options and NAPI settings, packet sockets and AF_XDP,
# XDP and the accounting's BPF maps, locked UMEM pages
KEEP = {
    capabilities.CAP_NET_ADMIN,
    capabilities.CAP_NET_RAW,
    capabilities.CAP_BPF,
    capabilities.CAP_PERFMON,
    capabilities.CAP_IPC_LOCK,
    capabilities.CAP_SYS_RESOURCE,
}
Log = Callable[[str], None]


@dataclass(frozen=True)
class ServeOptions:
    address: str
    port: int = CONTROL_PORT
    key: bytes | None = None  # None: --insecure-lab
    cpu: int | None = None  # the CPU rounds run on (None: the last one allowed)
    idle_s: float = IDLE_S

    def validate(self) -> None:
        check_endpoint("--address", self.address, "an IPv4 address", "--port", self.port)
        if self.key is None and self.address == "0.0.0.0":
            raise InvalidValue(
                "--insecure-lab on every address (0.0.0.0)", "one address of a lab network"
            )
        allowed = sorted(os.sched_getaffinity(0))
        if self.cpu is not None and self.cpu not in allowed:
            raise InvalidValue(f"--cpu {self.cpu}", [str(c) for c in allowed])
        if not 0.5 <= self.idle_s <= 3600:
            raise InvalidValue(f"--idle-timeout {self.idle_s}", "0.5..3600 s")


def device_of(address: str) -> str:
    """The device that holds a local address (the data path's)."""
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=socket.AF_INET):
            if addr.get_attr("IFA_ADDRESS") == address:
                return ipr.get_links(addr["index"])[0].get_attr("IFLA_IFNAME")
    raise RxtuneError(f"no device holds {address}")


def _refuse(conn: socket.socket, text: str) -> None:
    """A plain error, then the connection ends; what the client still sends is read and
    dropped for a moment, so the error is not lost to a reset."""
    try:
        Channel(conn, "server", MAX_TO_SERVER).send_plain({"type": "error", "error": text})
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(1.0)
        drained = 0
        while drained < DRAIN_BYTES:
            chunk = conn.recv(65536)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass


class Server:
    """Listening from construction; serve() answers until stop is set."""

    def __init__(self, options: ServeOptions, account: MachineAccount, log: Log) -> None:
        options.validate()
        self.options, self.account, self.log = options, account, log
        # what a killed server (or bench) left changed is put back before serving
        with host_lock("rxtune serve"):
            self.recovered = recover("rxtune serve")
        self.cpu = options.cpu if options.cpu is not None else sorted(os.sched_getaffinity(0))[-1]
        self.listener = socket.create_server((options.address, options.port))
        self.listener.settimeout(0.5)
        self.sessions = threading.BoundedSemaphore(MAX_SESSIONS)
        self.run_lock = threading.Lock()

    def serve(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    conn, (client, _) = self.listener.accept()
                except TimeoutError:
                    continue
                if not self.sessions.acquire(blocking=False):
                    _refuse(conn, f"busy: {MAX_SESSIONS} sessions already")
                    conn.close()
                    continue
                threading.Thread(target=self._session, args=(conn, client), daemon=True).start()
        finally:
            self.listener.close()

    def _handshake(self, conn: socket.socket) -> Channel:
        greeting = Channel(conn, "server", MAX_TO_SERVER)
        kind, body = greeting.frame()
        message = parse(body)
        if kind != PLAIN:
            raise ChannelError("a session starts with a plain hello")
        check_hello(message)
        if self.options.key is None:
            greeting.send_plain(hello(False, None))
            return greeting
        if message.get("auth") != "psk":
            raise ChannelError("this server needs authentication: give the bench --key-file")
        mine = nonce()
        channel = Channel(
            conn, "server", MAX_TO_SERVER, session_key(self.options.key, their_nonce(message), mine)
        )
        channel.send(hello(True, mine))
        return channel

    def _session(self, conn: socket.socket, client: str) -> None:
        local = conn.getsockname()[0]
        conn.settimeout(self.options.idle_s)
        try:
            channel = self._handshake(conn)
            while True:
                message = channel.receive()
                kind = message.get("type")
                if kind == "bye":
                    return
                try:
                    channel.send(self._answer(channel, kind, message, client, local))
                except (ChannelError, Refused, TimeoutError):
                    raise  # the session ends
                except (RxtuneError, OSError) as error:
                    self.log(f"{client}: {kind} refused: {error}")
                    channel.send({"type": "error", "error": str(error)})
        except TimeoutError:
            self.log(f"{client}: silent for {self.options.idle_s:g} s, timed out")
            _refuse(conn, f"timed out: no message within {self.options.idle_s:g} s")
        except ChannelError as error:
            self.log(f"{client}: refused: {error}")
            _refuse(conn, str(error))
        except (Refused, OSError):
            pass
        finally:
            conn.close()
            self.sessions.release()

    def _answer(
        self, channel: Channel, kind: Any, message: dict[str, Any], client: str, local: str
    ) -> dict[str, Any]:
        if kind == "clock":
            return {"type": "clock", "mono_ns": time.monotonic_ns()}
        if kind == "about":
            dev = device_of(local)
            return {
                "type": "about",
                "kernel": platform.release(),
                "cpus": os.cpu_count(),
                "cpu": self.cpu,
                "address": local,
                "device": dev,
                "authenticated": self.options.key is not None,
                "capabilities": f"{capabilities.effective():#x}",
                "knobs": snapshot([(None, dev)]),
            }
        if kind == "run":
            spec = RunSpec.from_json(message)
            if not self.run_lock.acquire(timeout=RUN_WAIT_S):
                raise Busy(f"another client's round ran for over {RUN_WAIT_S:g} s")
            try:
                self.log(f"{client}: {spec.role} {spec.strategy} {spec.duration_s:g} s")
                return {
                    "type": "result",
                    "result": to_wire(self._run(channel, spec, client, local)),
                }
            finally:
                self.run_lock.release()
        raise InvalidValue(f"unknown request {kind!r}", "about, clock, run, bye")

    def _run(self, channel: Channel, spec: RunSpec, client: str, local: str) -> dict[str, Any]:
        strategy = spec.build()
        dev = device_of(local)
        me = pingpong.Endpoint(None, local, self.cpu)
        them = pingpong.Endpoint(None, client, None, remote=True)
        cookie = secrets.randbits(63) + 1  # never 0, the testbed's
        timeout = spec.duration_s + 30
        with _settings(strategy, dev):
            worker = None
            try:
                waiting = spec.role in ("reflect", "receive")
                if waiting:  # it must be ready before the client's traffic starts
                    worker = self._waiting_side(spec, strategy, me, dev, client, cookie)
                channel.send({"type": "ready", "cookie": cookie, "max_pps": pingpong.MAX_RATE})
                channel.sock.settimeout(timeout)  # a round's messages may be this far apart
                _expect(channel, "go")
                if worker is not None:
                    window = TrafficWindow(self.account, worker.pid, self.cpu)
                    _expect(channel, "start")
                    window.start()
                    _expect(channel, "stop")
                    window.stop()
                    result = {"result": worker.result(timeout), **window.figures()}
                else:
                    worker = self._sending_side(spec, strategy, me, them, dev, cookie)
                    channel.send({"type": "start"})
                    result = worker.result(timeout)
                    channel.send({"type": "stop"})
            finally:
                channel.sock.settimeout(self.options.idle_s)
                if worker:
                    worker.kill()
        if spec.role == "reflect":  # one-way figures need a shared clock: not across hosts
            for name in ("one_way", "to_stamp"):
                result["result"].pop(name)
        return result

    def _waiting_side(
        self,
        spec: RunSpec,
        strategy: Strategy,
        me: pingpong.Endpoint,
        dev: str,
        client: str,
        cookie: int,
    ) -> Worker:
        """The round's reflector or receiver, ready: it echoes only the round's packets."""
        if spec.role == "reflect":
            echo = pingpong.Echo(cookie, client, pingpong.MAX_RATE)
            args: tuple[Any, ...] = (pingpong._reflector, strategy, me, spec.pingpong(), echo)
        else:
            args = (load._receive, strategy, me, dev, spec.load())
        worker = Worker(None, self.cpu, *args)
        if not worker.wait_ready(15):
            worker.result(5)  # raises its error
            raise RxtuneError(f"the round's {spec.role} side did not start")
        return worker

    def _sending_side(
        self,
        spec: RunSpec,
        strategy: Strategy,
        me: pingpong.Endpoint,
        them: pingpong.Endpoint,
        dev: str,
        cookie: int,
    ) -> Worker:
        """The round's pinger or sender, to the client's address only, started: its traffic
        begins as this returns."""
        if spec.role == "ping":
            settings = spec.pingpong()
            args: tuple[Any, ...] = (
                pingpong._client,
                strategy,
                me,
                them,
                settings,
                self.account,
                cookie,
            )
        else:
            args = (load._send, me, them, spec.load(), dev, self.account, None)
        worker = Worker(None, self.cpu, *args)
        if not worker.wait_ready(30):
            worker.result(5)  # raises its error
            raise RxtuneError(f"the round's {spec.role} side did not start")
        return worker


def _expect(channel: Channel, kind: str) -> None:
    message = channel.receive()
    if message.get("type") != kind:
        raise InvalidValue(f"{message.get('type')!r} while a round waits", kind)


@contextmanager
def _settings(strategy: Strategy, dev: str) -> Iterator[None]:
    """The host and NAPI settings the strategy runs with, journaled and restored after."""
    if not (strategy.sysctls or strategy.napi or strategy.knobs):
        yield
        return
    with host_lock("rxtune serve"), TransientChanges("rxtune serve") as changes:
        apply(changes, [(None, dev)], {}, strategy.napi, strategy.sysctls)
        apply_knobs(changes, [(None, dev)], strategy.knobs)
        yield


def drop_privileges() -> list[str]:
    return capabilities.keep_only(KEEP)
