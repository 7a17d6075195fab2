"""ChannelData: the header every Tribes message carries inside its package.

Hand-written with `struct` rather than `construct`: it is parsed for every message on the hot
path, where construct costs ~10x more (see benchmarks/bench_wire.py).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from ..errors import ProtocolError
from .framing import END, START, encode_package
from .member import Member, decode_member

_OPTS_TS = struct.Struct(">iq")
_INT = struct.Struct(">i")
#: Options, timestamp, uniqueId length.
_HEAD = struct.Struct(">iqi")
#: Package start marker, package length, then ChannelData options, timestamp, uniqueId length.
_FRAME_HEAD = struct.Struct(">7sIiqi")
#: Cap on the message uniqueId length (Tomcat always writes 16).
MAX_UNIQUE_ID = 256


#: The RFC 4122 version 4 bits of a uniqueId as a 128-bit big-endian number: kept, then set.
_V4_KEEP = ~((0xF0 << 72) | (0xC0 << 56)) & ((1 << 128) - 1)
_V4_SET = (0x40 << 72) | (0x80 << 56)


def new_unique_id() -> bytes:
    """A message id like `UUIDGenerator.randomUUID(false)`: 16 random bytes, RFC 4122 v4 bits.
    Not secret, so `random` (Tomcat uses java.util.Random) rather than a syscall per message."""
    return ((random.getrandbits(128) & _V4_KEEP) | _V4_SET).to_bytes(16, "big")


_last_member: tuple[Member | None, bytes] = (None, b"")


@dataclass(slots=True)
class ChannelData:
    """One message: options, sender timestamp (ms), uniqueId, sender member, payload."""

    options: int
    timestamp: int
    unique_id: bytes
    member: Member
    message: bytes
    #: The sender's member bytes exactly as received (re-emitted unchanged when relaying).
    member_bytes: bytes = b""

    def _member_bytes(self) -> bytes:
        """The sender's member bytes: as received, else encoded (the last one kept: a node
        writes its own member over and over, and hashing a Member for the encoder's cache costs
        more than the rest of the frame)."""
        global _last_member
        if self.member_bytes:
            return self.member_bytes
        last = _last_member  # (one tuple: read and replaced atomically)
        if last[0] is not self.member:
            last = _last_member = (self.member, self.member.to_bytes())
        return last[1]

    def encode(self) -> bytes:
        """The ChannelData bytes (package data, unframed)."""
        mb = self._member_bytes()
        return encode_channel_data(self.options, self.timestamp, self.unique_id, mb, self.message)

    def frame(self) -> bytes:
        """The whole package as written on a TCP connection."""
        try:
            return frame_channel_data(
                self.options, self.timestamp, self.unique_id, self._member_bytes(), self.message
            )
        except Exception:  # the two-step way raises the canonical error
            return encode_package(self.encode())


def frame_channel_data(
    options: int,
    timestamp: int,
    unique_id: bytes,
    member_bytes: bytes,
    message: bytes | bytearray | memoryview,
) -> bytes:
    """`encode_package(encode_channel_data(...))` in one join: one copy of the message, not two
    (the send path frames every message with it)."""
    u = len(unique_id)
    a = len(member_bytes)
    m = len(message)
    return b"".join(
        (
            _FRAME_HEAD.pack(START, 24 + u + a + m, options, timestamp, u),
            unique_id,
            _INT.pack(a),
            member_bytes,
            _INT.pack(m),
            message,
            END,
        )
    )


def encode_channel_data(
    options: int, timestamp: int, unique_id: bytes, member_bytes: bytes, message: bytes
) -> bytes:
    return b"".join(
        (
            _OPTS_TS.pack(options, timestamp),
            _INT.pack(len(unique_id)),
            unique_id,
            _INT.pack(len(member_bytes)),
            member_bytes,
            _INT.pack(len(message)),
            message,
        )
    )


#: Senders' member bytes -> Member: every message of a peer repeats the same bytes.  Bounded:
#: cleared when full.
_MEMBERS: dict[bytes, Member] = {}
_MEMBERS_MAX = 1024


def decode_channel_data(data: bytes) -> ChannelData:
    """Parse package data; lengths are checked against what is actually there."""
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n < 24:
        raise ProtocolError(f"ChannelData of {n} bytes is shorter than its 24-byte minimum", 0)
    options, timestamp, ulen = _HEAD.unpack_from(data)
    pos = 16
    if ulen < 0 or ulen > MAX_UNIQUE_ID or pos + ulen + 8 > n:
        raise ProtocolError(f"bad ChannelData uniqueId length {ulen}", 12)
    unique_id = data[pos : pos + ulen]
    pos += ulen
    alen = _INT.unpack_from(data, pos)[0]
    pos += 4
    if alen <= 0 or pos + alen + 4 > n:
        raise ProtocolError(f"bad ChannelData member length {alen}", pos - 4)
    member_bytes = data[pos : pos + alen]
    pos += alen
    mlen = _INT.unpack_from(data, pos)[0]
    pos += 4
    if mlen < 0 or pos + mlen != n:
        raise ProtocolError(f"ChannelData message length {mlen} does not fill the package", pos - 4)
    member = _MEMBERS.get(member_bytes)
    if member is None:
        try:
            member = decode_member(member_bytes)
        except ProtocolError as e:
            raise ProtocolError(f"bad sender member: {e}", 16 + ulen + 4) from None
        if len(_MEMBERS) >= _MEMBERS_MAX:
            _MEMBERS.clear()
        _MEMBERS[member_bytes] = member
    return ChannelData(options, timestamp, unique_id, member, data[pos:], member_bytes)
