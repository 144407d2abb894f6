"""Generic netlink families as data, in the manner of the kernel's YNL specs.

An attribute set is a table {id: (name, type)}; a family is a name, its attribute sets and
its operations. pyroute2 carries the messages (socket, family lookup, framing, errors); this
module turns the tables into pyroute2 message classes and the replies into plain dicts.

Types: u8 u16 u32 u64, uint (4 or 8 bytes on the wire: decoded by length), flag, string,
"nest:SET" (a nested attribute set) and "multi-nest:SET" (repeated nest, decoded as a list).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, genlmsg, nla
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket

from ...errors import NotPermitted, RxtuneError, Unsupported

AttrSet = dict[int, tuple[str, str]]

_PYROUTE2_TYPE = {
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "uint": "cdata",
    "flag": "flag",
    "string": "asciiz",
}


@dataclass(frozen=True)
class Operation:
    cmd: int
    attrs: str  # the attribute set of request and reply


@dataclass
class Family:
    name: str
    attr_sets: dict[str, AttrSet]
    operations: dict[str, Operation]
    _classes: dict[str, type] = field(default_factory=dict, repr=False)

    def message_class(self, attr_set: str) -> type:
        """A pyroute2 genlmsg class for one attribute set, built once from the table."""
        if attr_set not in self._classes:
            self._classes[attr_set] = type(
                f"{self.name}_{attr_set}_msg".replace("-", "_"),
                (genlmsg,),
                {"nla_map": self._nla_map(attr_set)},
            )
        return self._classes[attr_set]

    def _nla_map(self, attr_set: str) -> tuple:
        entries = []
        for attr_id, (name, kind) in sorted(self.attr_sets[attr_set].items()):
            if kind.startswith(("nest:", "multi-nest:")):
                inner = kind.split(":", 1)[1]
                cls_name = f"nest_{inner}".replace("-", "_")
                entries.append((attr_id, name, cls_name))
            else:
                entries.append((attr_id, name, _PYROUTE2_TYPE[kind]))
        return tuple(entries)

    def _nested_classes(self, attr_set: str, seen: set[str] | None = None) -> dict[str, type]:
        seen = seen if seen is not None else set()
        classes: dict[str, type] = {}
        for _, kind in self.attr_sets[attr_set].values():
            if kind.startswith(("nest:", "multi-nest:")):
                inner = kind.split(":", 1)[1]
                cls_name = f"nest_{inner}".replace("-", "_")
                if inner in seen:
                    continue
                seen.add(inner)
                body = {"nla_map": self._nla_map(inner), "nla_flags": 0x8000}
                body.update(self._nested_classes(inner, seen))
                classes[cls_name] = type(cls_name, (nla,), body)
        return classes

    def request_class(self, attr_set: str) -> type:
        cls = self.message_class(attr_set)
        for name, nested in self._nested_classes(attr_set).items():
            setattr(cls, name, nested)
        return cls


def _encode(family: Family, attr_set: str, values: dict[str, Any]) -> list:
    """Plain {name: value} into pyroute2's [[NAME, value], ...], nests included."""
    kinds = dict(family.attr_sets[attr_set].values())
    attrs: list[list[Any]] = []
    for name, value in values.items():
        kind = kinds[name]
        if kind.startswith("nest:"):
            attrs.append([name, {"attrs": _encode(family, kind[5:], value)}])
        elif kind.startswith("multi-nest:"):
            for item in value:
                attrs.append([name, {"attrs": _encode(family, kind[11:], item)}])
        elif kind == "uint":
            # the kernel accepts 4 or 8 bytes; send the shortest that holds the value
            attrs.append([name, struct.pack("<I" if value < 2**32 else "<Q", value)])
        elif kind == "flag":
            if value:
                attrs.append([name, True])
        else:
            attrs.append([name, value])
    return attrs


def _decode(family: Family, attr_set: str, attrs: list) -> dict[str, Any]:
    kinds = {name: kind for name, kind in family.attr_sets[attr_set].values()}
    out: dict[str, Any] = {}
    for name, value in ((a[0], a[1]) for a in attrs):
        kind = kinds.get(name)
        if kind is None:
            continue  # an attribute newer than our table
        if kind.startswith("nest:"):
            out[name] = _decode(family, kind[5:], value["attrs"])
        elif kind.startswith("multi-nest:"):
            out.setdefault(name, []).append(_decode(family, kind[11:], value["attrs"]))
        elif kind == "uint":
            out[name] = int.from_bytes(value[:8] if len(value) >= 8 else value[:4], "little")
        elif kind == "flag":
            out[name] = True
        else:
            out[name] = value
    return out


def explain(error: NetlinkError, what: str) -> RxtuneError:
    """A NetlinkError as the error a user can act on."""
    cause = error.args[1] if len(error.args) > 1 else errno.errorcode.get(error.code, error.code)
    text = f"{what}: {cause}"
    if error.code in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOENT) and "family" not in text:
        return Unsupported(text)
    if error.code == errno.EPERM:
        return NotPermitted(f"{what}: needs CAP_NET_ADMIN (run as root)")
    return RxtuneError(text)


class Client:
    """Speaks one generic netlink family; a socket per attribute set (pyroute2 binds one
    message class per socket, and each set numbers its attributes from 1)."""

    def __init__(self, family: Family):
        self.family = family
        self._sockets: dict[str, GenericNetlinkSocket] = {}

    def _socket(self, attr_set: str) -> GenericNetlinkSocket:
        if attr_set not in self._sockets:
            sock = GenericNetlinkSocket()
            try:
                sock.bind(self.family.name, self.family.request_class(attr_set))
            except NetlinkError as error:
                sock.close()
                raise Unsupported(
                    f"generic netlink family '{self.family.name}' is not in this kernel ({error})"
                ) from None
            self._sockets[attr_set] = sock
        return self._sockets[attr_set]

    def call(
        self, op_name: str, values: dict[str, Any] | None = None, dump: bool = False
    ) -> list[dict[str, Any]]:
        op = self.family.operations[op_name]
        sock = self._socket(op.attrs)
        msg = self.family.message_class(op.attrs)()
        msg["cmd"] = op.cmd
        msg["version"] = 1
        msg["attrs"] = _encode(self.family, op.attrs, values or {})
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        try:
            replies = list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=flags))
        except NetlinkError as error:
            raise explain(error, f"{self.family.name} {op_name}") from None
        return [
            _decode(self.family, op.attrs, r["attrs"])
            for r in replies
            if r.get("cmd", None) is not None and r["attrs"]
        ]

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _index(label: str) -> int:
    return int(label[label.index("(") + 1 : label.index(")")])


def accepted_attributes(family_name: str) -> dict[int, set[int]]:
    """{cmd: attribute ids its `do` accepts}, from the kernel's own policy dump: the way to
    learn what this kernel supports without trusting its version number."""
    sock = GenericNetlinkSocket()
    try:
        replies = sock.policy(family_name)
    except NetlinkError as error:
        raise explain(error, f"policy of {family_name}") from None
    finally:
        sock.close()
    op_policy: dict[int, int] = {}
    policies: dict[int, set[int]] = {}
    for reply in replies:
        for name, value in ((a[0], a[1]) for a in reply["attrs"]):
            if name == "CTRL_ATTR_OP_POLICY":
                for op_label, op in ((a[0], a[1]) for a in value["attrs"]):
                    kinds = dict((a[0], a[1]) for a in op["attrs"])
                    index = kinds.get("CTRL_ATTR_POLICY_DO", kinds.get("CTRL_ATTR_POLICY_DUMP"))
                    if index is not None:
                        op_policy[_index(op_label)] = index
            elif name == "CTRL_ATTR_POLICY":
                for pol_label, pol in ((a[0], a[1]) for a in value["attrs"]):
                    attrs = policies.setdefault(_index(pol_label), set())
                    attrs.update(_index(a[0]) for a in pol["attrs"])
    return {cmd: policies.get(index, set()) for cmd, index in op_policy.items()}
