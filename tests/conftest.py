"""Shared fixtures. Root-only tests skip with the reason; none passes by doing nothing."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: creates network namespaces and veth devices")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "root: needs root (namespaces, veth, sysctls)")


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Journals and locks of each test in a directory of its own, never /var/lib/rxtune."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("RXTUNE_STATE_DIR", str(path))
    return path


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def wait_for() -> Callable[..., bool]:
    """Poll a condition until it holds or the timeout passes; True if it held."""
    def wait(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.05)
        return False
    return wait
