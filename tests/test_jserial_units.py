"""Unit tests of the Java serialization codec: errors and offsets, the class allow-list, the
descriptor cache, writer identity rules and rollback, opaque fallbacks of natural values,
modified UTF-8, block data, java_hash, java_type_name and to_json."""

from __future__ import annotations

import json
import math
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.test_jserial_java import vector
from tests.test_jserial_tribes import A5_SESSION_MESSAGE, A7_RPC_PING_10_1
from tribes.errors import ClassNotAllowed, LimitExceeded, ProtocolError, SerializationError
from tribes.jserial import (
    DEFAULT_LIMITS,
    BlockData,
    BlockReader,
    BlockWriter,
    ClassData,
    ClassDesc,
    FieldDesc,
    JavaArray,
    JavaEnum,
    JavaException,
    JavaObject,
    JBoolean,
    JByte,
    JCharacter,
    JDouble,
    JFloat,
    JHashMap,
    JHashSet,
    JInteger,
    JLong,
    JShort,
    JTreeMap,
    Limits,
    ObjectWriter,
    array_desc,
    decode_mutf8,
    dumps,
    encode_mutf8,
    java_hash,
    java_type_name,
    jdk_desc,
    loads,
    read_stream,
    to_json,
    write_stream,
)
from tribes.jserial.mutf8 import MUTF8Error

HEADER = b"\xac\xed\x00\x05"

# --------------------------------------------------------------------------------------------
# Reader errors


@pytest.mark.parametrize(
    ("data", "offset", "text"),
    [
        (b"", 0, "magic"),
        (b"\xca\xfe\x00\x05", 0, "magic"),
        (b"\xac\xed\x00\x04\x70", 2, "version"),
        (HEADER + b"\x74\x00\x05ab", 5, "truncated"),  # the length that overruns
        (HEADER + b"\x70\x6f", 5, "invalid type code 0x6f"),
        (HEADER + b"\x78", 4, "TC_ENDBLOCKDATA"),
        (HEADER + b"\x71\x00\x7e\x00\x00", 5, "invalid handle"),
        (HEADER + b"\x74\x00\x02\xc0\x41", 8, "modified UTF-8"),  # the bad byte
        (HEADER + b"\x74\x00\x04\xf0\x9f\x98\x80", 7, "4-byte"),
    ],
)
def test_read_errors_carry_offsets(data: bytes, offset: int, text: str) -> None:
    with pytest.raises(SerializationError) as info:
        read_stream(data)
    assert info.value.offset == offset
    assert text in str(info.value)


def test_errors_are_protocol_errors() -> None:
    assert issubclass(SerializationError, ProtocolError)
    assert issubclass(LimitExceeded, ProtocolError)
    assert issubclass(ClassNotAllowed, SerializationError)


def test_loads_wants_exactly_one_object() -> None:
    with pytest.raises(SerializationError, match="left after"):
        loads(HEADER + b"\x70\x70")
    with pytest.raises(SerializationError, match="expected an object"):
        loads(HEADER + b"\x77\x01\x00")
    with pytest.raises(SerializationError, match="empty"):
        loads(HEADER)
    assert loads(HEADER + b"\x70") is None
    assert read_stream(HEADER) == []
    assert loads(bytearray(HEADER + b"\x74\x00\x01a")) == "a"
    assert loads(memoryview(HEADER + b"\x74\x00\x01a")) == "a"


def _desc_bytes(name: str, flags: int, fields: bytes = b"\x00\x00", sup: bytes = b"\x70") -> bytes:
    n = name.encode()
    head = b"\x72" + struct.pack(">H", len(n)) + n + bytes(8) + bytes([flags])
    return head + fields + b"\x78" + sup


def test_externalizable_protocol_version_1_is_refused() -> None:
    with pytest.raises(SerializationError, match="version 1"):
        loads(HEADER + b"\x73" + _desc_bytes("Old", 0x04) + b"\x78")


def test_malformed_descriptors() -> None:
    with pytest.raises(SerializationError, match="both serializable and externalizable"):
        loads(HEADER + b"\x73" + _desc_bytes("X", 0x06))
    with pytest.raises(SerializationError, match="duplicate field"):
        loads(HEADER + b"\x73" + _desc_bytes("X", 0x02, b"\x00\x02I\x00\x01aI\x00\x01a"))
    with pytest.raises(SerializationError, match="illegal field order"):
        loads(
            HEADER
            + b"\x73"
            + _desc_bytes("X", 0x02, b"\x00\x02L\x00\x01a\x74\x00\x03LX;I\x00\x01b")
        )
    with pytest.raises(SerializationError, match="invalid field type code"):
        loads(HEADER + b"\x73" + _desc_bytes("X", 0x02, b"\x00\x01Q\x00\x01a"))
    with pytest.raises(SerializationError, match="signature"):
        loads(HEADER + b"\x73" + _desc_bytes("X", 0x02, b"\x00\x01L\x00\x01a\x74\x00\x01I"))
    # A superclass chain that loops back (its super is a reference to itself).
    with pytest.raises(SerializationError, match="cyclic"):
        loads(HEADER + b"\x73" + _desc_bytes("X", 0x02, sup=b"\x71\x00\x7e\x00\x00"))


def test_reference_to_a_descriptor_in_an_object_position_is_the_descriptor() -> None:
    data = HEADER + b"\x76" + _desc_bytes("X", 0x02) + b"\x71\x00\x7e\x00\x00"
    items = read_stream(data)
    assert isinstance(items[1], ClassDesc)
    assert items[1] is items[0].desc  # type: ignore[attr-defined]
    assert write_stream(items) == data


def test_top_level_reset_resets_handles() -> None:
    with pytest.raises(SerializationError, match="invalid handle"):
        read_stream(HEADER + b"\x74\x00\x01a\x79\x71\x00\x7e\x00\x00")
    with pytest.raises(SerializationError, match="TC_RESET"):
        read_stream(
            HEADER
            + b"\x73"
            + _desc_bytes("X", 0x02, b"\x00\x01L\x00\x01a\x74\x00\x03LX;")
            + b"\x79"
        )


# --------------------------------------------------------------------------------------------
# Allow-list and the descriptor cache


def test_allow_list() -> None:
    seen: list[str] = []

    def allow(name: str) -> bool:
        seen.append(name)
        return not name.endswith("Impl")

    with pytest.raises(ClassNotAllowed) as info:
        loads(A7_RPC_PING_10_1, allow=allow)
    member_impl = b"\x00\x30org.apache.catalina.tribes.membership.MemberImpl"
    assert info.value.offset == A7_RPC_PING_10_1.index(member_impl)
    assert "org.apache.catalina.tribes.group.RpcMessage" in seen
    seen.clear()
    loads(vector("arrays"), allow=lambda n: seen.append(n) is None)
    assert "[I" in seen and "[[I" in seen and "[Ljava.lang.Object;" in seen
    seen.clear()
    loads(vector("proxy"), allow=lambda n: seen.append(n) is None)
    assert "java.lang.Runnable" in seen and "java.lang.reflect.Proxy" in seen


def test_descriptor_cache_still_applies_allow_and_limits() -> None:
    # Warm the cache, then read the same bytes under stricter rules.
    first = loads(A5_SESSION_MESSAGE)
    second = loads(A5_SESSION_MESSAGE)
    assert isinstance(first, JavaObject) and isinstance(second, JavaObject)
    assert first.desc is second.desc  # the descriptor chain is shared
    assert first is not second and first.class_data[1].values is not second.class_data[1].values
    with pytest.raises(ClassNotAllowed):
        loads(A5_SESSION_MESSAGE, allow=lambda n: "ClusterMessageBase" not in n)
    with pytest.raises(LimitExceeded):
        loads(A5_SESSION_MESSAGE, limits=Limits(max_fields=6))
    with pytest.raises(LimitExceeded):
        loads(A5_SESSION_MESSAGE, limits=Limits(max_depth=2))
    with pytest.raises(LimitExceeded):
        loads(A5_SESSION_MESSAGE, limits=Limits(max_handles=3))
    with pytest.raises(LimitExceeded):
        loads(A5_SESSION_MESSAGE, limits=Limits(max_string_length=10))
    assert dumps(loads(A5_SESSION_MESSAGE, limits=DEFAULT_LIMITS)) == A5_SESSION_MESSAGE


def test_descriptor_cache_checks_references_to_earlier_descriptors() -> None:
    from tests.test_jserial_tribes import A9_ALL_SESSION_DATA_10_1

    # In A.9, java.lang.Long's superclass is a back reference to java.lang.Number (handle 1).
    first = read_stream(A9_ALL_SESSION_DATA_10_1, natural=False)
    again = read_stream(A9_ALL_SESSION_DATA_10_1, natural=False)
    assert again[1].desc is first[1].desc  # type: ignore[attr-defined]
    # The same Long descriptor bytes at the same handle, but handle 1 now holds another
    # Number descriptor object (one with a class annotation, so never shared): the cached Long,
    # whose super is the shared Number, must not be used.
    number = ClassDesc(
        "java.lang.Number", jdk_desc("java.lang.Number").suid, 0x02, (), None, [BlockData(b"x")]
    )
    other_int = ClassDesc("java.lang.Integer", 43, 0x02, (FieldDesc("I", "value"),), number, [])
    long_desc = ClassDesc(
        "java.lang.Long",
        jdk_desc("java.lang.Long").suid,
        0x02,
        (FieldDesc("J", "value"),),
        number,
        [],
    )
    data = write_stream(
        [
            JavaObject(other_int, [ClassData(number, {}), ClassData(other_int, {"value": 1})]),
            JavaObject(long_desc, [ClassData(number, {}), ClassData(long_desc, {"value": 5})]),
        ]
    )
    assert A9_ALL_SESSION_DATA_10_1[0x51:0x7C] in data  # identical Long descriptor bytes
    for _ in range(2):
        i, lng = read_stream(data, natural=False)
        assert lng.desc.superclass is i.desc.superclass  # type: ignore[attr-defined]
        assert lng.desc.superclass.annotations == [BlockData(b"x")]  # type: ignore[attr-defined]
        assert lng.desc is not first[1].desc  # type: ignore[attr-defined]
    assert write_stream(read_stream(data)) == data


# --------------------------------------------------------------------------------------------
# Natural values that must stay opaque


def _hash_map(entries: list[object]) -> JavaObject:
    hm = jdk_desc("java.util.HashMap")
    n = len(entries) // 2
    return JavaObject(
        hm,
        [
            ClassData(
                hm,
                {"loadFactor": 0.75, "threshold": 12},
                [BlockData(struct.pack(">ii", 16, n)), *entries],
            )
        ],
    )


def test_maps_python_cannot_hold_stay_opaque() -> None:
    for entries in (
        [["list", "as", "key"], "v"],  # unhashable key
        [JInteger(1), "int", JLong(1), "long"],  # Integer 1 and Long 1: one key in Python
    ):
        data = dumps(_hash_map(entries))
        obj = loads(data)
        assert isinstance(obj, JavaObject) and obj.class_name == "java.util.HashMap"
        assert dumps(obj) == data
    assert loads(dumps(_hash_map(["k", "v"]))) == {"k": "v"}


def test_self_containing_collection_stays_opaque() -> None:
    lst: list[object] = ["x"]
    lst.append(lst)
    data = dumps(lst)
    obj = loads(data)
    assert isinstance(obj, JavaObject) and obj.class_name == "java.util.ArrayList"
    ann = obj.class_data[0].annotations
    assert ann is not None and ann[2] is obj
    assert dumps(obj) == data


def test_opaque_mode() -> None:
    obj = loads(dumps([1, "a", b"\x00"]), natural=False)
    assert isinstance(obj, JavaObject) and obj.class_name == "java.util.ArrayList"
    ann = obj.class_data[0].annotations
    assert ann is not None
    assert isinstance(ann[1], JavaObject) and ann[1].field("value") == 1
    assert ann[2] == "a"
    assert isinstance(ann[3], JavaArray) and ann[3].items == b"\x00"


def test_unknown_suid_of_a_jdk_class_stays_opaque() -> None:
    desc = ClassDesc("java.lang.Integer", 42, 0x02, (FieldDesc("I", "value"),), None, [])
    data = dumps(JavaObject(desc, [ClassData(desc, {"value": 7})]))
    obj = loads(data)
    assert isinstance(obj, JavaObject) and obj.field("value") == 7
    assert dumps(obj) == data


def test_collections_after_changes_are_written_validly() -> None:
    m = loads(vector("hashmap_presized"))
    assert isinstance(m, JHashMap)
    m["three"] = 3  # size changed: metadata no longer applies, Java's defaults are used
    back = loads(dumps(m))
    assert back == {"one": 1, "two": 2, "three": 3}
    assert isinstance(back, JHashMap) and back.java_meta is not None
    assert (back.java_meta.buckets, back.java_meta.threshold) == (16, 12)
    s = loads(vector("hashset"))
    assert isinstance(s, JHashSet)
    s.discard("s1")
    assert loads(dumps(s)) == {f"s{i}" for i in range(20)} - {"s1"}


# --------------------------------------------------------------------------------------------
# Writer


def test_writer_identity_rules() -> None:
    w = ObjectWriter()
    s = "x" * 10
    for v in (s, s, 5, 5, 1000, 1000, True, True, JLong(7), JLong(7), 2.5, 2.5):
        w.write_object(v)
    items = read_stream(w.getvalue())
    assert items[1] is items[0]  # same str object
    assert items[3] is items[2]  # Integer.valueOf(5) is shared
    assert items[5] is not items[4]  # 1000 is boxed twice
    assert items[6] is items[7] is True
    assert items[9] is items[8]  # JLong(7) is JLong(7)
    assert items[11] is not items[10]  # Double.valueOf is never shared
    assert JInteger(5) is JInteger(5) and JInteger(500) is not JInteger(500)
    assert JByte(-128) is JByte(-128) and JCharacter("a") is JCharacter("a")


def test_writer_rolls_back_on_error() -> None:
    w = ObjectWriter()
    w.write_object("first")
    before = w.getvalue()
    with pytest.raises(SerializationError, match="cannot serialize"):
        w.write_object(["ok", "more", object()])
    assert w.getvalue() == before
    w.write_object(["ok"])  # handles continue as if the failed write never happened
    expected = ObjectWriter()
    expected.write_object("first")
    expected.write_object(["ok"])
    assert w.getvalue() == expected.getvalue()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2**64, "does not fit"),
        (datetime(2020, 1, 1), "naive"),
        (BlockData(b"x"), "top level"),
        ([JavaException("x")], "top level"),
        (JCharacter("a") + "b", None),  # a plain str: fine
        (JavaObject(jdk_desc("java.lang.Integer"), []), "ClassData"),
        (
            JavaObject(
                jdk_desc("java.lang.Integer"),
                [
                    ClassData(jdk_desc("java.lang.Number"), {}),
                    ClassData(jdk_desc("java.lang.Integer"), {}),
                ],
            ),
            "no value for field",
        ),
        (
            JavaObject(
                jdk_desc("java.lang.Integer"),
                [
                    ClassData(jdk_desc("java.lang.Number"), {}),
                    ClassData(jdk_desc("java.lang.Integer"), {"value": 2**40}),
                ],
            ),
            "bad primitive",
        ),
        (JavaEnum(jdk_desc("java.util.HashMap"), "X"), "not an enum"),
    ],
)
def test_writer_refuses_bad_values(value: object, text: str | None) -> None:
    if text is None:
        dumps(value)
        return
    with pytest.raises(SerializationError, match=text):
        dumps(value)


def test_write_stream_items() -> None:
    data = write_stream([BlockData(b"\x01" * 300), None, "s", BlockData(b"")])
    assert data == HEADER + b"\x7a\x00\x00\x01\x2c" + b"\x01" * 300 + b"\x70\x74\x00\x01s\x77\x00"
    assert read_stream(data) == [BlockData(b"\x01" * 300), None, "s", BlockData(b"")]


def test_tuples_and_subclasses() -> None:
    assert loads(dumps(("a", None))) == ("a", None)
    mixed = loads(dumps(("a", 1)))
    assert isinstance(mixed, JavaArray) and mixed.desc.name == "[Ljava.lang.Object;"
    assert mixed.items == ["a", 1]

    class MyStr(str):
        pass

    assert loads(dumps(MyStr("abc"))) == "abc"
    assert loads(dumps(bytearray(b"ab"))) == b"ab"
    assert loads(dumps(memoryview(b"ab"))) == b"ab"
    assert loads(dumps(datetime(2020, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))))) == datetime(
        2020, 1, 1, tzinfo=UTC
    )


# --------------------------------------------------------------------------------------------
# Box types


def test_box_ranges_and_conversions() -> None:
    with pytest.raises(OverflowError):
        JInteger(2**31)
    with pytest.raises(OverflowError):
        JShort(40000)
    with pytest.raises(OverflowError):
        JByte(128)
    with pytest.raises(ValueError):
        JCharacter("ab")
    with pytest.raises(ValueError):
        JCharacter("\U0001f600")
    assert JFloat(0.1) == struct.unpack(">f", struct.pack(">f", 0.1))[0]
    assert JFloat(1e300) == math.inf
    assert JCharacter(65) == "A"
    assert JBoolean(True) == True  # noqa: E712
    assert repr(JInteger(3)) == "JInteger(3)" and repr(JBoolean(0)) == "JBoolean(False)"
    assert type(JInteger(3) + 1) is int


# --------------------------------------------------------------------------------------------
# Modified UTF-8


def test_modified_utf8() -> None:
    assert encode_mutf8("a\x00b") == b"a\xc0\x80b"
    assert encode_mutf8("\U0001f600") == b"\xed\xa0\xbd\xed\xb8\x80"
    assert encode_mutf8("\ud800") == b"\xed\xa0\x80"
    assert encode_mutf8("\u00e9\u20ac") == "\u00e9\u20ac".encode()
    for s in ["", "plain", "a\x00b", "\U0001f600\U0010ffff", "\ud800x", "\udfff", "\u07ff\u0800"]:
        assert decode_mutf8(encode_mutf8(s)) == s
    # Accepted like DataInputStream.readUTF does: a raw NUL and overlong forms.
    assert decode_mutf8(b"a\x00b") == "a\x00b"
    assert decode_mutf8(b"\xc1\x81") == "A"
    assert decode_mutf8(b"\xe0\x81\x81") == "A"
    for bad in [b"\x80", b"\xc3", b"\xe2\x82", b"\xc3\x41", b"\xf0\x9f\x98\x80", b"\xff"]:
        with pytest.raises(MUTF8Error):
            decode_mutf8(bad)


# --------------------------------------------------------------------------------------------
# Block data


def test_block_reader_straddles_records() -> None:
    items: list[object] = [
        BlockData(b"\x00\x00"),
        BlockData(b"\x00\x05\x00"),
        BlockData(b"\x03ab"),
        BlockData(b"c"),
        "obj",
        BlockData(b"\x01"),
    ]
    r = BlockReader(items)
    assert r.block_remaining() == 9
    assert r.read_int() == 5
    assert r.read_utf() == "abc"
    assert r.index == 4
    assert r.read_object() == "obj"
    assert not r.at_end()
    assert r.read_byte() == 1
    assert r.at_end()
    with pytest.raises(SerializationError, match="end of data"):
        r.read_int()


def test_block_reader_errors() -> None:
    r = BlockReader([BlockData(b"\x00\x01"), "obj"])
    with pytest.raises(SerializationError, match="interrupts"):
        r.read_int()
    r = BlockReader([BlockData(b"\x00\x01"), "obj"])
    assert r.read_byte() == 0
    with pytest.raises(SerializationError, match="left where an object"):
        r.read_object()
    r = BlockReader([BlockData(b""), BlockData(b"\x01")])
    with pytest.raises(SerializationError, match="block data"):
        r.read_object()
    r = BlockReader([BlockData(b"\x00\x02\xc3")])
    with pytest.raises(SerializationError):
        r.read_utf()
    assert BlockReader(["a", "b"], start=1).read_object() == "b"
    assert BlockReader([BlockData(b"")]).at_end()


def test_block_writer_uses_java_boundaries() -> None:
    w = BlockWriter()
    w.write_bytes(b"\x01" * 1023)
    w.write_int(0x02030405)  # straddles the 1024-byte buffer
    w.write_object("x")
    w.write_short(-1)
    items = w.items()
    assert items == [
        BlockData(b"\x01" * 1023 + b"\x02"),
        BlockData(b"\x03\x04\x05"),
        "x",
        BlockData(b"\xff\xff"),
    ]
    assert write_stream(items)[4:9] == b"\x7a\x00\x00\x04\x00"
    with pytest.raises(SerializationError):
        w.write_utf("x" * 65536)
    with pytest.raises(SerializationError):
        w.write_int(2**31)
    with pytest.raises(SerializationError):
        w.write_byte(256)
    assert BlockWriter().items() == []


# --------------------------------------------------------------------------------------------
# java_hash, java_type_name, to_json


def test_java_hash_matches_the_jvm() -> None:
    # Printed by a JVM: "hello".hashCode(), "\uD83D\uDE00x\u00e9".hashCode(),
    # Double.hashCode(1.5 / -0.0 / NaN), Float.hashCode(2.5f), Long.hashCode(1L<<40 / -5L),
    # new Date(1700000000123L).hashCode(), Character.hashCode('c'), Boolean.hashCode(true).
    assert java_hash("hello") == 99162322
    assert java_hash("\U0001f600x\u00e9") == 1703759892
    assert java_hash(1.5) == 1073217536
    assert java_hash(-0.0) == -2147483648
    assert java_hash(math.nan) == 2146959360
    assert java_hash(JFloat(2.5)) == 1075838976
    assert java_hash(JLong(1 << 40)) == 256 and java_hash(1 << 40) == 256
    assert java_hash(JLong(-5)) == 4
    assert (
        java_hash(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=1700000000123))
        == -807048720
    )
    assert java_hash(JCharacter("c")) == 99
    assert java_hash(True) == 1231 and java_hash(None) == 0
    assert java_hash(object()) is None and java_hash(("a",)) is None


def test_java_type_names() -> None:
    assert [
        java_type_name(v)
        for v in (
            None,
            True,
            JBoolean(0),
            1,
            2**40,
            1.0,
            JFloat(1),
            "s",
            JCharacter("c"),
            b"",
            ("a",),
            (1,),
            [],
            {},
            JTreeMap(),
            set(),
            datetime.now(UTC),
            JShort(1),
            JByte(1),
            JDouble(1),
        )
    ] == [
        "null",
        "java.lang.Boolean",
        "java.lang.Boolean",
        "java.lang.Integer",
        "java.lang.Long",
        "java.lang.Double",
        "java.lang.Float",
        "java.lang.String",
        "java.lang.Character",
        "[B",
        "[Ljava.lang.String;",
        "[Ljava.lang.Object;",
        "java.util.ArrayList",
        "java.util.HashMap",
        "java.util.TreeMap",
        "java.util.HashSet",
        "java.util.Date",
        "java.lang.Short",
        "java.lang.Byte",
        "java.lang.Double",
    ]
    assert (
        java_type_name(loads(A5_SESSION_MESSAGE))
        == "org.apache.catalina.ha.session.SessionMessageImpl"
    )
    assert java_type_name(JavaArray(array_desc("[I"), [1])) == "[I"
    with pytest.raises(TypeError):
        java_type_name(object())


def test_to_json() -> None:
    obj = loads(A5_SESSION_MESSAGE)
    j = to_json(obj)
    assert j == {
        "class": "org.apache.catalina.ha.session.SessionMessageImpl",
        "fields": {
            "timestamp": 0,
            "mEvtType": 4,
            "serializationTimestamp": 0x18C2B3C4D5E,
            "timestampSet": True,
            "mContextName": "localhost#/jw",
            "mSession": None,
            "mSessionID": "GET-ALL",
            "uniqueId": "GET-ALL-localhost#/jw",
        },
    }
    json.dumps(j)
    cyc = loads(vector("cycle"))
    jc = to_json(cyc)
    assert jc[0]["fields"]["next"]["fields"]["next"] == {"cycle": "Gen$Node"}  # type: ignore[index]
    mixed = {
        1: b"\x01\xff",
        "d": datetime(2020, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
        "f": [math.nan, math.inf, -math.inf, JFloat(0.5)],
        "s": {"a"},
    }
    assert to_json(mixed) == [
        [1, "01ff"],
        ["d", "2020-01-02T03:04:05.006Z"],
        ["f", ["NaN", "Infinity", "-Infinity", 0.5]],
        ["s", ["a"]],
    ]
    ext = to_json(loads(vector("ext")))
    assert ext == {
        "class": "Gen$Ext",
        "fields": {},
        "external": [{"block": "000000070003657874"}, "obj", {"block": "0000000000000001"}, None],
    }
    exc = to_json(read_stream(vector("exception"))[2])
    assert exc["exception"]["class"] == "java.io.NotSerializableException"  # type: ignore[index]
    json.dumps(to_json(read_stream(vector("exception"))))
    json.dumps(to_json(loads(vector("proxy"))))
    json.dumps(to_json(loads(vector("classes"))))
    json.dumps(to_json(loads(vector("enums"))))
