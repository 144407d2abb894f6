"""Knobs read and written over netlink: ethtool groups and features, netdev NAPI and queues."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import InvalidValue, NotPermitted, RxtuneError, Unsupported
from ..host import Host
from ..knobs.model import CpuList, Knob, Rendered, Target
from .context import ReadContext
from .netlink import ethtool, netdev

# group -> (the `ethtool` flag that sets it, the option of tuned's [net] plugin)
_ETHTOOL_GROUPS = {
    "coalesce": ("-C", "coalesce"),
    "rings": ("-G", "ring"),
    "channels": ("-L", "channels"),
}


def _on_off(value: Any) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def read_only(knob: Knob) -> InvalidValue:
    return InvalidValue(f"{knob.name} is read-only", "a knob that `rxtune show` marks writable")


class EthtoolGroup:
    """One attribute of rings, channels or coalesce (`knob.where` = "coalesce:rx-usecs")."""

    kind = "ethtool-nl"

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        """Writes go over netlink or ioctl: the kernel answers for itself."""

    def _split(self, knob: Knob) -> tuple[str, str]:
        group, attr = knob.where.split(":")
        return group, attr

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        group, attr = self._split(knob)
        values = ctx.cached(
            ("ethtool", group, target.dev),
            lambda: ethtool.get(ctx.netlink("ethtool"), group, str(target.dev)),
        )
        if attr not in values:
            raise Unsupported(f"{target.dev} does not report {attr}")
        value = values[attr]
        return bool(value) if knob.unit == "bool" else value

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        group, attr = self._split(knob)
        ethtool.set_values(ctx.netlink("ethtool"), group, str(target.dev), {attr: int(value)})
        ctx.forget("ethtool", group, target.dev)

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        group, attr = self._split(knob)
        flag, option = _ETHTOOL_GROUPS[group]
        setting = f"{knob.cli or attr} {_on_off(value)}"
        return Rendered(
            f"ethtool {flag} {target.dev} {setting}", (f"net {target.dev}", option, setting)
        )


class EthtoolFeature:
    """A netdev feature by its kernel name (`rx-gro`, `rx-udp-gro-forwarding`, ...)."""

    kind = "ethtool-nl"

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        """Writes go over netlink or ioctl: the kernel answers for itself."""

    def _features(self, ctx: ReadContext, target: Target) -> dict:
        return ctx.cached(
            ("features", target.dev),
            lambda: ethtool.features(ctx.netlink("ethtool"), str(target.dev)),
        )

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        features = self._features(ctx, target)
        if knob.where not in features:
            raise Unsupported(f"this kernel has no feature {knob.where}")
        return features[knob.where]["active"]

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        setting = f"{knob.cli or knob.where} {_on_off(value)}"
        return Rendered(
            f"ethtool -K {target.dev} {setting}", (f"net {target.dev}", "features", setting)
        )

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        feature = self._features(ctx, target).get(knob.where)
        if feature is None or not feature["changeable"]:
            raise Unsupported(f"{knob.where} is fixed on {target.dev}")
        ethtool.set_features(ctx.netlink("ethtool"), str(target.dev), {knob.where: bool(value)})
        ctx.forget("features", target.dev)


def napi_list(ctx: ReadContext, dev: str | None = None) -> list[dict]:
    """NAPI instances in this namespace (of one device when `dev` is given)."""
    instances = ctx.cached(("napi",), lambda: netdev.napi_instances(ctx.netlink("netdev")))
    if dev is None:
        return instances
    ifindex = ifindex_of(ctx, dev)
    return [n for n in instances if n.get("ifindex") == ifindex]


def napi_ids(ctx: ReadContext, dev: str) -> list[int]:
    return [n["id"] for n in napi_list(ctx, dev)]


def napi_ids_in(netns: str | None, dev: str) -> list[int]:
    """The NAPI ids of a device, read inside its network namespace."""

    def read() -> list[int]:
        with ReadContext(Host()) as ctx:
            return napi_ids(ctx, dev)

    return Host(netns=netns).call(read)


def ifindex_of(ctx: ReadContext, dev: str) -> int:
    path = ctx.host.sys / "class/net" / dev / "ifindex"
    try:
        return int(path.read_text())
    except FileNotFoundError:
        raise InvalidValue(f"no network device '{dev}'", ctx.host.devices()) from None


class NapiAttr:
    """An attribute of one NAPI instance (napi-get / napi-set)."""

    kind = "netdev-nl"

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        """Writes go over netlink or ioctl: the kernel answers for itself."""

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        for instance in napi_list(ctx):
            if instance["id"] == target.napi:
                if knob.where not in instance:
                    raise Unsupported(
                        knob.extra.get("absent")
                        or f"napi-get on this kernel does not report {knob.where}"
                        f" (needs {knob.since[0]}.{knob.since[1]}+)"
                    )
                return instance[knob.where]
        raise Unsupported(f"no NAPI instance {target.napi}")

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        netdev.napi_set(ctx.netlink("netdev"), int(target.napi or 0), **{knob.where: int(value)})
        ctx.forget("napi")

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        request = json.dumps({"id": target.napi, knob.where: int(value)})
        return Rendered(f"ynl --family netdev --do napi-set --json '{request}'")


class NapiThreadCpus:
    """The CPUs a threaded NAPI's kernel thread may run on: its pid from napi-get, then
    sched_getaffinity / sched_setaffinity, as `taskset -p` does."""

    kind = "sched"

    def _pid(self, ctx: ReadContext, target: Target) -> int:
        for instance in napi_list(ctx):
            if instance["id"] == target.napi:
                if not instance.get("pid"):
                    raise Unsupported(
                        f"NAPI {target.napi} has no kernel thread: turn threaded NAPI on "
                        "(threaded=on on its device) first"
                    )
                return int(instance["pid"])
        raise Unsupported(f"no NAPI instance {target.napi}")

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        self._pid(ctx, target)

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        return CpuList.of(os.sched_getaffinity(self._pid(ctx, target)))

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        try:
            os.sched_setaffinity(self._pid(ctx, target), CpuList.cpus(value))
        except PermissionError:
            raise NotPermitted("moving a kernel thread needs root") from None
        except OSError as error:
            raise RxtuneError(f"sched_setaffinity({value}): {error.strerror}") from None

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        # the thread is named napi/DEV-ID; its pid changes when threading is switched
        return Rendered(f"taskset -pc {value} $(pgrep -x 'napi/{target.dev}-{target.napi}')")


class QueueAttr:
    """What queue-get and napi-get say of an RX queue: its NAPI id and that NAPI's IRQ.
    veth links no queue to a NAPI; there the device's only NAPI serves its queue."""

    kind = "netdev-nl"

    def check_writable(self, ctx: ReadContext, knob: Knob, target: Target) -> None:
        """Writes go over netlink or ioctl: the kernel answers for itself."""

    def _napi_id(self, ctx: ReadContext, target: Target) -> int:
        ifindex = ifindex_of(ctx, str(target.dev))
        queues = ctx.cached(
            ("queues", ifindex), lambda: netdev.rx_queues(ctx.netlink("netdev"), ifindex)
        )
        for queue in queues:
            if queue["id"] == target.queue and queue.get("napi-id"):
                return queue["napi-id"]
        instances = napi_list(ctx, target.dev)
        if len(instances) == 1:
            return instances[0]["id"]
        return 0

    def render(self, knob: Knob, target: Target, value: Any, ctx: ReadContext | None) -> Rendered:
        raise read_only(knob)

    def read(self, ctx: ReadContext, knob: Knob, target: Target) -> Any:
        return self._napi_id(ctx, target) if knob.where == "napi-id" else self.irq(ctx, target)

    def irq(self, ctx: ReadContext, target: Target) -> int:
        """The IRQ of the queue's NAPI (0: none, as on veth)."""
        napi_id = self._napi_id(ctx, target)
        for instance in napi_list(ctx):
            if instance["id"] == napi_id:
                return int(instance.get("irq", 0))
        return 0

    def write(self, ctx: ReadContext, knob: Knob, target: Target, value: Any) -> None:
        raise InvalidValue(f"{knob.name} is read-only")
