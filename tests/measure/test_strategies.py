import pytest

from rxtune.errors import InvalidValue
from rxtune.measure.bench import Options
from rxtune.measure.strategies import HIGH_RATE_ONLY, PINGPONG_NAMES, Wait, select


def test_default_selection_covers_every_strategy_once_per_us_value():
    strategies = select(None, [20, 50])
    labels = [s.label for s in strategies]
    assert len(labels) == len(set(labels))
    assert "blocking" in labels and "so_busy_poll(20)" in labels and "so_busy_poll(50)" in labels
    assert {s.name for s in strategies} == set(PINGPONG_NAMES)
    high_rate = {s.name for s in select(None, [50], "throughput")}
    assert high_rate >= HIGH_RATE_ONLY and "epoll" in high_rate


def test_high_rate_strategies_are_refused_in_pingpong():
    with pytest.raises(InvalidValue, match="af_xdp runs only with --mode throughput or load"):
        select(["af_xdp"], [50])
    (mmsg,) = select(["recvmmsg"], [50], "load", batch=16)
    assert mmsg.batch == 16 and mmsg.label == "recvmmsg(16)"


def test_strategies_carry_their_settings():
    (prefer,) = select(["so_busy_poll_prefer"], [30])
    assert prefer.wait == Wait.BLOCK
    assert prefer.socket_options == {
        "SO_BUSY_POLL": 30,
        "SO_PREFER_BUSY_POLL": 1,
        "SO_BUSY_POLL_BUDGET": 8,
    }
    (busy_read,) = select(["busy_read"], [50])
    assert busy_read.sysctls == {"net.core.busy_read": 50}
    (params,) = select(["epoll_params"], [64])
    assert params.wait == Wait.EPOLL and params.epoll_params.busy_poll_usecs == 64


@pytest.mark.parametrize(
    "names, us, message",
    [
        (["turbo"], [50], "unknown strategy turbo.*valid: blocking"),
        (None, [-5], "busy-poll µs -5 is out of range.*1..1000000"),
        (None, [], "no busy-poll µs value"),
    ],
)
def test_bad_selection_names_what_is_valid(names, us, message):
    with pytest.raises(InvalidValue, match=message):
        select(names, us)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"duration_s": 0}, "duration 0 s is out of range"),
        ({"message_size": 8}, "message size 8 is out of range"),
        ({"testbed": "Z"}, "unknown testbed configuration 'Z'.*valid: A, B, C"),
        ({"interface": "eth0"}, "--interface and --peer go together"),
        ({"mode": "load"}, "--rate 0 for --mode load"),
        ({"mode": "throughput", "rate_pps": 5}, "--rate goes with --mode load"),
        ({"mode": "throughput", "flows": 0}, "--flows 0 is out of range"),
        (
            {"mode": "throughput", "interface": "eth0", "peer": "198.18.0.9"},
            "--mode throughput and load run on the testbed",
        ),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(InvalidValue, match=message):
        Options(strategies=select(["epoll"], [50]), **kwargs).validate()
