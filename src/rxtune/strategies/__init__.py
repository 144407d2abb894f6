"""THE strategy table: every receive strategy declared once (table.py), as the knobs are.
bench, advise, the snippets, the Python API and the schema all read it; adding a strategy
is one entry, plus its C loop if it receives in a new way."""

from .model import (
    LOAD,
    MODES,
    PINGPONG,
    THROUGHPUT,
    US,
    Caveat,
    EpollParams,
    Receiver,
    Strategy,
    StrategyEntry,
    Wait,
)
from .table import BY_NAME, NAMES, TABLE, build, default_names, names_for, select

__all__ = [
    "BY_NAME",
    "LOAD",
    "MODES",
    "NAMES",
    "PINGPONG",
    "TABLE",
    "THROUGHPUT",
    "US",
    "Caveat",
    "EpollParams",
    "Receiver",
    "Strategy",
    "StrategyEntry",
    "Wait",
    "build",
    "default_names",
    "names_for",
    "select",
]
