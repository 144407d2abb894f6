"""show as a user without privileges: it still answers, and says what it could not learn."""

from __future__ import annotations

import os

import jsonschema
import pytest

from rxtune.host import Host, Worker
from rxtune.inspect.inventory import collect
from rxtune.inspect.schema import SHOW_SCHEMA

pytestmark = pytest.mark.root  # root, to drop to nobody in a child
NOBODY = 65534


def test_show_as_nobody_reports_what_needs_privileges():
    collect(Host(), ["lo"])  # import what a read needs while /root is still readable

    def unprivileged(ready):
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        return collect(Host(), ["lo"])

    inventory = Worker(None, None, unprivileged).result(60)
    jsonschema.validate(inventory, SHOW_SCHEMA)
    assert inventory["host"]["root"] is False
    knobs = {k["name"]: k for k in inventory["knobs"]}
    assert knobs["net.core.busy_read"]["status"] == "ok"
    budget = knobs["SO_BUSY_POLL_BUDGET"]
    assert budget["status"] == "not-permitted" and "CAP_NET_ADMIN" in budget["reason"]
    caps = {c["name"]: c for c in inventory["capabilities"]}
    assert caps["AF_XDP"]["supported"] is None and "CAP_NET_RAW" in caps["AF_XDP"]["detail"]
