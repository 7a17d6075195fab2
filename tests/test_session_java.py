"""What the session manager sends, parsed by the real Tomcat 9.0.70 / 10.1.60 classes.

The checker (tests/javagen.py) reads DeltaRequest bytes with `DeltaRequest.readExternal`, full
sessions with `DeltaSession.readObjectData` (as DeltaManager.deserializeSessions does), the
CHANGE_SESSION_ID payload with `readUTF`, and whole messages with `XByteBuffer.deserialize`;
the expected descriptions below are written by hand from TRIBES.md §8.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.javagen import JavaChecker, java_checker, strip_private, tomcat_version
from tests.test_session_support import T0, Cluster
from tribes.messages.codec import encode_payload
from tribes.messages.session import Event, Principal, SessionMessage

__all__ = ["java_checker", "tomcat_version"]  # fixtures used below

pytestmark = pytest.mark.interop

SID = "0123456789ABCDEF0123456789ABCDEF"


def prim(java: str, value: object) -> dict[str, Any]:
    return {"java": "java.lang." + java, "value": value}


def check(checker: JavaChecker, kind: str, data: bytes | None) -> Any:
    assert data is not None
    return strip_private(checker.check(kind, data))


def _session_on_a(version: int) -> tuple[Cluster, Any]:
    c = Cluster()
    a = c.node("a", version)
    c.node("b", version)
    s = a.jw.create_session(T0, session_id=SID)
    s.set("count", 7)
    s.set("big", 5, java_type="Long")
    s.set("items", ["x", 2])
    s.set("flag", False)
    s.set_principal(Principal("alice", ("user",)))
    s.set_note("org.apache.catalina.authenticator.SESSION_ID", SID)
    a.jw.request_completed(s, T0 + 1)
    return c, a


def test_creation_messages(java_checker: JavaChecker, tomcat_version: int) -> None:
    c, a = _session_on_a(tomcat_version)
    created, delta = c.outgoing(a)

    assert check(java_checker, "object", encode_payload(created.message)) == {
        "java": "org.apache.catalina.ha.session.SessionMessageImpl",
        "value": {
            "eventType": 1,
            "eventTypeString": "SESSION-MODIFIED",
            "contextName": "localhost#/jw",
            "sessionId": SID,
            "uniqueId": f"{SID}-{T0}",
            "timestamp": T0,
            "timestampSet": True,
            "clusterMessageTimestamp": 0,
            "session": None,
            "payload": None,
        },
    }
    outer = check(java_checker, "object", encode_payload(delta.message))
    assert outer["value"]["eventTypeString"] == "SESSION-DELTA"
    assert outer["value"]["uniqueId"] == f"{SID}-{T0 + 1}"
    assert outer["value"]["timestamp"] == T0 + 1

    principal = {"name": "alice", "roles": ["user"], "userPrincipal": None, "attributes": None}
    if tomcat_version == 9:
        principal = {"name": "alice", "roles": ["user"], "password": None} | principal
    actions = [
        {"type": 2, "action": 0, "name": "__SET__ISNEW__", "value": prim("Boolean", True)},
        {"type": 3, "action": 0, "name": "__SET__MAXINTERVAL__", "value": prim("Integer", 1800)},
        {"type": 0, "action": 0, "name": "count", "value": prim("Integer", 7)},
        {"type": 0, "action": 0, "name": "big", "value": prim("Long", 5)},
        {
            "type": 0,
            "action": 0,
            "name": "items",
            "value": {
                "java": "java.util.ArrayList",
                "value": [prim("String", "x"), prim("Integer", 2)],
            },
        },
        {"type": 0, "action": 0, "name": "flag", "value": prim("Boolean", False)},
        {
            "type": 1,
            "action": 0,
            "name": "__SET__PRINCIPAL__",
            "value": {"java": "org.apache.catalina.realm.GenericPrincipal", "value": principal},
        },
    ]
    if tomcat_version >= 10:  # 10.1 records every note
        actions.append(
            {
                "type": 6,
                "action": 0,
                "name": "org.apache.catalina.authenticator.SESSION_ID",
                "value": prim("String", SID),
            }
        )
    assert check(java_checker, "delta", delta.message.payload) == {
        "java": "org.apache.catalina.ha.session.DeltaRequest",
        "value": {"sessionId": SID, "recordAllActions": False, "actions": actions},
    }


def test_full_sessions(java_checker: JavaChecker, tomcat_version: int) -> None:
    c, a = _session_on_a(tomcat_version)
    c.pump()
    late = c.node("late", tomcat_version)
    late.jw.start(T0 + 2)
    c.now = T0 + 3
    c.transmit(late, c.outgoing(late)[0])
    data, done = c.outgoing(a)

    principal: dict[str, Any] = {"name": "alice", "roles": ["user"]}
    if tomcat_version == 9:
        principal["password"] = None
    principal |= {"userPrincipal": None, "attributes": None}
    notes = {}
    if tomcat_version >= 10:  # 9.0 (persistAuthenticationNotes=false) does not carry the notes
        notes = {"org.apache.catalina.authenticator.SESSION_ID": prim("String", SID)}
    assert check(java_checker, "sessions", data.message.payload) == {
        "count": 1,
        "sessions": [
            {
                "java": "org.apache.catalina.ha.session.DeltaSession",
                "value": {
                    "id": SID,
                    "creationTime": T0,
                    "lastAccessedTime": T0 + 1,
                    "thisAccessedTime": T0 + 1,
                    "maxInactiveInterval": 1800,
                    "isNew": False,
                    "isValid": True,
                    "version": 0,
                    "principal": {
                        "java": "org.apache.catalina.realm.GenericPrincipal",
                        "value": principal,
                    },
                    "notes": notes,
                    "attributes": {
                        "big": prim("Long", 5),
                        "count": prim("Integer", 7),
                        "flag": prim("Boolean", False),
                        "items": {
                            "java": "java.util.ArrayList",
                            "value": [prim("String", "x"), prim("Integer", 2)],
                        },
                    },
                    "listeners": [],
                },
            }
        ],
    }
    outer = check(java_checker, "object", encode_payload(done.message))
    assert outer["value"] == {
        "eventType": 14,
        "eventTypeString": "SESSION-STATE-TRANSFERRED",
        "contextName": "localhost#/jw",
        "sessionId": "SESSION-STATE-TRANSFERRED",
        "uniqueId": "SESSION-STATE-TRANSFERREDlocalhost#/jw",
        "timestamp": T0 + 3,
        "timestampSet": True,
        "clusterMessageTimestamp": 0,
        "session": None,
        "payload": None,
    }


def test_change_id_expired_and_no_context_manager(
    java_checker: JavaChecker, tomcat_version: int
) -> None:
    c, a = _session_on_a(tomcat_version)
    c.pump()
    s = a.jw.find(SID)
    assert s is not None
    a.jw.change_session_id(s, "NEWID.node2", T0 + 5)
    (change,) = c.outgoing(a)
    assert check(java_checker, "utf", change.message.payload) == {"utf": "NEWID.node2"}
    outer = check(java_checker, "object", encode_payload(change.message))["value"]
    assert (outer["eventTypeString"], outer["sessionId"], outer["uniqueId"]) == (
        "SESSION-ID-CHANGED",
        SID,
        f"{SID}-{T0 + 5}",
    )

    s.invalidate(T0 + 6)
    (expired,) = c.outgoing(a)
    outer = check(java_checker, "object", encode_payload(expired.message))["value"]
    assert (
        outer["eventTypeString"],
        outer["sessionId"],
        outer["uniqueId"],
        outer["timestamp"],
    ) == (
        "SESSION-EXPIRED",
        "NEWID.node2",
        "NEWID.node2-EXPIRED-MSG",
        T0 + 6,
    )

    ask = SessionMessage(Event.EVT_GET_ALL_SESSIONS, "localhost#/nope", "GET-ALL", "x", T0, True)
    a.registry.receive(ask, object(), T0)
    (reply,) = a.registry.take_outgoing()
    outer = check(java_checker, "object", encode_payload(reply.message))["value"]
    assert outer == {
        "eventType": 16,
        "eventTypeString": "NO-CONTEXT-MANAGER",
        "contextName": "localhost#/nope",
        "sessionId": "NO-CONTEXT-MANAGER",
        "uniqueId": "NO-CONTEXT-MANAGER-localhost#/nope",
        "timestamp": 0,
        "timestampSet": False,
        "clusterMessageTimestamp": 0,
        "session": None,
        "payload": None,
    }
