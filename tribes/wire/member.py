"""MemberImpl binary form: how every Tribes node describes itself on the wire.

The layout is declared with `construct`; members are parsed once per distinct byte string
(every message of a peer repeats its cached member bytes) so its speed does not matter.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import construct as c

from ..errors import ProtocolError

BEGIN = b"TRIBES-B\x01\x00"
END = b"TRIBES-E\x01\x00"
#: `Member.SHUTDOWN_PAYLOAD`: the command of a member that is leaving.
SHUTDOWN_COMMAND = b"BABY-ALEX"
#: A pytribes node's member `payload` starts with this, then its version (``pytribes/0.1.0``).
#: Tribes never reads the payload (TRIBES.md §3.1-3.2): Tomcat keeps and re-sends it; other
#: pytribes nodes tell a pytribes peer from a Tomcat by it.
PYTRIBES_PAYLOAD_PREFIX = b"pytribes/"
#: Bytes of the body besides the variable parts (alive..udpPort, hl, cl, dl, uniqueId, pl).
_FIXED_BODY = 8 + 4 + 4 + 4 + 1 + 4 + 4 + 16 + 4

MEMBER_LAYOUT = c.Struct(
    "begin" / c.Const(BEGIN),
    "body_length"
    / c.Rebuild(
        c.Int32sb,
        lambda ctx: (
            _FIXED_BODY + len(ctx.host) + len(ctx.command) + len(ctx.domain) + len(ctx.payload)
        ),
    ),
    "alive" / c.Int64sb,
    "port" / c.Int32sb,
    "secure_port" / c.Int32sb,
    "udp_port" / c.Int32sb,
    "host" / c.Prefixed(c.Int8sb, c.GreedyBytes),
    "command" / c.Prefixed(c.Int32sb, c.GreedyBytes),
    "domain" / c.Prefixed(c.Int32sb, c.GreedyBytes),
    "unique_id" / c.Bytes(16),
    "payload" / c.Prefixed(c.Int32sb, c.GreedyBytes),
    "end" / c.Const(END),
)


@dataclass(frozen=True, slots=True)
class Member:
    """One cluster member; identity is host bytes + port + uniqueId, as in MemberImpl.equals."""

    host: bytes
    port: int
    unique_id: bytes = bytes(16)
    alive: int = 0
    secure_port: int = -1
    udp_port: int = -1
    command: bytes = b""
    domain: bytes = b""
    payload: bytes = b""
    _key: tuple[bytes, int, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.unique_id) != 16:
            raise ValueError("a member uniqueId is exactly 16 bytes")
        if len(self.host) > 127:
            raise ValueError("a member host is at most 127 bytes")
        object.__setattr__(self, "_key", (self.host, self.port, self.unique_id))

    @classmethod
    def at(cls, host: str, port: int, unique_id: bytes = bytes(16), **kw: Any) -> Member:
        """A member for an IP address given as text."""
        return cls(ipaddress.ip_address(host).packed, port, unique_id, **kw)

    @property
    def key(self) -> tuple[bytes, int, bytes]:
        """What MemberImpl.equals compares."""
        return self._key

    @property
    def host_text(self) -> str:
        """The host as an IP address string (or hex when it is neither 4 nor 16 bytes)."""
        if len(self.host) in (4, 16):
            return str(ipaddress.ip_address(self.host))
        return self.host.hex()

    @property
    def name(self) -> str:
        """`tcp://host:port` as Tomcat's logs name members."""
        host = self.host_text
        return f"tcp://{'[' + host + ']' if ':' in host else host}:{self.port}"

    @property
    def shutting_down(self) -> bool:
        """The member said it is leaving (command BABY-ALEX)."""
        return self.command == SHUTDOWN_COMMAND

    @property
    def pytribes_version(self) -> str | None:
        """The version a pytribes node announces in its payload; None for anything else."""
        if not self.payload.startswith(PYTRIBES_PAYLOAD_PREFIX):
            return None
        return self.payload[len(PYTRIBES_PAYLOAD_PREFIX) :].decode("ascii", "replace")

    def same(self, other: Member) -> bool:
        """MemberImpl.equals: host, port and uniqueId."""
        return self._key == other._key

    def with_alive(self, alive: int) -> Member:
        return replace(self, alive=alive)

    def to_bytes(self) -> bytes:
        """The MemberImpl binary form (`getData`)."""
        return encode_member(self)


@lru_cache(maxsize=256)
def encode_member(m: Member) -> bytes:
    """MemberImpl bytes; cached, since a node writes the same few members over and over."""
    return bytes(
        MEMBER_LAYOUT.build(
            {
                "alive": m.alive,
                "port": m.port,
                "secure_port": m.secure_port,
                "udp_port": m.udp_port,
                "host": m.host,
                "command": m.command,
                "domain": m.domain,
                "unique_id": m.unique_id,
                "payload": m.payload,
            }
        )
    )


def pytribes_payload(version: str | None = None) -> bytes:
    """Our member payload: ``pytribes/<version>``."""
    if version is None:
        from .. import __version__

        version = __version__
    return PYTRIBES_PAYLOAD_PREFIX + version.encode("ascii")


def decode_member(data: bytes) -> Member:
    """Parse MemberImpl bytes; every inconsistency is a ProtocolError."""
    return _decode_cached(bytes(data))


@lru_cache(maxsize=1024)
def _decode_cached(data: bytes) -> Member:
    if len(data) < 24 or not data.startswith(BEGIN):
        raise ProtocolError("member data does not start with TRIBES-B")
    body = int.from_bytes(data[10:14], "big", signed=True)
    if body < _FIXED_BODY or body + 24 != len(data):
        raise ProtocolError(f"member body length {body} does not match {len(data)} bytes", 10)
    if data[14 + body :] != END:
        raise ProtocolError("member data does not end with TRIBES-E", 14 + body)
    try:
        parsed = MEMBER_LAYOUT.parse(data)
    except c.ConstructError as e:
        raise ProtocolError(f"malformed member data: {e}") from None
    if parsed.body_length != _FIXED_BODY + len(parsed.host) + len(parsed.command) + len(
        parsed.domain
    ) + len(parsed.payload):
        raise ProtocolError("member field lengths disagree with the body length", 10)
    try:
        return Member(
            host=parsed.host,
            port=parsed.port,
            unique_id=parsed.unique_id,
            alive=parsed.alive,
            secure_port=parsed.secure_port,
            udp_port=parsed.udp_port,
            command=parsed.command,
            domain=parsed.domain,
            payload=parsed.payload,
        )
    except ValueError as e:
        raise ProtocolError(f"malformed member data: {e}") from None


def parse_unique_id(text: str) -> bytes:
    """`{1,2,...,16}` signed bytes as in `<Member uniqueId=...>` (spaces tolerated), or 32 hex."""
    t = text.strip()
    if t.startswith("{") and t.endswith("}"):
        parts = [p.strip() for p in t[1:-1].split(",")]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"bad uniqueId {text!r}") from None
        if len(values) != 16 or any(not -128 <= v <= 127 for v in values):
            raise ValueError(f"a uniqueId needs 16 signed bytes, got {text!r}")
        return bytes(v & 0xFF for v in values)
    raw = bytes.fromhex(t)
    if len(raw) != 16:
        raise ValueError(f"a uniqueId needs 16 bytes, got {text!r}")
    return raw


def format_unique_id(uid: bytes) -> str:
    """The `{..}` signed-byte syntax Tomcat's configuration and logs use."""
    return "{" + ",".join(str(b - 256 if b > 127 else b) for b in uid) + "}"
