"""rxtune serve and rxtune keygen: the peer host's side of a two-host bench."""

from __future__ import annotations

import threading
from pathlib import Path

import typer

from ..changes.process import unwind_on_termination
from ..control import keys
from ..errors import InvalidValue
from ..host import enter_netns
from ..measure.machine import MachineAccount
from ..measure.remote import CONTROL_PORT
from ..measure.serve import IDLE_S, ServeOptions, Server, drop_privileges
from .common import console, friendly_errors, said, strict_float, strict_int


@friendly_errors
def keygen(
    path: Path = typer.Argument(..., metavar="KEY_FILE", help="where to write the new key"),
) -> None:
    """Write a new pre-shared key (mode 0600) for `rxtune serve --key-file` and `rxtune
    bench --key-file`; copy it to the peer over a channel you trust (scp, your config
    management), keeping its mode."""
    keys.generate(path)
    console.print(f"{path}: a new {8 * keys.KEY_BYTES}-bit key, mode 0600")


@friendly_errors
def serve(
    address: str = typer.Option(
        "0.0.0.0", "--address", help="address to listen on (--insecure-lab: one address)"
    ),
    port: int = typer.Option(CONTROL_PORT, "--port", parser=strict_int, help="TCP control port"),
    key_file: Path | None = typer.Option(
        None, "--key-file", help="the pre-shared key (rxtune keygen); no key, no run"
    ),
    insecure_lab: bool = typer.Option(
        False,
        "--insecure-lab",
        help="serve without a key, on --address only: anyone who reaches it can run rounds",
    ),
    cpu: int | None = typer.Option(
        None, "--cpu", parser=strict_int, help="the CPU rounds run on (default: the last)"
    ),
    netns: str | None = typer.Option(
        None, "--netns", help="serve from this network namespace (a lab standing in for a host)"
    ),
    idle_timeout: float = typer.Option(
        IDLE_S, "--idle-timeout", parser=strict_float, help="seconds a silent client is kept"
    ),
    duration: float | None = typer.Option(
        None, "--duration", parser=strict_float, help="seconds to serve (default: until Ctrl-C)"
    ),
) -> None:
    """Serve two-host benches: an authenticated client runs rounds here (reflect, ping,
    receive, send), each with its own data socket and cookie, and gets this host's
    figures back."""
    if key_file is None and not insecure_lab:
        raise InvalidValue(
            "no key, no run: --key-file is needed", "--key-file FILE (rxtune keygen), or "
            "--insecure-lab --address ADDR on a lab network"
        )  # fmt: skip
    if key_file is not None and insecure_lab:
        raise InvalidValue("--key-file with --insecure-lab", "one of them")
    if duration is not None and not 0.5 <= duration <= 31_536_000:
        raise InvalidValue(f"--duration {duration}", "0.5 s to a year, or none: until Ctrl-C")
    options = ServeOptions(
        address, port, keys.load(key_file) if key_file else None, cpu, idle_timeout
    )
    if netns is not None:
        enter_netns(netns)
    options.validate()
    unwind_on_termination()
    with MachineAccount() as account:
        server = Server(options, account, lambda line: console.print(line, highlight=False))
        said(server.recovered)
        kept = drop_privileges()
        how = (
            "authenticated (HMAC-SHA256, pre-shared key)" if options.key else "UNAUTHENTICATED lab"
        )
        console.print(
            f"serving on {address}:{port}, {how}; rounds on CPU {server.cpu}; "
            f"capabilities kept: {', '.join(kept) or 'as started'}; Ctrl-C to stop",
            highlight=False,
        )
        stop = threading.Event()
        if duration:
            timer = threading.Timer(duration, stop.set)
            timer.daemon = True
            timer.start()
        try:
            server.serve(stop)
        except KeyboardInterrupt:
            console.print("stopped")
