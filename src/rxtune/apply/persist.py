"""What survives a reboot, and the same settings for other tools: sysctls to
/etc/sysctl.d, device settings to a script a systemd unit runs at boot, a held value (the
CPU latency request) to a service that holds it; exports as a tuned profile or a shell
script. Each write is rendered by its knob's backend from structured data
(knobs/model.Rendered), never parsed back from shell text."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    return [link]


@dataclass(frozen=True)
class BootFile:
    text: str
    mode: int
    wants: str | None = None  # a unit: the link that enables it


def boot_files(items: list[Assignment]) -> dict[str, BootFile]:
    """What persisting these settings writes, by path under the root: sysctls for
    /etc/sysctl.d; device settings as a script a oneshot unit runs at boot; a held value as a
    service whose process holds it (a shell that became a sleep, with the file open; of
    several values the tightest is the one in force)."""
    check_persistable(items)
    files: dict[str, BootFile] = {}
    held = [i for i in items if i.knob.persist_only]
    items = [i for i in items if not i.knob.persist_only]
    if held:
        command = holder_command(min(i.value for i in held)).replace("%", "%%")  # systemd's %
        files[HOLDER_UNIT] = BootFile(
            HEADER + "[Unit]\nDescription=rxtune: hold the CPU latency PM QoS request\n\n"
            f'[Service]\nType=simple\nExecStart=/bin/sh -c "{command}"\nRestart=on-failure\n\n'
            "[Install]\nWantedBy=multi-user.target\n",
            0o644,
            HOLDER_WANTS,
        )
    sysctls, commands = _sysctl_lines(items), _commands(items)
    if sysctls:
        files[SYSCTL_FILE] = BootFile(HEADER + "\n".join(sysctls) + "\n", 0o644)
    if commands:
        files[SCRIPT] = BootFile(
            "#!/bin/sh\n" + HEADER + "set -e\n" + "\n".join(commands) + "\n", 0o755
        )
        files[UNIT] = BootFile(
            HEADER + "[Unit]\nDescription=rxtune: receive-path settings\n"
            "After=network-pre.target\nBefore=network.target\n\n[Service]\n"
            f"Type=oneshot\nExecStart=/{SCRIPT}\n\n[Install]\n"
            "WantedBy=multi-user.target\n",
            0o644,
            WANTS,
        )
    return files


def write(root: Path, items: list[Assignment]) -> list[Path]:
    written = []
    for relative, file in boot_files(items).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.text)
        path.chmod(file.mode)
        written.append(path)
        if file.wants:
            written += _enable(root, relative, file.wants)
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


def export_ansible(items: list[Assignment], title: str) -> str:
    """An Ansible playbook (ansible-core's builtin modules only) for every host of its
    inventory. Where rxtune is installed it applies the settings through `rxtune set
    --persist`, journaled, and the `revert` tag puts back exactly what it found; elsewhere
    it writes the files `--persist` writes (copy) and enables their units (systemd_service),
    and the `revert` tag removes them: the values then return at the next boot."""
    files = boot_files(items)
    argv = _set_command(items)
    with_rxtune = {"when": "rxtune.rc == 0"}
    without = {"when": "rxtune.rc != 0"}
    tasks: list[dict[str, Any]] = [
        {
            "name": "is rxtune installed?",
            "ansible.builtin.shell": "command -v rxtune",
            "register": "rxtune",
            "changed_when": False,
            "failed_when": False,
            "check_mode": False,
            "tags": ["always"],  # the revert tag needs the answer too
        },
    ]
    tasks.append(
        {
            "name": "rxtune: " + " ".join(argv[1:]),
            "ansible.builtin.command": {"argv": argv},
            **with_rxtune,
        }
    )
    for relative, file in files.items():
        tasks.append(
            {
                "name": f"write /{relative}",
                "ansible.builtin.copy": {
                    "dest": f"/{relative}",
                    "content": _Unsafe(file.text),
                    "mode": f"0{file.mode:o}",
                },
                **without,
                **({"notify": "apply the sysctls"} if relative == SYSCTL_FILE else {}),
            }
        )
        if file.wants:
            tasks.append(_unit_task(Path(relative).name, running=True))
    revert: list[dict[str, Any]] = [
        {
            "name": "rxtune revert --persist: every value back to what rxtune found",
            "ansible.builtin.command": {"argv": ["rxtune", "revert", "--persist"]},
            **with_rxtune,
        }
    ]
    for relative, file in files.items():
        if file.wants:
            revert.append(_unit_task(Path(relative).name, running=False))
        revert.append(
            {
                "name": f"remove /{relative}",
                "ansible.builtin.file": {"path": f"/{relative}", "state": "absent"},
                **without,
            }
        )
    for task in revert:
        task["tags"] = ["never", "revert"]
    play = {
        "name": title,
        "hosts": "all",
        "become": True,
        "tasks": tasks + revert,
        "handlers": [
            {
                "name": "apply the sysctls",
                "ansible.builtin.command": {"argv": ["sysctl", "-p", f"/{SYSCTL_FILE}"]},
            }
        ],
    }
    return (
        f"# {title}: written by rxtune export --format ansible\n"
        "# ansible-playbook -i HOSTS this.yml                  apply\n"
        "# ansible-playbook -i HOSTS this.yml --tags revert     put back (rxtune's journal where\n"
        "#   rxtune is installed; elsewhere the files go, and the values return at the next boot)\n"
        f"# settings: {' '.join(argv[2:])}\n" + _yaml([play]) + "\n"
    )


def _unit_task(unit: str, running: bool) -> dict[str, Any]:
    """Enable and start a unit, or stop and disable it (a stop may find it gone), where
    rxtune is not installed and systemd runs."""
    service: dict[str, Any] = {
        "name": unit,
        "enabled": running,
        "state": "started" if running else "stopped",
    }
    if running:
        service["daemon_reload"] = True
    return {
        "name": f"{'enable and start' if running else 'stop and disable'} {unit}",
        "ansible.builtin.systemd_service": service,
        "when": "rxtune.rc != 0 and ansible_facts.service_mgr == 'systemd'",
        **({} if running else {"failed_when": False}),
    }


def _set_command(items: list[Assignment]) -> list[str]:
    """The one `rxtune set ... --persist` that makes these assignments: one value per knob,
    on every device (or CPU) named for its scope; what one command cannot say is refused."""
    devices = sorted({i.target.dev for i in items if i.target.dev})
    cpus = sorted({i.target.cpu for i in items if i.target.cpu is not None})
    values: dict[str, Any] = {}
    for item in items:
        if item.knob.scope not in (Scope.HOST, Scope.NAMESPACE, Scope.DEVICE, Scope.CPU):
            raise InvalidValue(
                f"{item.knob.name} is a {item.knob.scope.value} knob: a playbook sets knobs for "
                "whole devices",
                "host, device and cpu knobs",
            )
        if values.setdefault(item.knob.name, item.value) != item.value:
            raise InvalidValue(
                f"{item.knob.name} has different values on different targets: a playbook "
                "gives every host one value per knob",
                "one value per knob (export per device group)",
            )
    for name in values:
        scope = next(i.knob.scope for i in items if i.knob.name == name)
        on = {
            i.target.dev if scope == Scope.DEVICE else i.target.cpu
            for i in items
            if i.knob.name == name
        }
        wanted = set(devices) if scope == Scope.DEVICE else set(cpus)
        if scope in (Scope.DEVICE, Scope.CPU) and on != wanted:
            raise InvalidValue(
                f"{name} is set on {sorted(map(str, on))} but not on all of "
                f"{sorted(map(str, wanted))}: a playbook's `rxtune set` names every target once",
                "the same knobs on every device or CPU",
            )
    knobs = {i.knob.name: i.knob for i in items}
    argv = ["rxtune", "set", *(f"{n}={knobs[n].display(v)}" for n, v in values.items())]
    for dev in devices:
        argv += ["--dev", dev]
    if cpus:
        argv += ["--cpu", ",".join(map(str, cpus))]
    return argv + ["--persist"]


class _Unsafe(str):
    """Text Ansible must not template (a shell script may hold `{{`): tagged !unsafe."""


def _yaml(value: Any, indent: int = 0) -> str:
    """YAML for the playbook's plain data: mappings, lists, strings (double-quoted, the JSON
    escapes YAML shares; multi-line ones as literal blocks), booleans and numbers."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item, indent + 2)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            text = _yaml(item, indent + 2) if isinstance(item, (dict, list)) else None
            lines.append(
                f"{pad}- {text.lstrip()}"
                if text is not None
                else f"{pad}- {_scalar(item, indent + 2)}"
            )
        return "\n".join(lines)
    return pad + _scalar(value, indent)


def _scalar(value: Any, indent: int) -> str:
    tag = "!unsafe " if isinstance(value, _Unsafe) else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):  # empty
        return "[]"
    text = str(value)
    if "\n" in text:
        body = "\n".join(
            (" " * indent + line) if line else "" for line in text.rstrip("\n").split("\n")
        )
        return f"{tag}|\n{body}"
    return tag + json.dumps(text, ensure_ascii=False)
