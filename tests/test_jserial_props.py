"""Property tests of the Java serialization codec (hypothesis).

* natural values → dumps → loads gives equal values of the same Java types, and re-serializes
  to the same bytes;
* truncated, corrupted and mutated versions of valid streams (real Java output) raise only
  ProtocolError subclasses;
* huge claimed lengths and counts raise LimitExceeded at once, without allocating.
"""

from __future__ import annotations

import contextlib
import struct
import time
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_jserial_java import vector
from tests.test_jserial_tribes import (
    A5_SESSION_MESSAGE,
    A6_DELTA_REQUEST,
    A7_RPC_PING_10_1,
    A9_ALL_SESSION_DATA_10_1,
)
from tribes.errors import LimitExceeded, ProtocolError, SerializationError
from tribes.jserial import (
    JByte,
    JCharacter,
    JDouble,
    JFloat,
    JHashSet,
    JInteger,
    JLinkedHashMap,
    JLinkedList,
    JLong,
    JShort,
    JTreeMap,
    Limits,
    dumps,
    java_type_name,
    loads,
    read_stream,
    write_stream,
)
from tribes.jserial.values import millis_to_date

# --------------------------------------------------------------------------------------------
# Natural values round trip


def _merge_pairs(s: str) -> str:
    # A high+low surrogate pair in a Python str *is* the supplementary character to Java.
    return s.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


texts = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    max_size=40,
).map(_merge_pairs)
keys = st.one_of(texts, st.integers(-(2**63), 2**63 - 1), st.none(), st.booleans())
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    texts,
    st.binary(max_size=64),
    st.integers(-(2**31), 2**31 - 1).map(JInteger),
    st.integers(-(2**63), 2**63 - 1).map(JLong),
    st.integers(-(2**15), 2**15 - 1).map(JShort),
    st.integers(-128, 127).map(JByte),
    st.floats(width=32, allow_nan=False).map(JFloat),
    st.floats(allow_nan=False).map(JDouble),
    st.integers(0, 0xFFFF).map(JCharacter),
    st.integers(-62135596800000, 253402300799999).map(millis_to_date),
    st.lists(st.one_of(texts, st.none()), max_size=5).map(tuple),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(JLinkedList),
        st.dictionaries(keys, inner, max_size=5),
        st.dictionaries(texts, inner, max_size=5).map(JLinkedHashMap),
        st.dictionaries(texts, inner, max_size=5).map(JTreeMap),
        st.sets(st.one_of(texts, st.integers(-(2**31), 2**31 - 1)), max_size=5),
    ),
    max_leaves=25,
)


def _shape(v: Any) -> Any:
    """Java type names all the way down (type preservation)."""
    name = java_type_name(v)
    if isinstance(v, dict):
        return name, sorted((repr(_shape(k)), repr(_shape(x))) for k, x in v.items())
    if isinstance(v, list | tuple):
        return name, [_shape(x) for x in v]
    if isinstance(v, set | frozenset | JHashSet):
        return name, sorted(repr(_shape(x)) for x in v)
    return name


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_natural_values_round_trip(v: Any) -> None:
    data = dumps(v)
    back = loads(data)
    assert back == v
    assert _shape(back) == _shape(v)
    assert dumps(back) == data


@settings(max_examples=100)
@given(st.lists(values, max_size=6))
def test_streams_of_values_round_trip(vs: list[Any]) -> None:
    data = write_stream(vs)
    back = read_stream(data)
    assert back == vs
    assert write_stream(back) == data


def test_datetime_round_trip_is_millisecond_precise() -> None:
    d = datetime.fromisoformat("2024-02-29T12:34:56.789999+00:00")
    assert loads(dumps(d)) == datetime.fromisoformat("2024-02-29T12:34:56.789+00:00")


# --------------------------------------------------------------------------------------------
# Malformed input: only ProtocolError


SEEDS = [
    A5_SESSION_MESSAGE,
    A6_DELTA_REQUEST,
    A7_RPC_PING_10_1,
    A9_ALL_SESSION_DATA_10_1,
    *(
        vector(n)
        for n in (
            "custom",
            "ext",
            "exception",
            "hashmap13",
            "arrays",
            "enums",
            "proxy",
            "cycle",
            "classes",
            "boxes_distinct",
            "string_special",
            "nested",
            "linkedhashset",
            "treemap",
            "date",
        )
    ),
]


def _read_all_ways(data: bytes) -> None:
    for natural in (True, False):
        try:
            items = read_stream(data, natural=natural)
        except ProtocolError:
            pass
        else:
            # Whatever was read must be writable or refused cleanly.
            with contextlib.suppress(SerializationError):
                write_stream(items)
        with contextlib.suppress(ProtocolError):
            loads(data, natural=natural)


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_every_truncation(seed: int) -> None:
    data = SEEDS[seed]
    for n in range(len(data)):
        _read_all_ways(data[:n])


#: Byte values a mutation writes: the stream's type codes (TC_*), 0x00 and 0xFF.
TYPE_CODES = [0x00, *range(0x70, 0x76), *range(0x77, 0x80), 0xFF]  # TC_* but TC_CLASS (0x76)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutations_raise_only_protocol_errors(data: st.DataObject) -> None:
    b = bytearray(data.draw(st.sampled_from(SEEDS)))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "dup"]))
        i = data.draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            b[i] = data.draw(st.sampled_from(TYPE_CODES))
        elif op == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=6))
        elif op == "delete":
            del b[i : i + data.draw(st.integers(1, 8))]
        else:
            j = data.draw(st.integers(i, min(len(b), i + 16)))
            b[j:j] = b[i:j]
        if not b:
            b = bytearray(b"\xac")
    _read_all_ways(bytes(b))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_after_the_header(tail: bytes) -> None:
    _read_all_ways(b"\xac\xed\x00\x05" + tail)


# --------------------------------------------------------------------------------------------
# Limits: huge claims fail fast, before allocating


HEADER = b"\xac\xed\x00\x05"
INT_ARRAY_DESC = bytes.fromhex("757200025b494dba602676eab2a50200007870")
OBJ_ARRAY_DESC = bytes.fromhex(
    "757200135b4c6a6176612e6c616e672e4f626a6563743b90ce589f1073296c0200007870"
)


def _fails_fast(
    data: bytes, exc: type[ProtocolError] = LimitExceeded, limits: Limits | None = None
) -> ProtocolError:
    t0 = time.perf_counter()
    with pytest.raises(exc) as info:
        if limits is None:
            read_stream(data)
        else:
            read_stream(data, limits=limits)
    assert time.perf_counter() - t0 < 2.0  # nothing big was allocated or looped over
    assert info.value.offset is not None
    return info.value


@settings(max_examples=100)
@given(st.integers(2**24 + 1, 2**31 - 1))
def test_huge_array_lengths(n: int) -> None:
    _fails_fast(HEADER + INT_ARRAY_DESC + struct.pack(">i", n))
    _fails_fast(HEADER + OBJ_ARRAY_DESC + struct.pack(">i", n))
    _fails_fast(
        HEADER + b"\x75\x72\x00\x02[B" + bytes(8) + b"\x02\x00\x00\x78\x70" + struct.pack(">i", n)
    )


@settings(max_examples=100)
@given(st.integers(1, 2**24))
def test_array_lengths_beyond_the_input(n: int) -> None:
    # Within the limit but more than the input holds: refused before allocating.
    err = _fails_fast(
        HEADER + INT_ARRAY_DESC + struct.pack(">i", n) + b"\x00" * 3, SerializationError
    )
    assert not isinstance(err, LimitExceeded)


@settings(max_examples=100)
@given(st.integers(2**24 + 1, 2**63 - 1))
def test_huge_string_and_block_lengths(n: int) -> None:
    _fails_fast(HEADER + b"\x7c" + struct.pack(">q", n))
    if n < 2**31:
        _fails_fast(HEADER + b"\x7a" + struct.pack(">i", n))
        _fails_fast(
            HEADER
            + b"\x73\x72\x00\x01X"
            + bytes(8)
            + b"\x0c\x00\x00\x78\x70"
            + b"\x7a"
            + struct.pack(">i", n)
        )


def test_negative_lengths() -> None:
    _fails_fast(HEADER + INT_ARRAY_DESC + struct.pack(">i", -1), SerializationError)
    _fails_fast(HEADER + b"\x7c" + struct.pack(">q", -1), SerializationError)
    _fails_fast(HEADER + b"\x7a" + struct.pack(">i", -5), SerializationError)


def test_field_count_limit() -> None:
    desc = b"\x73\x72\x00\x01X" + bytes(8) + b"\x02\xff\xff"
    _fails_fast(HEADER + desc + b"I\x00\x01a" * 10)
    _fails_fast(
        HEADER + b"\x73\x72\x00\x01X" + bytes(8) + b"\x02\x00\x05" + b"I\x00\x01a",
        limits=Limits(max_fields=4),
    )


def test_handle_limit() -> None:
    strings = b"".join(b"\x74\x00\x01" + bytes([65 + i]) for i in range(20))
    assert len(read_stream(HEADER + strings)) == 20
    _fails_fast(HEADER + strings, limits=Limits(max_handles=10))


def test_total_size_limit() -> None:
    _fails_fast(HEADER + b"\x70" * 100, limits=Limits(max_total_bytes=50))


def test_string_limit() -> None:
    _fails_fast(HEADER + b"\x74\x00\x10" + b"a" * 16, limits=Limits(max_string_length=15))


def test_deep_nesting_is_a_limit_not_a_crash() -> None:
    # Object[] { Object[] { Object[] { ... } } }, each level one element.
    level = b"\x75\x71\x00\x7e\x00\x00\x00\x00\x00\x01"
    first = b"\x75" + OBJ_ARRAY_DESC[1:] + b"\x00\x00\x00\x01"
    deep = HEADER + first + level * 20000 + b"\x70"
    _fails_fast(deep)
    # Even with a huge configured depth the Python stack limit becomes a LimitExceeded.
    _fails_fast(deep, limits=Limits(max_depth=10**9))
    shallow = HEADER + first + level * 50 + b"\x70"
    assert read_stream(shallow)
