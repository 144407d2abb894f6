"""The `rxtune` command: one module per subcommand, each thin."""

from __future__ import annotations

import typer

from .advise import advise
from .bench import bench
from .cleanup import cleanup
from .compare import compare
from .report import report
from .serve import keygen, serve
from .show import show
from .sweep import sweep
from .top import top
from .tune import confirm, export, revert, set_, tune

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    help="Measure and tune the Linux receive path: busy polling, NAPI, "
    "interrupts, and every receive strategy side by side.",
)
app.command()(show)
app.command()(bench)
app.command()(cleanup)
app.command()(serve)
app.command()(keygen)
app.command("set")(set_)
app.command()(tune)
app.command()(revert)
app.command()(confirm)
app.command()(export)
app.command()(advise)
app.command()(compare)
app.command()(sweep)
app.command()(report)
app.command()(top)


@app.callback()
def _root() -> None:
    """Measure and tune the Linux receive path."""


def main() -> None:
    app()
