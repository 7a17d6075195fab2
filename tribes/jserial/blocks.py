"""Block-data mode: the ``DataInput``/``DataOutput`` view of a sequence of contents.

Whatever ``writeExternal``, ``writeObject`` or code writing straight into an ObjectOutputStream
writes with ``writeInt``/``writeUTF``/``write(byte[])`` ends up in block-data records, interrupted
by nested objects.  A `BlockReader` reads such a content list (from `read_stream`, a
`JavaObject`'s ``external`` list or a `ClassData`'s ``annotations``) treating consecutive
`BlockData` records as one byte stream; a `BlockWriter` produces one with the record boundaries
Java's ``BlockDataOutputStream`` would use (1024-byte buffer, flushed when full, before every
nested object and at the end), so `write_stream(writer.items())` is byte-identical to Java.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from ..errors import SerializationError
from . import mutf8
from .constants import MAX_BLOCK_SIZE
from .model import BlockData

__all__ = ["BlockReader", "BlockWriter"]

_H2: Final = struct.Struct(">h")
_U2: Final = struct.Struct(">H")
_I4: Final = struct.Struct(">i")
_I8: Final = struct.Struct(">q")
_F4: Final = struct.Struct(">f")
_D8: Final = struct.Struct(">d")


class BlockReader:
    """Sequential reader over contents, starting at index `start` of `items`."""

    __slots__ = ("_buf", "_index", "_items", "_pos")

    def __init__(self, items: Sequence[object], start: int = 0) -> None:
        self._items = items
        self._index = start
        self._buf = b""
        self._pos = 0

    @property
    def index(self) -> int:
        """Index in `items` of the next content not yet started."""
        return self._index

    def _gather(self, n: int) -> bytes:
        """`n` bytes that continue past the current block into the following ones."""
        parts = [self._buf[self._pos :]]
        got = len(parts[0])
        items = self._items
        while got < n:
            if self._index >= len(items):
                raise SerializationError(f"end of data while reading {n} bytes of block data")
            item = items[self._index]
            if type(item) is not BlockData:
                raise SerializationError(
                    f"an object (item {self._index}) interrupts {n} bytes of block data"
                )
            self._index += 1
            data = item.data
            take = min(n - got, len(data))
            parts.append(data[:take])
            got += take
            self._buf = data
            self._pos = take
        return b"".join(parts)

    def _take(self, n: int) -> tuple[bytes, int]:
        """(buffer, offset) holding the next `n` bytes."""
        pos = self._pos
        buf = self._buf
        if pos + n <= len(buf):
            self._pos = pos + n
            return buf, pos
        return self._gather(n), 0

    def read_bytes(self, n: int) -> bytes:
        if n < 0:
            raise SerializationError(f"negative length {n}")
        buf, off = self._take(n)
        return buf[off : off + n]

    read_fully = read_bytes

    def read_byte(self) -> int:
        buf, off = self._take(1)
        b = buf[off]
        return b - 256 if b > 127 else b

    def read_unsigned_byte(self) -> int:
        buf, off = self._take(1)
        return buf[off]

    def read_bool(self) -> bool:
        buf, off = self._take(1)
        return buf[off] != 0

    def read_short(self) -> int:
        buf, off = self._take(2)
        v: int = _H2.unpack_from(buf, off)[0]
        return v

    def read_unsigned_short(self) -> int:
        buf, off = self._take(2)
        v: int = _U2.unpack_from(buf, off)[0]
        return v

    def read_char(self) -> str:
        return chr(self.read_unsigned_short())

    def read_int(self) -> int:
        buf, off = self._take(4)
        v: int = _I4.unpack_from(buf, off)[0]
        return v

    def read_long(self) -> int:
        buf, off = self._take(8)
        v: int = _I8.unpack_from(buf, off)[0]
        return v

    def read_float(self) -> float:
        buf, off = self._take(4)
        v: float = _F4.unpack_from(buf, off)[0]
        return v

    def read_double(self) -> float:
        buf, off = self._take(8)
        v: float = _D8.unpack_from(buf, off)[0]
        return v

    def read_utf(self) -> str:
        """``readUTF``: u2 length + modified UTF-8 (may straddle blocks)."""
        n = self.read_unsigned_short()
        b = self.read_bytes(n)
        try:
            return mutf8.decode(b)
        except mutf8.MUTF8Error as e:
            raise SerializationError(f"bad modified UTF-8 in readUTF: {e}") from None

    def _skip_empty(self) -> None:
        items = self._items
        while self._index < len(items):
            item = items[self._index]
            if type(item) is not BlockData or item.data:
                return
            self._index += 1

    def read_object(self) -> object:
        """The next content, which must be an object (not block data)."""
        if self._pos < len(self._buf):
            raise SerializationError(
                f"{len(self._buf) - self._pos} bytes of block data left where an object was "
                "expected"
            )
        self._skip_empty()
        if self._index >= len(self._items):
            raise SerializationError("end of data where an object was expected")
        item = self._items[self._index]
        if type(item) is BlockData:
            raise SerializationError(
                f"block data (item {self._index}) where an object was expected"
            )
        self._index += 1
        self._buf = b""
        self._pos = 0
        return item

    def at_end(self) -> bool:
        """No bytes and no contents left."""
        if self._pos < len(self._buf):
            return False
        self._skip_empty()
        return self._index >= len(self._items)

    def block_remaining(self) -> int:
        """Bytes left in the current run of block records before the next object or the end."""
        n = len(self._buf) - self._pos
        items = self._items
        i = self._index
        while i < len(items):
            item = items[i]
            if type(item) is not BlockData:
                break
            n += len(item.data)
            i += 1
        return n


class BlockWriter:
    """Collects primitive writes and objects into content items with Java's block boundaries."""

    __slots__ = ("_buf", "_items")

    def __init__(self) -> None:
        self._items: list[object] = []
        self._buf = bytearray()

    def _flush(self) -> None:
        buf = self._buf
        if not buf:
            return
        items = self._items
        for i in range(0, len(buf), MAX_BLOCK_SIZE):
            items.append(BlockData(bytes(buf[i : i + MAX_BLOCK_SIZE])))
        buf.clear()

    def _pack(self, st: struct.Struct, v: object, what: str) -> None:
        try:
            self._buf += st.pack(v)
        except struct.error as e:
            raise SerializationError(f"cannot write {v!r} as a Java {what}: {e}") from None

    def write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    write = write_bytes

    def write_byte(self, v: int) -> None:
        if not -128 <= v <= 255:
            raise SerializationError(f"cannot write {v!r} as a Java byte")
        self._buf.append(v & 0xFF)

    def write_bool(self, v: bool) -> None:
        self._buf.append(1 if v else 0)

    def write_short(self, v: int) -> None:
        if not -0x8000 <= v <= 0xFFFF:
            raise SerializationError(f"cannot write {v!r} as a Java short")
        self._buf += _U2.pack(v & 0xFFFF)

    def write_char(self, c: str | int) -> None:
        self.write_short(ord(c) if isinstance(c, str) else c)

    def write_int(self, v: int) -> None:
        self._pack(_I4, v, "int")

    def write_long(self, v: int) -> None:
        self._pack(_I8, v, "long")

    def write_float(self, v: float) -> None:
        self._pack(_F4, v, "float")

    def write_double(self, v: float) -> None:
        self._pack(_D8, v, "double")

    def write_utf(self, s: str) -> None:
        """``writeUTF``: u2 length + modified UTF-8; more than 65535 bytes is an error (as in
        Java's UTFDataFormatException)."""
        b = mutf8.encode(s)
        if len(b) > 0xFFFF:
            raise SerializationError(f"writeUTF of {len(b)} encoded bytes (max 65535)")
        self._buf += _U2.pack(len(b))
        self._buf += b

    def write_object(self, obj: object) -> None:
        """A nested object: flushes pending block data first, as Java does."""
        self._flush()
        self._items.append(obj)

    def items(self) -> list[object]:
        """The contents so far (pending block data flushed)."""
        self._flush()
        return list(self._items)
