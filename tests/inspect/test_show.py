"""rxtune show against the real kernel: a namespace with a veth pair whose receiving side
has NAPI on (GRO and rx-udp-gro-forwarding on: testbed configuration B)."""

from __future__ import annotations

import json
import os
import socket
import time

import jsonschema
import pytest

from rxtune.backends.sockopt import SO_INCOMING_NAPI_ID
from rxtune.host import Host, call_in_netns
from rxtune.inspect.inventory import collect
from rxtune.inspect.schema import SHOW_SCHEMA
from rxtune.knobs.model import Scope
from rxtune.knobs.registry import of_scope
from rxtune.testbed import veth

from conftest import run_rxtune

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def bed():
    with veth.testbed(veth.configuration("B")) as bed:
        yield bed


def _knob(entries, name):
    return next(k for k in entries if k["name"] == name)


def _napi_id_of_a_received_packet(bed) -> int:
    """Send one datagram across and ask the receiving socket which NAPI carried it."""

    def receive(ready):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((bed.receiver.address, 47999))
            sock.settimeout(5)
            ready()
            sock.recv(64)
            return sock.getsockopt(socket.SOL_SOCKET, SO_INCOMING_NAPI_ID)

    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x" * 32, (bed.receiver.address, 47999))

    from rxtune.host import Worker

    worker = Worker(bed.receiver.netns, None, receive)
    assert worker.wait_ready(5)
    call_in_netns(bed.sender.netns, send)
    return worker.result(10)


def test_show_finds_napi_and_queue_mapping(bed):
    inventory = collect(Host(netns=bed.receiver.netns))
    (dev,) = inventory["devices"]
    assert dev["name"] == bed.receiver.ifname
    napi_ids = [n["id"] for n in dev["napi"]]
    assert len(napi_ids) == 1 and napi_ids[0] > 0
    queue_napi = _knob(dev["queues"][0]["knobs"], "napi_id")
    assert queue_napi["status"] == "ok" and queue_napi["value"] == napi_ids[0]
    # the mapping agrees with what the kernel tells a socket about a real packet
    assert _napi_id_of_a_received_packet(bed) == napi_ids[0]


def test_show_names_the_processes_that_read_a_device_and_their_cpus(bed):
    """A process bound to the device's address, pinned to the last CPU, is among its
    readers with that CPU; one bound to an address of no device there is not."""
    from rxtune.host import Worker

    last = max(os.sched_getaffinity(0))

    def hold(ready, address: str):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 47998))
            ready()
            time.sleep(30)

    reader = Worker(bed.receiver.netns, last, hold, bed.receiver.address)
    other = Worker(bed.receiver.netns, None, hold, "127.0.0.1")
    try:
        assert reader.wait_ready(5) and other.wait_ready(5)
        (dev,) = collect(Host(netns=bed.receiver.netns))["platform"]["devices"]
        found = {r["pid"]: r for r in dev["readers"]}
        assert found[reader.pid]["cpus"] == str(last)
        assert found[reader.pid]["sockets"] == [f"udp {bed.receiver.address}:47998"]
        assert other.pid not in found
    finally:
        reader.kill()
        other.kill()


def test_show_reports_values_set_through_sysfs(bed):
    def set_sysfs():
        with open(f"/sys/class/net/{bed.receiver.ifname}/napi_defer_hard_irqs", "w") as f:
            f.write("7")
        with open(f"/sys/class/net/{bed.receiver.ifname}/gro_flush_timeout", "w") as f:
            f.write("20000")

    call_in_netns(bed.receiver.netns, set_sysfs)
    (dev,) = collect(Host(netns=bed.receiver.netns))["devices"]
    defer = _knob(dev["knobs"], "napi_defer_hard_irqs")
    assert defer["value"] == 7 and defer["default"] == 0 and defer["non_default"] is True
    assert _knob(dev["knobs"], "gro_flush_timeout")["value"] == 20000
    assert _knob(dev["knobs"], "rx-udp-gro-forwarding")["value"] is True
    # the device-wide write reaches its NAPI instance, as napi-get reports it
    assert _knob(dev["napi"][0]["knobs"], "defer-hard-irqs")["value"] == 7


def test_veth_coalescing_is_unsupported_with_a_reason(bed):
    (dev,) = collect(Host(netns=bed.receiver.netns))["devices"]
    coalesce = [
        k for k in dev["knobs"] if k["name"] in ("rx-usecs", "rx-max-frames", "use-adaptive-rx")
    ]
    assert len(coalesce) == 3
    for knob in coalesce:
        assert knob["status"] == "unsupported"
        assert "Operation not supported" in knob["reason"]
    assert _knob(dev["knobs"], "driver.driver")["value"] == "veth"


def test_json_lists_every_knob_with_default_and_validates(bed):
    out = run_rxtune("show", "--json", "--netns", bed.receiver.netns, check=True)
    inventory = json.loads(out.stdout)
    jsonschema.validate(inventory, SHOW_SCHEMA)
    listed = {k["name"] for k in inventory["knobs"]}
    assert {k.name for k in of_scope(Scope.HOST, Scope.NAMESPACE, Scope.SOCKET)} <= listed
    (dev,) = inventory["devices"]
    assert {k.name for k in of_scope(Scope.DEVICE)} == {k["name"] for k in dev["knobs"]}
    assert {k.name for k in of_scope(Scope.NAPI)} == {k["name"] for k in dev["napi"][0]["knobs"]}
    assert all("default" in k for k in dev["knobs"])
    caps = {c["name"]: c for c in inventory["capabilities"]}
    assert caps[f"NAPI polling on {dev['name']}"]["supported"] is True
    assert caps[f"interrupt coalescing on {dev['name']}"]["supported"] is False


def test_show_inside_the_namespace_reports_host_sysctls_as_out_of_reach(bed):
    """Run as `ip netns exec` would: busy_read lives only in the initial namespace."""
    inventory = call_in_netns(bed.receiver.netns, lambda: collect(Host()))
    busy_read = _knob(inventory["knobs"], "net.core.busy_read")
    assert busy_read["status"] == "unsupported"
    assert "initial network namespace" in busy_read["reason"]
    assert busy_read["default"] == 0
    assert _knob(inventory["knobs"], "net.core.rmem_max")["status"] == "ok"


def test_diff_against_a_saved_report(bed, tmp_path):
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(collect(Host(netns=bed.receiver.netns))))

    def bump():
        with open(f"/sys/class/net/{bed.receiver.ifname}/napi_defer_hard_irqs", "w") as f:
            f.write("3")

    call_in_netns(bed.receiver.netns, bump)
    out = run_rxtune(
        "show", "--json", "--netns", bed.receiver.netns, "--diff", str(saved), check=True
    )
    changes = {c["knob"]: c for c in json.loads(out.stdout)}
    key = f"{bed.receiver.ifname}/napi_defer_hard_irqs"
    assert changes[key]["now"] == 3 and changes[key]["saved"] != 3


def test_unknown_device_is_one_line_and_nonzero():
    out = run_rxtune("show", "no-such-dev0")
    assert out.returncode == 2
    assert "no network device 'no-such-dev0'" in out.stderr
    assert "valid:" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
