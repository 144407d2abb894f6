"""A read context: the netlink clients and per-pass caches the backends share, so a
snapshot of forty knobs costs one coalesce-get, not forty. Lives in the namespace it reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import RxtuneError
from ..host import Host
from .netlink import ethtool, netdev
from .netlink.genl import Client


class ReadContext:
    def __init__(self, host: Host):
        self.host = host
        self._clients: dict[str, Client] = {}
        self._cache: dict[tuple, Any] = {}

    def netlink(self, family: str) -> Client:
        if family not in self._clients:
            self._clients[family] = {"ethtool": ethtool.client, "netdev": netdev.client}[family]()
        return self._clients[family]

    def cached(self, key: tuple, fetch: Callable[[], Any]) -> Any:
        """fetch() once per key; an error is cached too, and raised again on each use."""
        if key not in self._cache:
            try:
                self._cache[key] = (True, fetch())
            except RxtuneError as error:
                self._cache[key] = (False, error)
        ok, value = self._cache[key]
        if not ok:
            raise value
        return value

    def forget(self, *key_prefix: Any) -> None:
        """Drop cached reads (after a write) so the next read sees the kernel's value."""
        for key in [k for k in self._cache if k[: len(key_prefix)] == key_prefix]:
            del self._cache[key]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> ReadContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
