"""The fast paths of the EVT_SESSION_DELTA hot path (tribes/messages/fast.py) against the generic
codec: same bytes, same values (types included), same errors; and they do run on the common shapes.

Random messages (hypothesis) and every real Tomcat 9/10 `smsg_*` / `delta_*` vector, plus
mutations of both: a fast path may only ever give up (None), never disagree.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.javagen import Vector
from tests.test_jserial_props import TYPE_CODES, texts, values
from tribes.errors import LimitExceeded, ProtocolError
from tribes.jserial import (
    DEFAULT_LIMITS,
    BlockData,
    BlockWriter,
    JavaException,
    JBoolean,
    JByte,
    JCharacter,
    JDouble,
    JFloat,
    JInteger,
    JLong,
    JShort,
    Limits,
    ObjectWriter,
    dumps,
    java_type_name,
    loads,
)
from tribes.jserial.values import _JBytes, _JStr
from tribes.messages import (
    DeltaAction,
    DeltaRequest,
    SessionMessage,
    decode_payload,
    encode_payload,
    fast,
)
from tribes.messages.classes import OUTER_CLASSES, SESSION_MESSAGE_IMPL
from tribes.messages.codec import from_java, package_limits
from tribes.messages.session import MAX_ACTIONS, session_message_to_java

# --------------------------------------------------------------------------------------------
# Generic references and comparison helpers


def generic_encode_payload(msg: SessionMessage) -> bytes:
    return dumps(session_message_to_java(msg))


def generic_decode_payload(
    data: bytes, *, strict: bool = True, limits: Limits = DEFAULT_LIMITS
) -> Any:
    allow = OUTER_CLASSES.__contains__ if strict else None
    return from_java(loads(data, limits=limits, allow=allow))


def outcome(fn: Any, *args: Any, **kw: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args, **kw))
    except Exception as e:
        return ("err", type(e), str(e))


def types_of(v: Any) -> Any:
    """Python types all the way down (str vs _JStr, bytes vs _JBytes, JInteger vs int...)."""
    if isinstance(v, dict):
        return type(v), [(types_of(k), types_of(x)) for k, x in v.items()]
    if isinstance(v, list | tuple):
        return type(v), [types_of(x) for x in v]
    return type(v)


def msg_key(m: Any) -> Any:
    if not isinstance(m, SessionMessage):
        return ("other", type(m), repr(m))
    fields = (
        m.event,
        m.context_name,
        m.session_id,
        m.unique_id,
        m.timestamp,
        m.timestamp_set,
        m.payload,
        m.base_timestamp,
    )
    return fields, [type(f) for f in fields]


def delta_key(r: DeltaRequest) -> Any:
    acts = [
        (a.type, a.action, a.name, type(a.name), repr(a.value), types_of(a.value))
        for a in r.actions
    ]
    try:
        again: Any = r.encode_generic()  # also captures shared instances (back references)
    except Exception as e:
        again = ("unencodable", type(e), str(e))
    return r.session_id, type(r.session_id), r.record_all_actions, acts, again


def same_outcome(a: tuple[Any, ...], b: tuple[Any, ...], key: Any) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] == "ok":
        assert key(a[1]) == key(b[1])
    else:
        assert a[1:] == b[1:]


def check_payload_decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Public decode_payload (fast path first) == generic, for both allow-lists; errors are
    ProtocolErrors.  Returns the fast path's own answer."""
    for strict in (True, False):
        got = outcome(decode_payload, data, 0, strict=strict, limits=limits)
        want = outcome(generic_decode_payload, data, strict=strict, limits=limits)
        same_outcome(got, want, msg_key)
        if got[0] == "err":
            assert issubclass(got[1], ProtocolError), got
    direct = fast.decode_session_message(data, limits, SessionMessage)
    if direct is not None:
        want = outcome(generic_decode_payload, data, strict=True, limits=limits)
        assert want[0] == "ok" and msg_key(direct) == msg_key(want[1])
    return direct


def check_delta_decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    got = outcome(DeltaRequest.decode, data, limits=limits)
    want = outcome(DeltaRequest.decode_generic, data, limits=limits)
    same_outcome(got, want, delta_key)
    if got[0] == "err":
        assert issubclass(got[1], ProtocolError), got
    direct = fast.decode_delta(data, limits, MAX_ACTIONS, DeltaAction)
    if direct is not None:
        assert want[0] == "ok" and delta_key(DeltaRequest(*direct)) == delta_key(want[1])
    return direct


def check_payload_encode(msg: SessionMessage) -> bytes | None:
    got = outcome(encode_payload, msg)
    want = outcome(generic_encode_payload, msg)
    assert got[:2] == want[:2] and (got[0] == "ok" or got[2] == want[2]), (got, want)
    direct = fast.encode_session_message(msg)
    if direct is not None:
        assert want == ("ok", direct)
    return direct


def check_delta_encode(req: DeltaRequest) -> bytes | None:
    got = outcome(req.encode)
    want = outcome(req.encode_generic)
    assert got[:2] == want[:2] and (got[0] == "ok" or got[2] == want[2]), (got, want)
    direct = fast.encode_delta(req.session_id, req.record_all_actions, req.actions)
    if direct is not None:
        assert want == ("ok", direct)
    return direct


# --------------------------------------------------------------------------------------------
# Strategies


def _long_text(args: tuple[int, str, str]) -> str:
    n, unit, tail = args
    return unit * n + tail


#: Strings whose modified UTF-8 is longer than 65535 bytes (TC_LONGSTRING / writeUTF overflow).
long_texts = st.tuples(
    st.integers(21_000, 70_000), st.sampled_from(["x", "é", "€", "\x00", "\U0001f600"]), texts
).map(_long_text)
#: The signature string objects the SessionMessageImpl template has handles for.
SIG_OBJECTS = [f.class_name for f in SESSION_MESSAGE_IMPL.fields if f.class_name]
some_texts = st.one_of(
    texts,
    st.sampled_from(["", "a", "\x00", "é", "\U0001f600", "localhost#/jw", "Ljava/lang/String;"]),
    st.sampled_from(SIG_OBJECTS),
    st.just("").map(lambda s: _JStr(s)),
    st.just("x").map(lambda s: _JStr(s)),
)
opt_texts = st.one_of(
    st.none(), st.integers(0, 40).flatmap(lambda k: long_texts if k == 0 else some_texts)
)
odd_texts = st.one_of(
    st.integers(0, 0xFFFF).map(JCharacter),  # a str subclass that writes as a Character
    st.integers(),
    st.binary(max_size=3),
)
payloads = st.one_of(
    st.none(),
    st.binary(max_size=300),
    st.sampled_from([b"", b"\x00"]),
    st.binary(max_size=2).map(_JBytes),
    st.binary(max_size=5).map(bytearray),
)
int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def session_messages(draw: st.DrawFn, *, odd: bool = False) -> SessionMessage:
    ctx = draw(opt_texts)
    sid = draw(st.one_of(opt_texts, st.just(ctx)))
    uid = draw(st.one_of(opt_texts, st.just(ctx), st.just(sid)))
    fields: list[Any] = [ctx, sid, uid]
    if odd:
        i = draw(st.integers(0, 2))
        fields[i] = draw(odd_texts)
    return SessionMessage(
        draw(st.one_of(int32, st.sampled_from([1, 13, 15]))) if not odd else draw(st.integers()),
        fields[0],
        fields[1],
        fields[2],
        draw(int64) if not odd else draw(st.integers()),
        draw(st.booleans() if not odd else st.sampled_from([0, 1, 2, None, "", "x"])),  # type: ignore[arg-type]
        draw(payloads),  # type: ignore[arg-type]
        draw(st.one_of(st.just(0), int64)),
    )


common_values = st.one_of(
    st.none(),
    texts,
    st.sampled_from(["", "x", "é"]),
    st.booleans(),
    int32.map(JInteger),
    int64.map(JLong),
    st.integers(-(2**15), 2**15 - 1).map(JShort),
    st.integers(-128, 127).map(JByte),
    st.floats(allow_nan=False).map(JDouble),
    st.floats(width=32, allow_nan=False).map(JFloat),
    st.integers(0, 0xFFFF).map(JCharacter),
    st.binary(max_size=40),
    st.integers(-(2**63), 2**63 - 1),
)
names = st.one_of(texts, st.sampled_from(["", "__SET__ISNEW__", "attribute0", "é"]))


@st.composite
def delta_requests(draw: st.DrawFn, *, odd: bool = False) -> DeltaRequest:
    """Actions of every type; values drawn from a pool so that some are the same object."""
    pool = draw(st.lists(st.one_of(common_values, values), min_size=1, max_size=6))
    n = draw(st.integers(0, 12))
    actions = []
    for _ in range(n):
        type_ = draw(st.one_of(st.integers(0, 6), int32) if not odd else st.integers())
        value = draw(st.one_of(st.none(), st.sampled_from(pool), common_values))
        name: Any = draw(st.one_of(names, long_texts) if odd else names)
        actions.append(DeltaAction(type_, draw(st.sampled_from([0, 1])), name, value))
    if draw(st.integers(0, 15)) == 0:  # now and then a long run of block data
        actions += [DeltaAction(0, 1, "n" * 300 + str(i)) for i in range(draw(st.integers(1, 9)))]
    sid = draw(st.one_of(texts, st.just("ABCDEF0123456789" * 2)))
    if odd and draw(st.booleans()):
        sid = draw(long_texts)
    return DeltaRequest(sid, draw(st.booleans()), actions)


# --------------------------------------------------------------------------------------------
# Random messages


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_messages())
def test_session_message_fast_vs_generic(msg: SessionMessage) -> None:
    data = check_payload_encode(msg)
    strings = [v for v in (msg.context_name, msg.session_id, msg.unique_id) if v is not None]
    # Plain when no field is another field or a signature string (those are back references).
    plain = len({id(v) for v in strings}) == len(strings) and not any(
        v is s for v in strings for s in SIG_OBJECTS
    )
    if plain and not isinstance(msg.payload, bytearray):
        assert data is not None  # the fast path writes every plain message
    wire = generic_encode_payload(msg)
    direct = check_payload_decode(wire)
    if plain:
        assert direct is not None  # ... and reads back every plain message
    if direct is not None:
        assert encode_payload(direct) == wire


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_messages(odd=True))
def test_session_message_odd_values(msg: SessionMessage) -> None:
    check_payload_encode(msg)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delta_requests())
def test_delta_fast_vs_generic(req: DeltaRequest) -> None:
    data = check_delta_encode(req)
    wire = req.encode_generic()
    assert data is not None
    direct = check_delta_decode(wire)
    assert direct is not None
    assert DeltaRequest(*direct).encode() == wire


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delta_requests(odd=True))
def test_delta_odd_values(req: DeltaRequest) -> None:
    check_delta_encode(req)


def test_delta_values_the_fast_writer_hands_over() -> None:
    exc = loads(bytes.fromhex("aced0005") + b"\x7b" + dumps("boom")[4:])  # TC_EXCEPTION
    for value in (exc, BlockData(b"\x01\x02"), JBoolean(True), object()):
        req = DeltaRequest("S", False, [DeltaAction(0, 0, "a", value), DeltaAction(0, 0, "b", 1)])
        check_delta_encode(req)
    assert isinstance(exc, JavaException)


def _delta_items(req: DeltaRequest) -> list[object]:
    """The contents `DeltaRequest.encode_generic` writes (block data and values)."""
    w = BlockWriter()
    w.write_utf(req.session_id)
    w.write_bool(req.record_all_actions)
    w.write_int(len(req.actions))
    for a in req.actions:
        w.write_int(a.type)
        w.write_int(a.action)
        w.write_utf(a.name)
        w.write_bool(a.value is not None)
        if a.value is not None:
            w.write_object(a.value)
    return w.items()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delta_requests(), st.data())
def test_delta_streams_with_odd_records(req: DeltaRequest, data: st.DataObject) -> None:
    """Block data cut into records differently (empty ones, TC_BLOCKDATALONG for short ones,
    primitives split across records), and TC_RESET between the contents."""
    w = ObjectWriter()
    for item in _delta_items(req):
        if isinstance(item, BlockData):
            body = item.data
            cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=3)))
            prev = 0
            for c in [*cuts, len(body)]:
                part = body[prev:c]
                prev = c
                if len(part) > 255 or data.draw(st.booleans()):
                    w._out += b"\x7a" + struct.pack(">i", len(part)) + part
                else:
                    w._out += b"\x77" + bytes([len(part)]) + part
        else:
            w.write_object(item)
        if data.draw(st.integers(0, 20)) == 0:
            w.reset()  # TC_RESET: left to the generic reader
    wire = w.getvalue()
    direct = check_delta_decode(wire)
    if b"\x79" not in wire:
        assert direct is not None, wire


MUTATION_CODES = sorted([*TYPE_CODES, 0x01])


def mutate(data: st.DataObject, seed: bytes) -> bytes:
    b = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        if not b:
            b = bytearray(b"\xac")
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "dup", "cut"]))
        i = data.draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            b[i] = data.draw(st.sampled_from(MUTATION_CODES))
        elif op == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=6))
        elif op == "delete":
            del b[i : i + data.draw(st.integers(1, 8))]
        elif op == "dup":
            j = data.draw(st.integers(i, min(len(b), i + 16)))
            b[j:j] = b[i:j]
        else:
            del b[i:]
    return bytes(b)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_messages(), st.data())
def test_session_message_mutations(msg: SessionMessage, data: st.DataObject) -> None:
    check_payload_decode(mutate(data, generic_encode_payload(msg)))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delta_requests(), st.data())
def test_delta_mutations(req: DeltaRequest, data: st.DataObject) -> None:
    check_delta_decode(mutate(data, req.encode_generic()))


TIGHT_LIMITS = [
    Limits(max_string_length=20),
    Limits(max_string_length=17),
    Limits(max_array_length=10),
    Limits(max_block_bytes=30),
    Limits(max_total_bytes=300),
    Limits(max_depth=2),
    Limits(max_depth=3),
    Limits(max_handles=9),
    Limits(max_handles=12),
    Limits(max_fields=6),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_messages(), delta_requests(), st.sampled_from(TIGHT_LIMITS))
def test_limits_fast_vs_generic(msg: SessionMessage, req: DeltaRequest, limits: Limits) -> None:
    check_payload_decode(generic_encode_payload(msg), limits)
    check_delta_decode(req.encode_generic(), limits)


def test_fast_paths_take_the_benchmark_message() -> None:
    req = DeltaRequest("ABCDEF0123456789ABCDEF0123456789")
    for i in range(10):
        req.set_attribute(f"attribute{i}", f"value{i}".ljust(100, "v"))
    req.set_max_inactive_interval(1800)
    req.set_new(True)
    payload = fast.encode_delta(req.session_id, False, req.actions)
    assert payload == req.encode_generic()
    msg = SessionMessage(13, "localhost#/jw", req.session_id, "u-1", 1, True, payload)
    wire = fast.encode_session_message(msg)
    assert wire == generic_encode_payload(msg)
    assert check_payload_decode(wire) is not None
    assert check_delta_decode(payload) is not None


def test_booleans_written_and_read_in_place() -> None:
    """ISNEW's Boolean (in every 10.1 request's delta) is written and read by the fast paths,
    and the generic writer / reader take over its descriptor for a later value."""
    cases: list[list[Any]] = [
        [False, "v"],
        [True, False, True, False],
        [False, JInteger(5), True, JBoolean(True), [False, True]],
        [JInteger(5), False, True],
        ["s", True, "s", JLong(1), False],
    ]
    for case in cases:
        acts = [DeltaAction(2, 0, f"n{i}", v) for i, v in enumerate(case)]
        data = check_delta_encode(DeltaRequest("S", False, acts))
        assert data is not None
        assert check_delta_decode(data) is not None
    # Odd streams: the Boolean descriptor referenced where a value is due, a value byte of 2.
    req = DeltaRequest("S", False, [DeltaAction(2, 0, "a", False), DeltaAction(0, 0, "b", "x")])
    wire = req.encode_generic()
    assert check_delta_decode(wire) is not None
    i = wire.rindex(b"t\x00\x01x")
    check_delta_decode(wire[:i] + struct.pack(">Bi", 0x71, 0x7E0000))
    j = wire.index(b"xp\x00") + 2
    assert check_delta_decode(wire[:j] + b"\x02" + wire[j + 1 :]) is None


def test_cached_records_follow_type_and_action() -> None:
    """The per-name record caches (written and read) never serve another type or action, nor
    an int-like type or action the generic writer treats differently."""
    values: list[Any] = ["v", None, "w"]
    kinds: list[tuple[Any, Any]] = [(0, 0), (6, 0), (0, 1), (0.0, 0), (True, 0), (0, 2**31)]
    for _ in range(2):  # the second round runs with the caches warm
        for type_, action in kinds:
            for value in values:
                acts = [DeltaAction(0, 0, "x", "first"), DeltaAction(type_, action, "n", value)]
                req = DeltaRequest("S", False, acts)
                data = check_delta_encode(req)
                if data is not None:
                    check_delta_decode(data)


def test_non_bytes_inputs() -> None:
    msg = SessionMessage(13, "c", "s", "u", 1, True, b"abc")
    wire = generic_encode_payload(msg)
    assert fast.decode_session_message(bytearray(wire), DEFAULT_LIMITS, SessionMessage) is None  # type: ignore[arg-type]
    req = DeltaRequest("s", False, [DeltaAction(0, 0, "a", "b")])
    data = req.encode_generic()
    for kind in (bytearray, memoryview):
        assert delta_key(DeltaRequest.decode(kind(data))) == delta_key(  # type: ignore[arg-type]
            DeltaRequest.decode_generic(kind(data))  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------------------------
# Real Tomcat vectors


def _stream_vectors(vectors: dict[str, Vector]) -> list[Vector]:
    return [v for n, v in vectors.items() if n.startswith(("smsg_", "delta_"))]


def test_vectors_fast_vs_generic(java_vectors: dict[str, Vector]) -> None:
    hits = {"smsg": 0, "delta": 0}
    vs = _stream_vectors(java_vectors)
    assert len(vs) >= 70
    for v in vs:
        if v.name.startswith("smsg_"):
            msg = check_payload_decode(v.data)
            if msg is not None:
                hits["smsg"] += 1
                assert check_payload_encode(msg) == v.data, v.name
            decoded = generic_decode_payload(v.data)
            check_payload_encode(decoded)
            if decoded.event == 13 and decoded.payload is not None:
                check_delta_decode(decoded.payload)
        else:
            got = check_delta_decode(v.data)
            req = DeltaRequest.decode_generic(v.data)
            check_delta_encode(req)
            if got is not None:
                hits["delta"] += 1
                if not v.expect_error:
                    assert DeltaRequest(*got).encode() == req.encode_generic(), v.name
    # Every SessionMessageImpl Tomcat writes takes the fast path, and so do the deltas.
    assert hits["smsg"] == sum(v.name.startswith("smsg_") for v in vs)
    assert hits["delta"] == sum(v.name.startswith("delta_") for v in vs)


def test_vectors_truncated_and_mutated(java_vectors: dict[str, Vector]) -> None:
    import random

    rnd = random.Random(1234)
    for v in _stream_vectors(java_vectors):
        check = check_payload_decode if v.name.startswith("smsg_") else check_delta_decode
        data = v.data
        step = max(1, len(data) // 150)
        for n in range(0, len(data), step):
            check(data[:n])
        for _ in range(60):
            b = bytearray(data)
            i = rnd.randrange(len(b))
            if rnd.random() < 0.5:
                b[i] ^= 1 << rnd.randrange(8)
            else:
                b[i] = rnd.choice(MUTATION_CODES)
            check(bytes(b))
        for limits in TIGHT_LIMITS:
            check(data, limits)


@pytest.mark.parametrize(
    "value",
    [
        "v" * 100,
        "",
        "é" * 30000,
        JInteger(7),
        JLong(-1),
        True,
        False,
        JBoolean(False),
        b"",
        b"\x00",
        bytes(range(256)) * 5,
        JCharacter("€"),
        JShort(3),
        JByte(-3),
        JFloat(1.5),
        JDouble(-0.0),
        java_type_name,  # not serializable: both paths refuse alike
    ],
)
def test_single_values(value: Any) -> None:
    req = DeltaRequest("S", True, [DeltaAction(0, 0, "a", value), DeltaAction(0, 0, "b", value)])
    check_delta_encode(req)
    try:
        wire = req.encode_generic()
    except ProtocolError:
        return
    assert check_delta_decode(wire) is not None


def test_a_package_sized_session_body_decodes_within_the_package_limits() -> None:
    """A 100k-session ALL_SESSION_DATA carries a ~22 MB byte[]: over the generic 16 MiB array
    cap, within a package the receiver accepts (it was silently dropped before)."""
    body = bytes(17 << 20)
    msg = SessionMessage(12, "localhost#/jw", None, "u-1", 1, True, body)
    payload = encode_payload(msg)
    with pytest.raises(LimitExceeded):
        decode_payload(payload, 6, limits=DEFAULT_LIMITS)
    decoded = decode_payload(payload, 6)
    assert isinstance(decoded, SessionMessage) and decoded.payload == body
    small = package_limits(1 << 20)
    assert small.max_array_length == DEFAULT_LIMITS.max_array_length  # never below the default
