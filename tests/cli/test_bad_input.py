"""Bad input, as a hostile user gives it: every command with malformed options, files and
JSON, as root and as nobody. None may end in a traceback or an internal error, none may
change a host knob or journal anything, and each must fail (exit status not 0)."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import rxtune
from rxtune.apply import tune
from rxtune.cli.main import app
from rxtune.host import Worker
from rxtune.knobs.model import Boolean, Range
from rxtune.knobs.registry import REGISTRY

from conftest import host_knobs

pytestmark = pytest.mark.root
NOBODY = 65534
# no value here is valid for any number, on/off, CPU list or CPU mask knob
BAD_VALUES = [
    "",
    " ",
    "-1",
    "nan",
    "inf",
    "-inf",
    "1e99",
    "50.9",
    "５０",
    "5_0",
    "0x10",
    "x",
    "🙂",
    "1,,x",
    "on off",
    "--",
    "=",
    "1-",
    "4294967296999",
]
BAD_SECONDS = [v for v in BAD_VALUES if v != "50.9"]  # 50.9 s is a fine duration
BAD_NAMES = ["", "nope0", "/", "..", "a/b", "x" * 300, "-", "🙂"]
SETTABLE = sorted(k.name for k in REGISTRY if isinstance(k.valid, (Range, Boolean)))


def bad_files(root) -> list[str]:
    """Files no command may accept as a profile, a saved show or a saved bench."""
    (root / "dir").mkdir()
    files = {
        "binary.toml": b"\x00\xff\xfe\x01" * 40,
        "empty.json": b"",
        "null.json": b"null",
        "list.json": b"[]",
        "object.json": b"{}",
        "bench-shape.json": json.dumps(
            {
                "schema": "rxtune.bench/1",
                "mode": "pingpong",
                "metadata": {},
                "runs": [{"strategy": 3}],
            }
        ).encode(),
        "show-shape.json": json.dumps(
            {"schema": "rxtune.show/1", "host": [], "knobs": "x"}
        ).encode(),
        "bad.toml": b"[host\nx = ",
        "section.toml": b"[galaxy]\nx = 1\n",
        "knob.toml": b"[host]\nwarp = 1\n",
        "float.toml": b'[host]\n"net.core.busy_read" = 50.9\n',
        "bool.toml": b'[host]\n"net.core.busy_read" = true\n',
        "text.toml": b'[host]\n"net.core.busy_read" = "fast"\n',
        "defaults.toml": b'kernel_defaults = "no"\n',
        "description.toml": b"description = 5\n",
        "device-only.toml": b"[device]\nnapi_defer_hard_irqs = 2\n",
    }
    for name, content in files.items():
        (root / name).write_bytes(content)
    return [str(root / n) for n in [*files, "dir", "missing.json"]] + [str(root / "dir") + "/"]


def invocations(files: list[str]) -> st.SearchStrategy[list[str]]:
    value, name, path = (
        st.sampled_from(BAD_VALUES),
        st.sampled_from(BAD_NAMES),
        st.sampled_from(files),
    )
    seconds = st.sampled_from(BAD_SECONDS)
    nowhere = st.sampled_from(["/nonexistent/x.json", "/proc/x", "/"])
    options = {
        "show": [("--netns", name), ("--diff", path), ("", name)],
        "bench": [
            ("-d", seconds),
            ("-m", value),
            ("--mode", name),
            ("--rate", value),
            ("--flows", value),
            ("--batch", value),
            ("--rcvbuf", value),
            ("-s", name),
            ("--busy-poll-us", value),
            ("--testbed", name),
            ("--defer-hard-irqs", value),
            ("--gro-flush-timeout", value),
            ("--irq-suspend-timeout", value),
            ("--pm-qos", value),
            ("--sender-cpu", value),
            ("--receiver-cpu", value),
            ("--napi-cpu", value),
            ("--interface", name),
            ("--direction", name),
            ("--key-file", path),
            ("--peer-port", value),
            ("--netns", name),
            ("--save", nowhere),
            ("--csv", nowhere),
            ("--wait", seconds),
        ],
        "set": [
            ("--dev", name),
            ("--netns", name),
            ("--queue", value),
            ("--napi", value),
            ("--cpu", value),
            ("--confirm-within", seconds),
            ("--wait", seconds),
        ],
        "tune": [
            ("--profile", path),
            ("--profile", name),
            ("--cpu", value),
            ("--confirm-within", seconds),
            ("--wait", seconds),
        ],
        "revert": [("--wait", seconds), ("--bogus", value)],
        "confirm": [("--wait", seconds)],
        "cleanup": [("--wait", seconds)],
        "export": [("--format", name), ("--profile", path), ("--output", nowhere)],
        "advise": [
            ("", path),
            ("--goal", name),
            ("--cpu-budget", seconds),  # 50.9 cores is a fine budget
            ("--write-profile", nowhere),
            ("--rate", name),
        ],
        "compare": [("", path), ("", path), ("--fail-if-worse", value)],
        "report": [("", path), ("--output", nowhere), ("--png", nowhere), ("--label", name)],
        "sweep": [
            ("--rates", value),
            ("--point-seconds", seconds),
            ("--rounds", value),
            ("--budget", seconds),
            ("-s", name),
            ("--busy-poll-us", value),
            ("--knob", name),
            ("--knob", st.sampled_from([f"netdev_budget={v}" for v in BAD_VALUES])),
            ("--confirm", value),
            ("--testbed", name),
            ("--save", nowhere),
            ("--resume", path),
        ],
        "top": [
            ("", name),
            ("--netns", name),
            ("--interval", seconds),
            ("--pid", value),
            ("--port", value),
            ("--count", value),
            ("--prometheus", nowhere),
        ],
        "serve": [
            ("--port", value),
            ("--address", name),
            ("--key-file", path),
            ("--cpu", value),
            ("--netns", name),
            ("--idle-timeout", seconds),
            ("--duration", seconds),
        ],
        "keygen": [("", nowhere)],
    }

    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        command = draw(st.sampled_from(sorted(options)))
        args = [command]
        if command == "set":
            pairs = draw(
                st.lists(st.tuples(st.sampled_from(SETTABLE), value), min_size=1, max_size=3)
            )
            args += [f"{k}={v}" for k, v in pairs]
        chosen = draw(
            st.lists(
                st.sampled_from(options[command]), min_size=0 if command == "set" else 1, max_size=3
            )
        )
        for option, strategy in chosen:
            args += ([option] if option else []) + [draw(strategy)]
        if command == "export" and "--format" not in args:
            args += ["--format", "sh"]
        return args

    return build()


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    text = result.output + (getattr(result, "stderr", "") if result.stderr_bytes else "")
    if result.exception and not isinstance(result.exception, SystemExit):
        text += f"\nTraceback (uncaught in the test runner): {result.exception!r}"
    return result.exit_code, text


def check(args: list[str], code: int, text: str) -> None:
    assert "Traceback" not in text and "internal error" not in text, (args, text)
    assert code != 0, (args, text)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return bad_files(tmp_path_factory.mktemp("bad"))


COUNT = {"invocations": 0}


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_malformed_invocations_as_root_fail_cleanly_and_change_nothing(files, data):
    args = data.draw(invocations(files))
    found = host_knobs()
    code, text = invoke(args)
    check(args, code, text)
    assert host_knobs() == found, args
    assert not tune.journal().read().records, args
    COUNT["invocations"] += 1


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    mode=st.sampled_from(["pingpong", "load", "throughput", "x"]),
)
def test_any_json_given_to_advise_and_show_diff_is_an_answer_or_a_clear_error(
    tmp_path_factory, document, mode
):
    path = tmp_path_factory.mktemp("json") / "doc.json"
    for wrapped in (
        document,
        {"schema": "rxtune.bench/1", "mode": mode, "metadata": document, "runs": [document]},
        {
            "schema": "rxtune.show/1",
            "host": document,
            "knobs": [document],
            "devices": [],
            "cpus": [],
            "capabilities": [],
        },
    ):
        path.write_text(json.dumps(wrapped))
        for args in (["advise", str(path)], ["show", "lo", "--diff", str(path)]):
            _, text = invoke(args)
            assert "Traceback" not in text and "internal error" not in text, (wrapped, text)


def _preload() -> None:
    """Import now what a command imports late: /root (where Python lives here) is closed to
    nobody."""
    for module in pkgutil.walk_packages(rxtune.__path__, "rxtune."):
        if not module.name.endswith(("__main__", "watchdog")):
            importlib.import_module(module.name)
    import typer._click as click_modules

    for module in pkgutil.walk_packages(click_modules.__path__, "typer._click."):
        if "winconsole" not in module.name:
            importlib.import_module(module.name)
    for command in (
        "show",
        "bench",
        "set",
        "tune",
        "revert",
        "confirm",
        "export",
        "advise",
        "cleanup",
        "serve",
        "keygen",
        "compare",
        "report",
        "sweep",
    ):
        invoke([command, "--help"])
        invoke([command, "--bogus"])


AS_NOBODY = [
    ["show", "--netns", "rxtune-nobody-test"],
    ["show", "--netns", ""],
    ["set", "napi_defer_hard_irqs=1", "--dev", "lo", "--netns", "rxtune-nobody-test"],
    ["set", "busy_read=1"],
    ["tune", "--profile", "./x.toml"],
    ["revert"],
    ["revert", "--force"],
    ["confirm"],
    ["cleanup"],
    ["bench", "-s", "epoll", "-d", "0.3"],
    ["export", "--format", "sh"],
    ["serve", "--port", "70000"],
    ["keygen", "/root/rxtune-nobody.key"],
    ["advise", "/root/none.json"],
    ["show", "--diff", "/root/x"],
    ["sweep", "--rates", "1000", "--point-seconds", "0.5", "--save", "/tmp/rxtune-nobody.json"],
    ["report", "/root/none.json", "-o", "/tmp/rxtune-nobody.html"],
    ["compare", "/root/a.json", "/root/b.json"],
]


def test_as_nobody_every_command_refuses_or_answers_without_a_traceback(tmp_path):
    import subprocess

    subprocess.run(["ip", "netns", "add", "rxtune-nobody-test"], check=True, timeout=30)
    found = host_knobs()

    def unprivileged(ready):
        _preload()
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        return [(args, *invoke(args)) for args in AS_NOBODY]

    try:
        outcomes = Worker(None, None, unprivileged).result(300)
    finally:
        subprocess.run(["ip", "netns", "del", "rxtune-nobody-test"], timeout=30)
    for args, code, text in outcomes:
        check(args, code, text)
    refused = {tuple(a): t for a, c, t in outcomes}
    assert "needs root" in refused[("set", "busy_read=1")]
    assert (
        "entering a network namespace needs root"
        in refused[("show", "--netns", "rxtune-nobody-test")]
    )
    assert host_knobs() == found
