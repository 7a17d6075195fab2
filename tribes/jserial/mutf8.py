"""Java's "modified UTF-8" (DataOutput.writeUTF, class/field names, TC_STRING).

Differences from UTF-8: U+0000 is written as ``C0 80``, and characters above U+FFFF are written
as their two UTF-16 surrogates, 3 bytes each (CESU-8), never as 4-byte sequences.  Lone
surrogates (legal in a Java String) are written as 3-byte sequences and come back as lone
surrogates in the Python `str`.

The decoder accepts what ``DataInputStream.readUTF`` accepts (including a raw 0x00 byte and
overlong 2/3-byte forms) and rejects the rest (4-byte forms, stray continuation bytes,
truncated sequences) with `MUTF8Error`.
"""

from __future__ import annotations

import re

__all__ = ["MUTF8Error", "decode", "encode", "encoded_length"]


class MUTF8Error(ValueError):
    """Bytes that are not modified UTF-8; ``position`` is the offending byte's index."""

    def __init__(self, message: str, position: int) -> None:
        self.position = position
        super().__init__(message)


_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_HIGH_BYTE = re.compile(b"[\xf0-\xff]")


def _split_surrogates(m: re.Match[str]) -> str:
    c = ord(m.group()) - 0x10000
    return chr(0xD800 | (c >> 10)) + chr(0xDC00 | (c & 0x3FF))


def encode(s: str) -> bytes:
    """Encode `s` as modified UTF-8 (without the u2 length prefix)."""
    # (`0 in b` is an order of magnitude faster than `b"\x00" in b` on CPython.)
    if s.isascii():
        b = s.encode("ascii")
        return b.replace(b"\x00", b"\xc0\x80") if 0 in b else b
    if _NON_BMP.search(s) is not None:
        s = _NON_BMP.sub(_split_surrogates, s)
    b = s.encode("utf-8", "surrogatepass")
    return b.replace(b"\x00", b"\xc0\x80") if 0 in b else b


def encoded_length(s: str) -> int:
    """Length of `encode(s)`."""
    return len(encode(s))


def _merge_surrogates(s: str) -> str:
    # Pairs of surrogates become one supplementary character; lone ones stay as they are.
    return s.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


def decode(b: bytes) -> str:
    """Decode modified UTF-8 bytes (without the length prefix) into a `str`."""
    if b.isascii():
        return b.decode("ascii")
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_cesu(b)
    m = _HIGH_BYTE.search(b)
    if m is not None:
        raise MUTF8Error("4-byte UTF-8 sequence is not modified UTF-8", m.start())
    return s


def _decode_cesu(b: bytes) -> str:
    # The usual non-UTF-8 content: C0 80 for NUL and 3-byte surrogates.
    try:
        s = b.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return _decode_java(b)
    m = _HIGH_BYTE.search(b)
    if m is not None:
        raise MUTF8Error("4-byte UTF-8 sequence is not modified UTF-8", m.start())
    return _merge_surrogates(s)


def _decode_java(b: bytes) -> str:
    """Byte-by-byte decoder with exactly DataInputStream.readUTF's acceptance rules."""
    units: list[str] = []
    n = len(b)
    i = 0
    while i < n:
        c = b[i]
        if c < 0x80:
            units.append(chr(c))
            i += 1
        elif c >> 5 == 0b110:
            if i + 1 >= n:
                raise MUTF8Error("truncated 2-byte sequence", i)
            c2 = b[i + 1]
            if c2 & 0xC0 != 0x80:
                raise MUTF8Error("bad continuation byte", i + 1)
            units.append(chr(((c & 0x1F) << 6) | (c2 & 0x3F)))
            i += 2
        elif c >> 4 == 0b1110:
            if i + 2 >= n:
                raise MUTF8Error("truncated 3-byte sequence", i)
            c2 = b[i + 1]
            c3 = b[i + 2]
            if c2 & 0xC0 != 0x80 or c3 & 0xC0 != 0x80:
                raise MUTF8Error("bad continuation byte", i + 1)
            units.append(chr(((c & 0x0F) << 12) | ((c2 & 0x3F) << 6) | (c3 & 0x3F)))
            i += 3
        else:
            raise MUTF8Error(f"byte {c:#04x} cannot start a modified UTF-8 sequence", i)
    return _merge_surrogates("".join(units))
