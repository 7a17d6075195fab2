"""ChannelData: the header every Tribes message carries inside its package.

Hand-written with `struct` rather than `construct`: it is parsed for every message on the hot
path, where construct costs ~10x more (see benchmarks/bench_wire.py).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from ..errors import ProtocolError
from .framing import END, START, encode_package
from .member import Member, decode_member

_OPTS_TS = struct.Struct(">iq")
_INT = struct.Struct(">i")
#: Package start marker, package length, then ChannelData options, timestamp, uniqueId length.
_FRAME_HEAD = struct.Struct(">7sIiqi")
#: Cap on the message uniqueId length (Tomcat always writes 16).
MAX_UNIQUE_ID = 256


def new_unique_id() -> bytes:
    """A message id like `UUIDGenerator.randomUUID(false)`: 16 random bytes, RFC 4122 v4 bits."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return bytes(b)


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

    def encode(self) -> bytes:
        """The ChannelData bytes (package data, unframed)."""
        mb = self.member_bytes or self.member.to_bytes()
        return encode_channel_data(self.options, self.timestamp, self.unique_id, mb, self.message)

    def frame(self) -> bytes:
        """The whole package as written on a TCP connection."""
        mb = self.member_bytes or self.member.to_bytes()
        uid = self.unique_id
        msg = self.message
        try:
            # One join instead of encode() + encode_package() (one copy of the message less).
            return b"".join(
                (
                    _FRAME_HEAD.pack(
                        START,
                        len(uid) + len(mb) + len(msg) + 24,
                        self.options,
                        self.timestamp,
                        len(uid),
                    ),
                    uid,
                    _INT.pack(len(mb)),
                    mb,
                    _INT.pack(len(msg)),
                    msg,
                    END,
                )
            )
        except Exception:  # the two-step way raises the canonical error
            return encode_package(self.encode())


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


def decode_channel_data(data: bytes) -> ChannelData:
    """Parse package data; lengths are checked against what is actually there."""
    n = len(data)
    if n < 24:
        raise ProtocolError(f"ChannelData of {n} bytes is shorter than its 24-byte minimum", 0)
    options, timestamp = _OPTS_TS.unpack_from(data, 0)
    pos = 12
    ulen = _INT.unpack_from(data, pos)[0]
    pos += 4
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
    try:
        member = decode_member(member_bytes)
    except ProtocolError as e:
        raise ProtocolError(f"bad sender member: {e}", 16 + ulen + 4) from None
    return ChannelData(options, timestamp, unique_id, member, data[pos:], member_bytes)
