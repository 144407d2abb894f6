"""What every command shares: the console, one-line errors, JSON output."""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import RxtuneError

# piped output has no terminal width: give tables room rather than fold them
console = Console() if sys.stdout.isatty() else Console(width=160)
errors = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """An RxtuneError ends the command with one line and exit status 2, no traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RxtuneError as error:
            errors.print(f"[bold red]rxtune:[/] {escape(str(error))}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("[bold red]rxtune:[/] interrupted")
            raise typer.Exit(130) from None
    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")
