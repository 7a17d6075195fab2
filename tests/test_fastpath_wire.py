"""Fast paths of the wire layer against the general code they shortcut.

- `FrameDecoder.feed` takes whole packages straight out of a `bytes` chunk when nothing is
  buffered; fed the same bytes as `bytearray` chunks it always runs the buffered code.  Both
  must return the same packages, keep the same offsets and buffer, and fail alike.
- `ChannelData.frame` builds the package in one join; it must equal
  `encode_package(ChannelData.encode())`, errors included.
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tribes.errors import FramingError
from tribes.wire import ChannelData, FrameDecoder, Member, encode_package

packages = st.lists(st.binary(max_size=300), max_size=5)


def _junk(data: st.DataObject, b: bytes) -> bytes:
    """Sometimes corrupt a byte (markers, lengths), sometimes cut the end."""
    if not b or data.draw(st.integers(0, 3)):
        return b
    m = bytearray(b)
    i = data.draw(st.integers(0, len(m) - 1))
    if data.draw(st.booleans()):
        m[i] ^= 1 << data.draw(st.integers(0, 7))
    else:
        del m[i:]
    return bytes(m)


def run(dec: FrameDecoder, chunks: list[bytes], kind: Any) -> list[Any]:
    trace: list[Any] = []
    for c in chunks:
        try:
            trace.append(("ok", dec.feed(kind(c))))
        except FramingError as e:
            trace.append(("err", str(e), e.offset))
        trace.append((dec.offset, dec.buffered))
    return trace


@settings(max_examples=500, deadline=None)
@given(packages, st.data(), st.integers(0, 400))
def test_feed_fast_vs_buffered(datas: list[bytes], data: st.DataObject, limit: int) -> None:
    stream = _junk(data, b"".join(encode_package(d) for d in datas))
    if data.draw(st.booleans()):
        stream += data.draw(st.binary(max_size=12))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    max_package = limit if data.draw(st.booleans()) else 8 << 20
    fast = run(FrameDecoder(max_package), chunks, bytes)
    slow = run(FrameDecoder(max_package), chunks, bytearray)
    assert fast == slow


def test_feed_returns_bytes_and_keeps_the_tail() -> None:
    a, b = encode_package(b"one"), encode_package(b"two")
    dec = FrameDecoder()
    assert dec.feed(a + b + b[:5]) == [b"one", b"two"]
    assert dec.buffered == 5 and dec.offset == len(a) + len(b)
    got = dec.feed(b[5:])
    assert got == [b"two"] and all(type(x) is bytes for x in got)


members = st.builds(
    Member,
    st.binary(min_size=4, max_size=4),
    st.integers(0, 65535),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**40),
)


def outcome(fn: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn())
    except Exception as e:  # both ways must fail alike
        return ("err", type(e), str(e))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(), st.just("x")),
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers()),
    st.one_of(st.binary(max_size=20), st.just("not bytes")),
    members,
    st.binary(max_size=200),
    st.binary(max_size=30),
)
def test_frame_fast_vs_two_step(
    options: Any, ts: Any, uid: Any, member: Member, msg: bytes, member_bytes: bytes
) -> None:
    cd = ChannelData(options, ts, uid, member, msg, member_bytes)
    assert outcome(cd.frame) == outcome(lambda: encode_package(cd.encode()))


def test_frame_huge_length_refused_alike() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return 2**32

    cd = ChannelData(0, 0, b"", Member(b"\x7f\x00\x00\x01", 4000), Huge(b"x"))
    assert outcome(cd.frame)[:2] == outcome(lambda: encode_package(cd.encode()))[:2]
    assert struct.calcsize(">7sIiqi") == 27
