"""XByteBuffer packages: `FLT2002` + int32 length + data + `TLF2003`.

`FrameDecoder` is fed arbitrary chunks and returns complete package payloads.  Unlike Tomcat's
receiver, which buffers without limit and wedges silently on garbage, it checks the start marker
byte by byte, refuses a claimed length over `max_package` before buffering anything, and raises
a `FramingError` naming the stream offset.
"""

from __future__ import annotations

import struct

from ..errors import FramingError

START = b"FLT2002"
END = b"TLF2003"
HEADER = len(START) + 4
OVERHEAD = HEADER + len(END)

#: `transport.Constants.ACK_DATA` / `FAIL_ACK_DATA`: the only bytes a receiver writes back.
ACK_DATA = b"\x06\x02\x03"
FAIL_ACK_DATA = b"\x0b\x00\x05"

_I4 = struct.Struct(">i")

#: Default cap on one package's data.  Tomcat has none, and it sends a whole state transfer as one
#: ALL_SESSION_DATA message (12.7 MB for 100,000 small sessions), so the cap must hold that; it
#: costs nothing up front: bytes are buffered as they arrive, never because a length claims them.
DEFAULT_MAX_PACKAGE = 128 << 20


def encode_package(data: bytes | bytearray | memoryview) -> bytes:
    """Frame `data` as one package."""
    return b"".join((START, len(data).to_bytes(4, "big"), data, END))


ACK = encode_package(ACK_DATA)
FAIL_ACK = encode_package(FAIL_ACK_DATA)


class FrameDecoder:
    """Incremental package decoder for one direction of one TCP connection."""

    __slots__ = ("_broken", "_buf", "_consumed", "max_package")

    def __init__(self, max_package: int = DEFAULT_MAX_PACKAGE) -> None:
        self.max_package = max_package
        self._buf = bytearray()
        self._consumed = 0  # stream offset of _buf[0]
        self._broken: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete package (bounded by max_package + overhead + a chunk)."""
        return len(self._buf)

    @property
    def offset(self) -> int:
        """Stream offset of the next byte not yet part of a returned package."""
        return self._consumed

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        """Add bytes; return the data of every package completed by them, in order."""
        if self._broken is not None:
            raise self._broken
        if not self._buf and type(chunk) is bytes:
            # Fast path, nothing buffered: take the whole packages straight out of the chunk
            # (no copy into the buffer and back); anything else goes the buffered way below.
            n = len(chunk)
            out: list[bytes] = []
            pos = 0
            max_package = self.max_package
            while n - pos >= OVERHEAD and chunk.startswith(START, pos):
                length = _I4.unpack_from(chunk, pos + 7)[0]
                end = pos + HEADER + length
                if length < 0 or length > max_package or n < end + 7:
                    break
                if not chunk.startswith(END, end):
                    break
                out.append(chunk[pos + HEADER : end])
                pos = end + 7
            if pos:
                self._consumed += pos
                if pos == n:
                    return out
                out += self._feed(memoryview(chunk)[pos:])
                return out
        return self._feed(chunk)

    def _feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        buf = self._buf
        buf += chunk
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        try:
            while True:
                avail = n - pos
                if avail < HEADER:
                    if avail and buf[pos : pos + min(avail, 7)] != START[: min(avail, 7)]:
                        raise self._error("bad package start marker", pos)
                    break
                if buf[pos : pos + 7] != START:
                    raise self._error("bad package start marker", pos)
                length = int.from_bytes(buf[pos + 7 : pos + 11], "big", signed=True)
                if length < 0:
                    raise self._error(f"negative package length {length}", pos + 7)
                if length > self.max_package:
                    raise self._error(
                        f"package length {length} exceeds the limit {self.max_package}", pos + 7
                    )
                end = pos + HEADER + length
                if n < end + 7:
                    break
                if buf[end : end + 7] != END:
                    raise self._error("bad package end marker", end)
                out.append(bytes(buf[pos + HEADER : end]))
                pos = end + 7
        finally:
            if pos:
                del buf[:pos]
                self._consumed += pos
        return out

    def _error(self, message: str, pos: int) -> FramingError:
        self._broken = FramingError(message, self._consumed + pos)
        return self._broken
