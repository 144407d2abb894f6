import pytest

from rxtune.errors import InvalidValue, Unsupported
from rxtune.knobs.model import Boolean, Range, Scope, Target, Word
from rxtune.knobs.registry import REGISTRY, get, of_scope

REQUIRED = {
    Scope.HOST: [
        "net.core.busy_poll",
        "net.core.busy_read",
        "net.core.netdev_budget",
        "net.core.netdev_budget_usecs",
        "net.core.dev_weight",
        "net.core.netdev_max_backlog",
        "net.core.gro_normal_batch",
        "net.core.rmem_default",
        "net.core.rmem_max",
    ],
    Scope.DEVICE: [
        "napi_defer_hard_irqs",
        "gro_flush_timeout",
        "threaded",
        "rx-gro",
        "rx-udp-gro-forwarding",
        "rx-gro-list",
        "rx-usecs",
        "rx-max-frames",
        "use-adaptive-rx",
        "rings.rx",
        "channels.combined-count",
        "driver.driver",
        "driver.version",
    ],
    Scope.QUEUE: ["napi_id", "rps_cpus", "irq", "irq_affinity"],
    Scope.NAPI: [
        "irq",
        "pid",
        "defer-hard-irqs",
        "gro-flush-timeout",
        "irq-suspend-timeout",
        "threaded",
    ],
}


@pytest.mark.parametrize("scope", list(REQUIRED))
def test_every_required_knob_is_declared_once(scope):
    names = [k.name for k in of_scope(scope)]
    for name in REQUIRED[scope]:
        assert names.count(name) == 1, name


def test_every_knob_is_complete():
    target = Target(dev="eth9", queue=0, napi=7, cpu=1)
    for knob in REGISTRY:
        assert knob.doc and knob.unit and knob.where, knob.name
        assert isinstance(knob.since, tuple) and len(knob.since) == 2
        if not knob.writable:  # read-only knobs have no command to render
            with pytest.raises(InvalidValue, match="read-only"):
                knob.command(1, target)
        elif knob.backend.kind == "procfs":  # the IRQ number is known only on the host
            with pytest.raises(Unsupported, match="known only on the host"):
                knob.command("0", target)
        else:
            value = (
                True
                if isinstance(knob.valid, Boolean)
                else str(knob.valid.low)
                if isinstance(knob.valid, Range)
                else "performance"
                if isinstance(knob.valid, Word)
                else "1"
            )
            assert knob.command(value, target), knob.name
            assert "None" not in knob.command(value, target), knob.name  # every part filled


def test_busy_poll_defaults_are_off():
    assert get("busy_read").default == 0 and get("busy_poll").default == 0


def test_validation_names_what_is_valid():
    with pytest.raises(InvalidValue, match=r"valid: 0\.\.2147483647"):
        get("busy_read").check(-1)
    with pytest.raises(InvalidValue, match="valid: on, off"):
        get("threaded", Scope.DEVICE).check("maybe")
    with pytest.raises(InvalidValue, match="read-only"):
        get("driver.driver").check("x")
    with pytest.raises(InvalidValue, match=r"unknown knob 'busy_reed'.*net.core.busy_read"):
        get("busy_reed")


def test_shell_commands():
    assert get("busy_read").command(50) == "sysctl -w net.core.busy_read=50"
    assert get("rx-usecs").command(8, Target(dev="eth1")) == "ethtool -C eth1 rx-usecs 8"
    assert get("rx-gro").command(True, Target(dev="eth1")) == "ethtool -K eth1 gro on"
    assert '"defer-hard-irqs": 2' in get("defer-hard-irqs").command(2, Target(napi=9))
