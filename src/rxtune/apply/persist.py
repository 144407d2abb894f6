"""What survives a reboot, and the same settings for other tools: sysctls to
/etc/sysctl.d, device settings to a script a systemd unit runs at boot, a held value (the
CPU latency request) to a service that holds it; exports as a tuned profile or a shell
script. Each write is rendered by its knob's backend from structured data
(knobs/model.Rendered), never parsed back from shell text."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..backends.pm_qos import holder_command
from ..changes.plan import Assignment
from ..errors import InvalidValue
from ..knobs.model import Rendered, Scope

SYSCTL_FILE = "etc/sysctl.d/90-rxtune.conf"
SCRIPT = "etc/rxtune/apply.sh"
UNIT = "etc/systemd/system/rxtune-apply.service"
WANTS = "etc/systemd/system/multi-user.target.wants/rxtune-apply.service"
# a value that lasts only while a process holds it: a service of its own, running for good
HOLDER_UNIT = "etc/systemd/system/rxtune-hold.service"
HOLDER_WANTS = "etc/systemd/system/multi-user.target.wants/rxtune-hold.service"
HEADER = "# written by rxtune; `rxtune revert --persist` removes it\n"


def check_persistable(items: list[Assignment]) -> None:
    """Refuse, before anything is written, what a boot-time file cannot reproduce."""
    for item in items:
        if item.knob.scope == Scope.NAPI:
            raise InvalidValue(
                f"{item.knob.name}: NAPI ids change at reboot, so a per-NAPI "
                "setting cannot be persisted",
                "the device-level napi_defer_hard_irqs / gro_flush_timeout / threaded",
            )
        if item.knob.backend.kind == "procfs":
            raise InvalidValue(
                f"{item.knob.name}: IRQ numbers change at reboot, so a setting "
                "bound to one cannot be persisted",
                "device and host knobs",
            )
        if item.netns:
            raise InvalidValue(
                f"{item.knob.name}: namespace {item.netns} does not survive a reboot",
                "settings of the initial namespace",
            )


def _rendered(items: list[Assignment]) -> list[Rendered]:
    """Each write as other tools spell it (a knob bound to what only the host knows, such as
    an IRQ number, is refused: Unsupported with the reason)."""
    return [i.knob.render(i.value, i.target) for i in items]


def _sysctl_lines(items: list[Assignment]) -> list[str]:
    return [
        f"{r.tuned[1]} = {r.tuned[2]}"
        for r in _rendered(items)
        if r.tuned and r.tuned[0] == "sysctl"
    ]


def _commands(items: list[Assignment]) -> list[str]:
    return [r.shell for r in _rendered(items) if not (r.tuned and r.tuned[0] == "sysctl")]


def _enable(root: Path, unit: str, wants: str) -> list[Path]:
    link = root / wants  # what `systemctl enable` does
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(f"/{unit}")
    return [root / unit, link]


def _write_holder(root: Path, held: list[Assignment]) -> list[Path]:
    """A service whose process holds the request (a shell that became a sleep, with the file
    open): systemd starts it at boot, and stopping it drops the request. Of several values,
    the tightest is the one in force."""
    command = holder_command(min(i.value for i in held)).replace("%", "%%")  # systemd's %
    unit = root / HOLDER_UNIT
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(
        HEADER + "[Unit]\nDescription=rxtune: hold the CPU latency PM QoS request\n\n"
        f'[Service]\nType=simple\nExecStart=/bin/sh -c "{command}"\nRestart=on-failure\n\n'
        "[Install]\nWantedBy=multi-user.target\n"
    )
    return _enable(root, HOLDER_UNIT, HOLDER_WANTS)


def write(root: Path, items: list[Assignment]) -> list[Path]:
    check_persistable(items)
    written = []
    held = [i for i in items if i.knob.persist_only]
    items = [i for i in items if not i.knob.persist_only]
    if held:
        written += _write_holder(root, held)
    sysctls, commands = _sysctl_lines(items), _commands(items)
    if sysctls:
        path = root / SYSCTL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER + "\n".join(sysctls) + "\n")
        written.append(path)
    if commands:
        script = root / SCRIPT
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("#!/bin/sh\n" + HEADER + "set -e\n" + "\n".join(commands) + "\n")
        script.chmod(0o755)
        unit = root / UNIT
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(
            HEADER + "[Unit]\nDescription=rxtune: receive-path settings\n"
            "After=network-pre.target\nBefore=network.target\n\n[Service]\n"
            f"Type=oneshot\nExecStart=/{SCRIPT}\n\n[Install]\n"
            "WantedBy=multi-user.target\n"
        )
        written += [script, *_enable(root, UNIT, WANTS)]
    return written


def remove(root: Path) -> list[Path]:
    removed = []
    for relative in (SYSCTL_FILE, SCRIPT, WANTS, UNIT, HOLDER_WANTS, HOLDER_UNIT):
        path = root / relative
        if path.is_symlink() or path.exists():
            path.unlink()
            removed.append(path)
    return removed


def export_sh(items: list[Assignment], title: str) -> str:
    commands = [r.shell for r in _rendered(items)]
    return f"#!/bin/sh\n# {title}: written by rxtune export\nset -e\n" + "\n".join(commands) + "\n"


def export_tuned(items: list[Assignment], title: str) -> str:
    """A tuned profile: [sysctl], [sysfs] for device files, [net] for ethtool settings;
    what tuned cannot express (per-NAPI netlink settings) is left as a comment."""
    sections: dict[str, list[str]] = defaultdict(list)
    net: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rendered in _rendered(items):
        if rendered.tuned is None:
            sections["# not expressible in tuned"].append(f"# {rendered.shell}")
            continue
        section, key, value = rendered.tuned
        if section.startswith("net "):
            net[section.removeprefix("net ")][key].append(value)
        else:
            sections[section].append(f"{key}={value}")
    out = [f"# {title}: written by rxtune export", "[main]", f"summary={title}", ""]
    for name, lines in sections.items():
        out += ([f"[{name}]"] if not name.startswith("#") else [f"{name}:"]) + lines + [""]
    for index, (dev, options) in enumerate(net.items()):
        out += [f"[net_{index}]" if index else "[net]", "type=net", f"devices={dev}"]
        out += [f"{option}={' '.join(settings)}" for option, settings in options.items()] + [""]
    return "\n".join(out)
