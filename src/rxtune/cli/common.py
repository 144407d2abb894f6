"""What every command shares: the console, one-line errors, JSON output."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape

from ..errors import RxtuneError

# piped output has no terminal width: as wide as $COLUMNS says, else room for every
# default column rather than folded tables
_COLUMNS = os.environ.get("COLUMNS", "")
console = (
    Console()
    if sys.stdout.isatty()
    else Console(width=int(_COLUMNS) if _COLUMNS.isdigit() and int(_COLUMNS) >= 40 else 160)
)
errors = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERNAL = 70  # EX_SOFTWARE


_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def strict_int(text: Any) -> int:
    """A whole number as a person types it: ASCII digits; not '5_0' or '５０', which
    Python's int() would take."""
    if isinstance(text, int):
        return text
    if not _INT.fullmatch(str(text).strip()):
        raise typer.BadParameter(f"{text!r} is not a whole number (valid: e.g. 50)")
    return int(text)


def strict_float(text: Any) -> float:
    """A number of seconds: digits, a point, an exponent; not nan, inf or '5_0'."""
    if isinstance(text, (int, float)):
        return float(text)
    if not _FLOAT.fullmatch(str(text).strip()):
        raise typer.BadParameter(f"{text!r} is not a number (valid: e.g. 2.5)")
    return float(text)


WAIT = typer.Option(
    0.0,
    "--wait",
    metavar="SECONDS",
    parser=strict_float,
    help="wait this long for another rxtune that is changing the host",
)


def said(lines: list[str]) -> None:
    """Lines the library returns for the user (what was recovered, restored, kept)."""
    for line in lines:
        console.print(escape(line), highlight=False)


def _fail(message: str, status: int) -> typer.Exit:
    errors.print(f"[bold red]rxtune:[/] {escape(message)}", highlight=False)
    return typer.Exit(status)


def friendly_errors(fn: F) -> F:
    """An RxtuneError ends the command with one line and exit status 2, an OSError names
    the file and the cause; no input ends in a traceback. A bug does: as one line that says
    so (RXTUNE_DEBUG=1 prints the traceback), with exit status 70."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (
            typer.Exit,
            typer.Abort,
            click.exceptions.Exit,
            click.exceptions.ClickException,
            click.exceptions.Abort,
        ):
            raise
        except RxtuneError as error:
            raise _fail(str(error), 2) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None
        except OSError as error:
            where = f" ({error.filename})" if error.filename else ""
            raise _fail(f"{error.strerror or error}{where}", 2) from None
        except Exception as error:
            if os.environ.get("RXTUNE_DEBUG"):
                traceback.print_exc()
            raise _fail(
                f"internal error (a bug in rxtune, please report it): "
                f"{type(error).__name__}: {error}",
                EXIT_INTERNAL,
            ) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")
