"""Python values -> Java values of session attributes, manager names, session ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tribes.jserial import (
    JavaObject,
    JByte,
    JCharacter,
    JDouble,
    JFloat,
    JHashMap,
    JInteger,
    JLong,
    JShort,
    java_type_name,
)
from tribes.session import ManagerConfig, SessionManager, manager_name, to_java


@pytest.mark.parametrize(
    ("value", "java"),
    [
        ("text", "java.lang.String"),
        (True, "java.lang.Boolean"),
        (7, "java.lang.Integer"),
        (-(2**31), "java.lang.Integer"),
        (2**31 - 1, "java.lang.Integer"),
        (2**31, "java.lang.Long"),
        (-(2**31) - 1, "java.lang.Long"),
        (2**63 - 1, "java.lang.Long"),
        (1.5, "java.lang.Double"),
        (b"\x00\x01", "[B"),
        ([1, "a"], "java.util.ArrayList"),
        ({"k": 1}, "java.util.HashMap"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "java.util.Date"),
        (("a", "b"), "[Ljava.lang.String;"),
    ],
)
def test_natural_mapping(value: object, java: str) -> None:
    assert java_type_name(to_java(value)) == java


def test_nested_values_are_typed() -> None:
    v = to_java({"n": [1, 2**40, 2.5], "s": "x"})
    assert isinstance(v, dict)
    n = v["n"]
    assert [type(x) for x in n] == [JInteger, JLong, JDouble]


@pytest.mark.parametrize(
    ("value", "java_type", "cls", "java"),
    [
        (5, "Long", JLong, "java.lang.Long"),
        (5, "java.lang.Long", JLong, "java.lang.Long"),
        (5, "Short", JShort, "java.lang.Short"),
        (5, "Byte", JByte, "java.lang.Byte"),
        (5, "Float", JFloat, "java.lang.Float"),
        (5, "Double", JDouble, "java.lang.Double"),
        ("x", "Character", JCharacter, "java.lang.Character"),
        (7, "Integer", JInteger, "java.lang.Integer"),
    ],
)
def test_named_java_type(value: object, java_type: str, cls: type, java: str) -> None:
    v = to_java(value, java_type)
    assert type(v) is cls
    assert java_type_name(v) == java
    assert v == value


def test_named_java_type_errors() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        to_java(2**31, "Integer")
    with pytest.raises(ValueError, match="does not fit"):
        to_java(200, "Byte")
    with pytest.raises(TypeError):
        to_java("5", "Long")
    with pytest.raises(TypeError):
        to_java(True, "Integer")
    with pytest.raises(ValueError, match="unsupported Java type"):
        to_java(5, "java.math.BigInteger")
    with pytest.raises(ValueError, match="does not fit"):
        to_java(2**64)
    with pytest.raises(ValueError, match="timezone-aware"):
        to_java(datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="no Java mapping"):
        to_java(object())


def test_typed_values_are_kept_as_they_are() -> None:
    hm = JHashMap({"a": JInteger(1)})
    assert to_java(hm) is hm
    big = JLong(3)
    assert to_java(big) is big
    from tribes.messages.session import Principal

    opaque = Principal("alice").to_java(10)
    assert isinstance(opaque, JavaObject)
    assert to_java(opaque) is opaque


@pytest.mark.parametrize(
    ("path", "host", "name"),
    [
        ("/jw", "localhost", "localhost#/jw"),
        ("", "localhost", "localhost#"),
        ("/", "localhost", "localhost#"),
        ("/a/b", "www", "www#/a/b"),
        ("/jw##v2", "localhost", "localhost#/jw##v2"),
        ("##v2", "localhost", "localhost###v2"),
        ("/jw", None, "/jw"),
        ("", None, ""),
        ("localhost#/jw", "localhost", "localhost#/jw"),
    ],
)
def test_manager_name(path: str, host: str | None, name: str) -> None:
    assert manager_name(path, host) == name


def test_session_id_format() -> None:
    m = SessionManager("localhost#/jw", tomcat_version=10)
    ids = {m.create_session(0).id for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"[0-9A-F]{32}", i) for i in ids)
    routed = SessionManager("localhost#/jw", tomcat_version=10, jvm_route="node1")
    assert re.fullmatch(r"[0-9A-F]{32}\.node1", routed.create_session(0).id)


def test_session_id_from_random_bytes() -> None:
    m = SessionManager(
        "localhost#/jw", tomcat_version=9, random_bytes=lambda n: bytes(range(0xF0, 0xF0 + n))
    )
    assert m.generate_session_id() == "F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="send_all_sessions_size"):
        ManagerConfig(send_all_sessions_size=0)
    with pytest.raises(ValueError, match="unsupported Tomcat version"):
        SessionManager("x", tomcat_version=8)
