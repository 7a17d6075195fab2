"""Wire layer against the TRIBES.md Appendix A vectors (bytes real Tomcat 10.1.60 produced)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tribes.errors import FramingError, ProtocolError
from tribes.wire import (
    ACK,
    FAIL_ACK,
    ChannelData,
    FrameDecoder,
    Member,
    SendOptions,
    decode_channel_data,
    decode_member,
    encode_package,
    format_unique_id,
    new_unique_id,
    option_names,
    parse_send_options,
    parse_unique_id,
)
from tribes.wire.options import ack_after_processing, ack_before_processing

UID = bytes(range(0x10, 0x20))
MSG_UID = bytes(range(0xA0, 0xB0))

# TRIBES.md A.1: MemberImpl 127.0.0.1:4000, alive 0x1234 (made by MemberImpl.getData).
A1 = bytes.fromhex(
    "5452494245532d42010000000035000000000000123400000fa0ffffffffffffffff047f00000100000000"
    "00000000101112131415161718191a1b1c1d1e1f000000005452494245532d450100"
)
# A.2: 10.0.0.2:4001, command BABY-ALEX, domain "dom", payload 01 02 03, uniqueId a0..af.
A2 = bytes.fromhex(
    "5452494245532d42010000000044000000000000123400000fa1ffffffffffffffff040a00000200000009"
    "424142592d414c455800000003646f6da0a1a2a3a4a5a6a7a8a9aaabacadaeaf00000003010203"
    "5452494245532d450100"
)
# A.3: a whole frame, options 3, ts 0x18C2B3C4D5E, address A.1, payload "hello".
A3 = (
    bytes.fromhex(
        "464c54323030320000007a000000030000018c2b3c4d5e00000010a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
        "0000004d"
    )
    + A1
    + bytes.fromhex("0000000568656c6c6f544c4632303033")
)


def test_member_vectors_decode_and_encode() -> None:
    m = decode_member(A1)
    assert (m.host_text, m.port, m.unique_id, m.alive) == ("127.0.0.1", 4000, UID, 0x1234)
    assert (m.secure_port, m.udp_port, m.command, m.domain, m.payload) == (-1, -1, b"", b"", b"")
    assert m.to_bytes() == A1
    m2 = decode_member(A2)
    assert m2.host_text == "10.0.0.2" and m2.port == 4001 and m2.shutting_down
    assert (m2.domain, m2.payload, m2.unique_id) == (b"dom", b"\x01\x02\x03", MSG_UID)
    assert m2.to_bytes() == A2


def test_member_ipv6_round_trip() -> None:
    m = Member.at("::1", 4000, UID, alive=5)
    assert decode_member(m.to_bytes()) == m
    assert m.name == "tcp://[::1]:4000"


def test_frame_vector() -> None:
    [data] = FrameDecoder().feed(A3)
    cd = decode_channel_data(data)
    assert cd.options == SendOptions.BYTE_MESSAGE | SendOptions.USE_ACK
    assert cd.timestamp == 0x18C2B3C4D5E and cd.unique_id == MSG_UID
    assert cd.member == decode_member(A1) and cd.message == b"hello"
    assert ChannelData(3, 0x18C2B3C4D5E, MSG_UID, decode_member(A1), b"hello").frame() == A3


def test_ack_vectors() -> None:
    # A.4, as real Tomcat writes them.
    assert bytes.fromhex("464c543230303200000003060203544c4632303033") == ACK
    assert bytes.fromhex("464c5432303032000000030b0005544c4632303033") == FAIL_ACK


def test_ack_rules() -> None:
    assert ack_before_processing(2) and not ack_after_processing(2)
    assert ack_after_processing(6) and not ack_before_processing(6)
    assert not ack_before_processing(4) and not ack_after_processing(4)
    assert not ack_before_processing(8) and not ack_after_processing(8)


def test_options_parse_and_names() -> None:
    assert parse_send_options("6") == 6
    assert parse_send_options("use_ack, sync") == 6
    assert parse_send_options("async") == 8
    assert option_names(6) == ["USE_ACK", "SYNCHRONIZED_ACK"]
    assert option_names(0x1000 | 1) == ["BYTE_MESSAGE", "0x1000"]
    with pytest.raises(ValueError):
        parse_send_options("fast")


def test_unique_id_syntax() -> None:
    uid = parse_unique_id("{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-11}")
    assert uid == bytes(15) + b"\xf5"
    assert format_unique_id(uid) == "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-11}"
    with pytest.raises(ValueError):
        parse_unique_id("{1,2}")


def test_decoder_one_byte_at_a_time_and_many_per_chunk() -> None:
    stream = A3 + ACK + A3
    d = FrameDecoder()
    got: list[bytes] = []
    for i in range(len(stream)):
        got += d.feed(stream[i : i + 1])
    assert [len(g) for g in got] == [122, 3, 122]
    assert FrameDecoder().feed(stream) == got
    assert d.buffered == 0 and d.offset == len(stream)


def test_decoder_errors_name_the_offset() -> None:
    d = FrameDecoder()
    d.feed(A3)
    with pytest.raises(FramingError, match=r"start marker \(at offset 140\)"):
        d.feed(b"XLT")
    with pytest.raises(FramingError):  # stays broken
        d.feed(A3)
    with pytest.raises(FramingError, match="exceeds the limit"):
        FrameDecoder(max_package=1000).feed(b"FLT2002\x7f\xff\xff\xff")
    with pytest.raises(FramingError, match="negative"):
        FrameDecoder().feed(b"FLT2002\xff\xff\xff\xf0")
    with pytest.raises(FramingError, match=r"end marker \(at offset 14\)"):
        FrameDecoder().feed(b"FLT2002\x00\x00\x00\x03abcTLF2004")


def test_decoder_refuses_claimed_length_before_buffering() -> None:
    d = FrameDecoder(max_package=1 << 20)
    with pytest.raises(FramingError):
        d.feed(b"FLT2002" + (2**31 - 1).to_bytes(4, "big"))
    assert d.buffered < 64


def test_channel_data_rejects_bad_lengths() -> None:
    data = A3[11:-7]
    for cut in (0, 10, 30, 100, len(data) - 1):
        with pytest.raises(ProtocolError):
            decode_channel_data(data[:cut])
    with pytest.raises(ProtocolError, match="member length"):
        decode_channel_data(data[:32] + b"\x00\x00\x00\x00" + data[36:])
    with pytest.raises(ProtocolError):
        decode_channel_data(data + b"x")


def test_new_unique_id_is_a_random_v4_uuid() -> None:
    ids = {new_unique_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(b) == 16 and b[6] >> 4 == 4 and b[8] >> 6 == 0b10 for b in ids)


@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=20))
def test_decoder_on_garbage_only_raises_framing_errors(junk: bytes, cuts: list[int]) -> None:
    d = FrameDecoder(max_package=4096)
    pos = 0
    try:
        for c in [*cuts, len(junk)]:
            for pkg in d.feed(junk[pos : pos + c]):
                decode_channel_data(pkg)
            pos += c
    except ProtocolError:
        pass
    assert d.buffered <= 4096 + 18 + 300


@given(st.binary(max_size=2000), st.integers(0, 255), st.integers(0, 139))
def test_corrupted_frames_raise_protocol_errors(payload: bytes, value: int, where: int) -> None:
    frame = bytearray(ChannelData(6, 1, MSG_UID, decode_member(A1), payload).frame())
    frame[where % len(frame)] = value
    try:
        for pkg in FrameDecoder().feed(bytes(frame)):
            cd = decode_channel_data(pkg)
            assert isinstance(cd.message, bytes)
    except ProtocolError:
        pass


@given(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.binary(min_size=16, max_size=16),
    st.binary(max_size=100),
    st.binary(max_size=40),
)
def test_channel_data_round_trip(options: int, ts: int, uid: bytes, msg: bytes, cmd: bytes) -> None:
    m = Member(b"\x7f\x00\x00\x0b", 4000, uid, alive=ts & 0xFFFF, command=cmd)
    cd = ChannelData(options, ts, uid, m, msg)
    [pkg] = FrameDecoder().feed(cd.frame())
    back = decode_channel_data(pkg)
    assert (back.options, back.timestamp, back.unique_id, back.member, back.message) == (
        options,
        ts,
        uid,
        m,
        msg,
    )
    assert encode_package(pkg) == cd.frame()
