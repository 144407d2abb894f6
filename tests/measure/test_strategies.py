from dataclasses import replace

import pytest

from rxtune.engine import _engine
from rxtune.errors import InvalidValue
from rxtune.measure.bench import Options
from rxtune.strategies import BY_NAME, NAMES, PINGPONG, TABLE, Wait, names_for, select
from rxtune.strategies.table import check


def test_default_selection_covers_every_strategy_once_per_us_value():
    strategies = select(None, [20, 50])
    labels = [s.label for s in strategies]
    assert len(labels) == len(set(labels))
    assert "blocking" in labels and "so_busy_poll(20)" in labels and "so_busy_poll(50)" in labels
    assert {s.name for s in strategies} == set(names_for(PINGPONG))
    high_rate = {s.name for s in select(None, [50], "throughput")}
    high_rate_only = {e.name for e in TABLE if PINGPONG not in e.modes}
    assert high_rate >= high_rate_only and "epoll" in high_rate


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
            {"interface": "eth0", "peer": "198.18.0.9", "direction": "sideways"},
            "--direction 'sideways'",
        ),
        ({"direction": "rx"}, "--direction without --peer"),
        ({"interface": "eth0", "peer": "peer.example"}, "the peer's IPv4 address"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(InvalidValue, match=message):
        Options(strategies=select(["epoll"], [50]), **kwargs).validate()


def test_the_table_and_the_engine_agree_on_how_to_wait():
    assert [w.value for w in Wait] == [
        _engine.WAIT_BLOCK,
        _engine.WAIT_POLL,
        _engine.WAIT_EPOLL,
        _engine.WAIT_SPIN,
    ]


def test_every_entry_is_complete_and_its_code_renders():
    for entry in TABLE:
        assert entry.doc and entry.c_code and entry.modes, entry.name
        for strategy in select([entry.name], [25], sorted(entry.modes)[0], batch=8):
            rendered = strategy.code() + strategy.python()
            assert "{us}" not in rendered and "{batch}" not in rendered and "{US}" not in rendered
            if "{us}" in entry.c_code:
                assert "25" in strategy.code(), entry.name
    assert set(NAMES) == set(BY_NAME)


def test_a_strategy_naming_a_knob_the_registry_lacks_is_refused():
    bad = replace(BY_NAME["busy_read"], sysctls={"net.core.busy_reed": 50})
    with pytest.raises(InvalidValue, match=r"unknown knob 'net\.core\.busy_reed'"):
        check((bad,))
    wrong_scope = replace(BY_NAME["so_busy_poll"], socket_options={"busy_read": 50})
    with pytest.raises(InvalidValue, match="unknown knob 'busy_read'"):
        check((wrong_scope,))
    with pytest.raises(InvalidValue, match="declared twice"):
        check((BY_NAME["epoll"], BY_NAME["epoll"]))
