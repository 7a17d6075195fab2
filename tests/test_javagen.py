"""Smoke tests of the Java vector generator / checker (tests/java) and its Python driver."""

from __future__ import annotations

import struct
import warnings

import pytest

from tests.javagen import (
    CHECK_KINDS,
    EXPECTED_TOMCAT,
    VECTOR_KINDS,
    JavaChecker,
    JavaCheckError,
    Vector,
    checker,
    java_checker,
    java_vectors,
    manifest,
    strip_private,
    tomcat_version,
    vectors,
)

__all__ = ["java_checker", "java_vectors", "tomcat_version"]  # fixtures used below

pytestmark = pytest.mark.interop

VALUES = [
    "string", "string_empty", "string_nul", "string_nonbmp", "string_max_short", "string_min_long",
    "string_long_multibyte", "integer", "integer_min", "long", "long_neg", "short", "byte", "char",
    "char_nonascii", "boolean_true", "boolean_false", "double", "double_nan", "float", "bytes",
    "bytes_empty", "string_array", "int_array", "object_array", "arraylist", "linkedlist",
    "hashmap_empty", "hashmap_1", "hashmap_20", "linkedhashmap", "treemap", "hashset", "date",
    "nested", "pojo", "externalizable", "enum",
]  # fmt: skip

REQUIRED = {
    # MemberImpl binary
    "member_ipv4", "member_command_domain_payload", "member_ipv6",
    # ChannelData and frames, ACKs, probes
    *(f"channel_data_opt{o}" for o in (0, 1, 2, 6, 8)),
    *(f"frame_opt{o}" for o in (0, 1, 2, 6, 8)),
    "ack", "fail_ack", "frame_tcp_fail_detect", "frame_tcp_ping",
    # static membership RPC
    "rpc_start_request", "rpc_start_reply", "rpc_ping_request", "rpc_ping_reply",
    "member_message_stop", "member_message_memberimpl", "rpc_noreply",
    # SessionMessageImpl, every DeltaManager event
    "smsg_session_created", "smsg_session_expired", "smsg_session_accessed",
    "smsg_get_all_sessions", "smsg_all_session_data_0", "smsg_all_session_data_1",
    "smsg_all_session_data_3", "smsg_all_session_data_principal",
    "smsg_all_session_data_authnotes", "smsg_all_session_data_attrs",
    "smsg_all_session_data_notserializable", "smsg_session_delta", "smsg_transfercomplete",
    "smsg_change_session_id", "smsg_nocontextmanager",
    # inner payloads
    "sessions_0", "sessions_1", "sessions_3", "sessions_principal", "sessions_authnotes",
    "sessions_attrs", "sessions_notserializable", "utf_change_session_id",
    # DeltaRequest
    "delta_a6", "delta_attr_set", "delta_attr_remove", "delta_principal_set",
    "delta_principal_remove", "delta_isnew_true", "delta_isnew_false", "delta_maxinterval",
    "delta_authtype_set", "delta_authtype_remove", "delta_note_set", "delta_note_remove",
    "delta_listener_add", "delta_listener_remove", "delta_dedup", "delta_bench_1attr",
    "delta_bench_10attr", "delta_all_values",
    # attribute values, alone and inside a delta
    *(f"value_{n}" for n in VALUES),
    *(f"delta_value_{n}" for n in VALUES),
}  # fmt: skip

MEMBERIMPL = b"org.apache.catalina.tribes.membership.MemberImpl"
MEMBERIMPL_SUID = {9: "2e21087915506d1c", 10: "8476f37b32953667"}  # TRIBES.md 7.4


def test_generator_runs(tomcat_version: int, java_vectors: dict[str, Vector]) -> None:
    m = manifest(tomcat_version)
    expected = EXPECTED_TOMCAT[tomcat_version]
    assert m["tomcat"].startswith(expected.rsplit(".", 1)[0] + "."), m["tomcat"]
    if not m["tomcat"].startswith(expected + "."):
        warnings.warn(
            f"vectors come from Tomcat {m['tomcat']}, the project targets {expected}", stacklevel=1
        )
    assert m["version"] == tomcat_version
    assert len(java_vectors) == len(m["vectors"]) > 100
    for v in java_vectors.values():
        assert v.version == tomcat_version
        assert v.kind in VECTOR_KINDS
        assert v.check in CHECK_KINDS
        assert v.data, v.name


def test_manifest_covers_required_vectors(java_vectors: dict[str, Vector]) -> None:
    missing = REQUIRED - java_vectors.keys()
    assert not missing, sorted(missing)


def test_memberimpl_suids_differ_between_versions() -> None:
    suids = {}
    for version in (9, 10):
        data = vectors(version)["member_message_memberimpl"].data
        at = data.index(MEMBERIMPL)
        assert data[at - 2 : at] == struct.pack(">H", len(MEMBERIMPL))
        suids[version] = data[at + len(MEMBERIMPL) : at + len(MEMBERIMPL) + 8].hex()
        suid = manifest(version)["constants"]["suids"]
        assert suid["org.apache.catalina.tribes.membership.MemberImpl"] == MEMBERIMPL_SUID[version]
    assert suids == MEMBERIMPL_SUID


def test_patched_alive_fields(java_vectors: dict[str, Vector]) -> None:
    alive = struct.pack(">q", 0x1234)
    for v in java_vectors.values():
        for off, length in v.patched:
            assert length == 8 and v.data[off : off + 8] == alive, v.name
            assert v.data[off - 14 : off - 4] == b"TRIBES-B\x01\x00", v.name
    assert java_vectors["rpc_ping_request"].patched  # writeExternal recomputes alive


def test_known_bytes(java_vectors: dict[str, Vector]) -> None:
    assert java_vectors["ack"].data == b"FLT2002\x00\x00\x00\x03\x06\x02\x03TLF2003"
    assert java_vectors["fail_ack"].data == b"FLT2002\x00\x00\x00\x03\x0b\x00\x05TLF2003"
    assert java_vectors["member_ipv4"].data[:10] == b"TRIBES-B\x01\x00"
    assert len(java_vectors["member_ipv4"].data) == 77
    utf = java_vectors["utf_change_session_id"].data
    assert utf == bytes.fromhex("aced0005770d000b") + b"NEWID.node2"


def test_checker_round_trips_every_vector(
    java_vectors: dict[str, Vector], java_checker: JavaChecker
) -> None:
    failures = []
    for v in java_vectors.values():
        if v.expect_error is not None:
            with pytest.raises(JavaCheckError) as err:
                java_checker.check(v.check, v.data)
            assert v.expect_error in err.value.error, v.name
            continue
        got = java_checker.check(v.check, v.data)
        if got != v.expected:
            failures.append(v.name)
    assert not failures, failures


def test_checker_answers_like_the_manifest(
    java_vectors: dict[str, Vector], java_checker: JavaChecker
) -> None:
    v = java_vectors["smsg_session_delta"]
    got = java_checker.check("object", v.data)
    assert got["java"] == "org.apache.catalina.ha.session.SessionMessageImpl"
    assert got["value"]["eventType"] == 13
    actions = got["value"]["payload"]["value"]["actions"]
    assert actions[0] == {
        "type": 0,
        "action": 0,
        "name": "counter",
        "value": {"java": "java.lang.Integer", "value": 7},
    }
    assert got == strip_private(v.fields)


def test_checker_reports_java_errors(java_checker: JavaChecker) -> None:
    assert java_checker.tomcat().startswith(EXPECTED_TOMCAT[java_checker.version].rsplit(".", 1)[0])
    with pytest.raises(JavaCheckError, match="countPackages"):
        java_checker.check("frame", b"FLT2002\x00\x00\x00\x05abc")
    with pytest.raises(JavaCheckError, match="IllegalArgumentException"):
        java_checker.check("member", b"not a member at all")
    with pytest.raises(JavaCheckError, match=r"StreamCorruptedException|EOFException"):
        java_checker.check("object", b"\xac\xed\x00\x05\x73")
    with pytest.raises(JavaCheckError, match="trailing"):
        java_checker.check("utf", bytes.fromhex("aced0005770d000b") + b"NEWID.node2" + b"\x77\x01!")
    with pytest.raises(JavaCheckError, match="trailing"):
        java_checker.check("object", bytes.fromhex("aced00057400014170"))  # "A" then a null
    # the checker keeps serving after errors
    assert java_checker.check("utf", bytes.fromhex("aced00057703000141")) == {"utf": "A"}


def test_versions_reject_each_others_memberimpl() -> None:
    """TRIBES.md 7.4: a 10.1 reader cannot read a 9.0 MemberImpl, and vice versa."""
    for writer, reader in ((9, 10), (10, 9)):
        data = vectors(writer)["rpc_ping_request"].data
        with pytest.raises(JavaCheckError, match="local class incompatible"):
            checker(reader).check("object", data)
        # SessionMessageImpl bytes are the same in both versions
        assert (
            vectors(writer)["smsg_session_delta"].data == vectors(reader)["smsg_session_delta"].data
        )
