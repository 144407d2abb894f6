"""rxtune's own JSON documents read back (a saved `show --json`, a `bench --save`): each
checked against its schema before anything reads it, so a file of the wrong shape is a
clear error that names where it goes wrong, not a crash half way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from .errors import InvalidValue


def load(
    path: Path,
    schema: dict[str, Any],
    written_by: str,
    superseded: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The document at path, checked against schema; a document of an older schema named in
    superseded is refused with the reason given there."""
    valid = f"a file written by `{written_by}`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidValue(f"cannot read {path}: {error.strerror}", valid) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidValue(f"{path} is not JSON: {error}", valid) from None
    if isinstance(data, dict) and data.get("schema") in (superseded or {}):
        raise InvalidValue(f"{path}: {(superseded or {})[data['schema']]}", f"{valid} again")
    wrong = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(data)
    )
    if wrong is not None:
        where = "/".join(str(p) for p in wrong.absolute_path) or "the top level"
        raise InvalidValue(
            f"{path} is not {schema.get('title', 'an rxtune')} result: at "
            f"{where}: {wrong.message[:200]}",
            valid,
        )
    return data
