"""Compare two inventories: which knob values changed, appeared or vanished."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _flatten(inventory: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for knob in inventory.get("knobs", []):
        yield knob["name"], knob
    for dev in inventory.get("devices", []):
        for knob in dev["knobs"]:
            yield f"{dev['name']}/{knob['name']}", knob
        for queue in dev["queues"]:
            for knob in queue["knobs"]:
                yield f"{dev['name']}/rx-{queue['queue']}/{knob['name']}", knob
        for napi in dev["napi"]:
            for knob in napi["knobs"]:
                yield f"{dev['name']}/napi-{napi['id']}/{knob['name']}", knob


def _shown(knob: dict[str, Any] | None) -> Any:
    if knob is None:
        return "(absent)"
    return knob["value"] if knob["status"] == "ok" else f"({knob['status']})"


def diff(saved: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"knob": path, "saved": value, "now": value}] for every value that differs."""
    before, after = dict(_flatten(saved)), dict(_flatten(current))
    changes = []
    for path in list(before) + [p for p in after if p not in before]:
        old, new = _shown(before.get(path)), _shown(after.get(path))
        if old != new:
            changes.append({"knob": path, "saved": old, "now": new})
    return changes
