"""Length-prefixed JSON messages over TCP, each with an HMAC-SHA256 under a session key.

The session key is HMAC(psk, label | client nonce | server nonce): fresh nonces on both sides
make it new for every connection, so a message recorded from another session never
verifies. Each message carries its sequence number under the MAC, one counter per
direction, and the direction itself is in the MAC's input, so a replayed, reordered or
reflected message is refused. Python's TLS-PSK (3.13+) is not used: a TLS 1.3 PSK can be
declined into certificate authentication, and this needs nothing but the key.

A frame is: 4-byte length, 1 byte kind (0 plain, 1 tagged), the JSON body, then for kind 1
the 32-byte tag. Plain frames are only the two hellos and refusals before a session
exists; in a session a plain frame is taken only as an error to show, never as an answer.
Per-packet samples travel as base64 arrays, so results can be large: the client accepts
up to MAX_TO_CLIENT, the server no more than MAX_TO_SERVER."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import struct
from typing import Any

import numpy as np

from ..errors import InvalidValue, RxtuneError

PROTOCOL = "rxtune-control/1"
MAX_TO_SERVER = 64 * 1024
MAX_TO_CLIENT = 1 << 30
TAG_BYTES = 32
NONCE_BYTES = 32
PLAIN, TAGGED = 0, 1
_HEADER = struct.Struct("!IB")
_DIRECTION = {"client": b"client->server", "server": b"server->client"}


class ChannelError(RxtuneError):
    """The other side broke the protocol: the message is refused and the connection ends."""


class Refused(RxtuneError):
    """The other side refused, with its reason."""


def check_endpoint(option: str, address: str, valid: str, port_option: str, port: int) -> None:
    """An IPv4 address and a TCP port as a user gives them, refused naming the option."""
    try:
        socket.inet_pton(socket.AF_INET, address)
    except OSError:
        raise InvalidValue(f"{option} {address!r}", valid) from None
    if not 1 <= port <= 65535:
        raise InvalidValue(f"{port_option} {port}", "1..65535")


def session_key(psk: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    return hmac.new(psk, PROTOCOL.encode() + client_nonce + server_nonce, hashlib.sha256).digest()


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value, dtype=np.int64).tobytes()
        return {"__int64__": base64.b64encode(data).decode()}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"{type(value).__name__} does not go on the control channel")


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {"__int64__"}:
        return np.frombuffer(base64.b64decode(obj["__int64__"], validate=True), np.int64).copy()
    return obj


def _exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        chunk = sock.recv_into(view[got:], n - got)
        if not chunk:
            raise ChannelError("the connection closed in the middle of a message")
        got += chunk
    return bytes(buf)


class Channel:
    """One side of a connection. `me` is "client" or "server"; key None: the insecure lab
    mode, where frames go plain."""

    def __init__(self, sock: socket.socket, me: str, limit: int, key: bytes | None = None):
        self.sock, self.me, self.limit, self.key = sock, me, limit, key
        self.them = "server" if me == "client" else "client"
        self.sent = self.received = 0

    def _tag(self, sender: str, body: bytes) -> bytes:
        assert self.key is not None
        return hmac.new(self.key, _DIRECTION[sender] + body, hashlib.sha256).digest()

    def send_plain(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, default=_encode).encode()
        self.sock.sendall(_HEADER.pack(len(body) + 1, PLAIN) + body)

    def send(self, message: dict[str, Any]) -> None:
        if self.key is None:
            self.send_plain({**message, "seq": self.sent})
        else:
            body = json.dumps({**message, "seq": self.sent}, default=_encode).encode()
            tag = self._tag(self.me, body)
            self.sock.sendall(_HEADER.pack(len(body) + 1 + TAG_BYTES, TAGGED) + body + tag)
        self.sent += 1

    def frame(self) -> tuple[int, bytes]:
        """The next frame: (kind, body with any tag), refused when over the limit."""
        length, kind = _HEADER.unpack(_exactly(self.sock, _HEADER.size))
        if length > self.limit:
            raise ChannelError(
                f"control message of {length:,} bytes refused: the limit is {self.limit:,}"
            )
        if kind not in (PLAIN, TAGGED) or length < 1:
            raise ChannelError(f"malformed frame (kind {kind}, length {length})")
        return kind, _exactly(self.sock, length - 1)

    def receive(self) -> dict[str, Any]:
        kind, body = self.frame()
        if self.key is not None:
            if kind == PLAIN:
                said = parse(body).get("error", "a plain message in an authenticated session")
                raise Refused(f"the {self.them} said, unauthenticated: {said}")
            body, tag = body[:-TAG_BYTES], body[-TAG_BYTES:]
            if len(tag) < TAG_BYTES or not hmac.compare_digest(tag, self._tag(self.them, body)):
                raise ChannelError(
                    "message refused: its HMAC does not verify (a different key, a message "
                    "from another session, or altered on the way)"
                )
        message = parse(body)
        if message.get("seq") != self.received:
            raise ChannelError(
                f"message refused: sequence {message.get('seq')!r}, expected {self.received} "
                "(replayed or reordered)"
            )
        self.received += 1
        if message.get("type") == "error":
            raise Refused(f"the {self.them} refused: {message.get('error')}")
        return message


def parse(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body, object_hook=_decode)
    except (ValueError, UnicodeDecodeError) as error:
        raise ChannelError(f"malformed control message: {error}") from None
    if not isinstance(message, dict):
        raise ChannelError("malformed control message: not a JSON object")
    return message


def nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def hello(auth: bool, my_nonce: bytes | None) -> dict[str, Any]:
    return {
        "type": "hello",
        "protocol": PROTOCOL,
        "auth": "psk" if auth else "none",
        "nonce": my_nonce.hex() if my_nonce else None,
    }


def their_nonce(message: dict[str, Any]) -> bytes:
    try:
        value = bytes.fromhex(message["nonce"])
    except (KeyError, TypeError, ValueError):
        value = b""
    if len(value) != NONCE_BYTES:
        raise ChannelError(f"hello without a {NONCE_BYTES}-byte nonce")
    return value


def check_hello(message: dict[str, Any]) -> None:
    if message.get("type") == "error":
        raise Refused(f"refused: {message.get('error')}")
    if message.get("type") != "hello" or message.get("protocol") != PROTOCOL:
        raise ChannelError(
            f"not an rxtune control hello (expected protocol {PROTOCOL}, got "
            f"{message.get('protocol')!r})"
        )


def connect(
    address: str, port: int, key: bytes | None, timeout: float, source: str | None = None
) -> Channel:
    """A client's session with `rxtune serve`: both nonces, then the server's hello, which
    must verify under the session key (the server proves it holds the key first)."""
    try:
        sock = socket.create_connection(
            (address, port), timeout=timeout, source_address=(source, 0) if source else None
        )
    except OSError as error:
        raise RxtuneError(
            f"cannot reach rxtune serve at {address}:{port}: {error.strerror or error}"
        ) from None
    try:
        mine = nonce()
        greeting = Channel(sock, "client", MAX_TO_SERVER)  # a hello is small, whoever sends it
        greeting.send_plain(hello(key is not None, mine))
        kind, body = greeting.frame()
        answer = parse(body[:-TAG_BYTES] if kind == TAGGED else body)
        check_hello(answer)
        if key is None:
            if answer.get("auth") != "none":
                raise Refused(f"{address}:{port} needs a key: --key-file (rxtune keygen)")
            return Channel(sock, "client", MAX_TO_CLIENT)
        if answer.get("auth") != "psk" or kind != TAGGED:
            raise Refused(
                f"{address}:{port} runs without authentication (--insecure-lab): a bench "
                "with --key-file does not talk to it"
            )
        channel = Channel(
            sock, "client", MAX_TO_CLIENT, session_key(key, mine, their_nonce(answer))
        )
        tag = body[-TAG_BYTES:]
        if not hmac.compare_digest(tag, channel._tag("server", body[:-TAG_BYTES])):
            raise Refused(f"{address}:{port} holds a different key: its hello does not verify")
        if answer.get("seq") != 0:
            raise ChannelError("the server's hello is out of sequence")
        channel.received = 1
        return channel
    except BaseException:
        sock.close()
        raise
