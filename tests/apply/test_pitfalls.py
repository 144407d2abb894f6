"""tune warns before host-wide busy polling meets a device where it cannot help: UDP GRO
forwarding on (testbed B), or no NAPI at all (testbed C); on testbed A it says nothing."""

from __future__ import annotations

import pytest

from rxtune.apply import tune
from rxtune.apply.profile import busy_poll_pitfalls, load
from rxtune.testbed import veth

from conftest import run_rxtune

pytestmark = pytest.mark.root


@pytest.mark.parametrize(
    "testbed, expected",
    [
        ("A", None),
        ("B", "rx0: rx-udp-gro-forwarding is on"),
        ("C", "rx0 has no NAPI instance"),
    ],
)
def test_the_latency_profile_warns_of_the_device_before_it_changes_anything(testbed, expected):
    with veth.testbed(veth.configuration(testbed)) as bed:
        netns = bed.receiver.netns
        out = run_rxtune(
            "tune", "--profile", "latency", "--dev", "rx0", "--netns", netns, "--dry-run",
            check=True,
        )  # fmt: skip
        warned = [line for line in out.stdout.splitlines() if line.startswith("warning:")]
        if expected is None:
            assert not warned
        else:
            assert warned and expected in out.stdout
            assert out.stdout.index("warning:") < out.stdout.index("net.core.busy_read")
            fix = "rx-udp-gro-forwarding off" if testbed == "B" else "ethtool -K rx0 gro on"
            assert fix in " ".join(out.stdout.split())
        assert not tune.journal().read().records  # a dry run: nothing changed


def test_profiles_that_do_not_busy_poll_meet_no_pitfall():
    with veth.testbed(veth.configuration("C")) as bed:
        values, _ = load("throughput").for_devices(["rx0"])
        assert busy_poll_pitfalls(values, ["rx0"], bed.receiver.netns) == []
        latency, _ = load("latency").for_devices(["rx0"])
        assert len(busy_poll_pitfalls(latency, ["rx0"], bed.receiver.netns)) == 1
