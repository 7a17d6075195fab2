"""Runtime flows between managers wired back to back (TRIBES.md §8.6, OBSERVED.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.test_session_support import CTX, T0, Cluster, delta_of, events
from tribes.jserial import (
    ClassData,
    ClassDesc,
    FieldDesc,
    JavaObject,
    JDouble,
    JInteger,
    JLong,
    dumps,
)
from tribes.messages.session import (
    ACTION_REMOVE,
    ACTION_SET,
    NAME_AUTHTYPE,
    NAME_ISNEW,
    NAME_MAXINTERVAL,
    NAME_PRINCIPAL,
    TYPE_ATTRIBUTE,
    TYPE_AUTHTYPE,
    TYPE_ISNEW,
    TYPE_MAXINTERVAL,
    TYPE_NOTE,
    TYPE_PRINCIPAL,
    DeltaRequest,
    Event,
    Principal,
    SessionMessage,
    decode_new_id,
)
from tribes.session import (
    ALL,
    InvalidSessionError,
    Session,
    SessionListener,
    SessionManager,
    TooManyActiveSessions,
)

ISNEW_TRUE = (TYPE_ISNEW, ACTION_SET, "__SET__ISNEW__", True)
ISNEW_FALSE = (TYPE_ISNEW, ACTION_SET, "__SET__ISNEW__", False)


def maxinterval(seconds: int) -> tuple[int, int, str, object]:
    return (TYPE_MAXINTERVAL, ACTION_SET, "__SET__MAXINTERVAL__", seconds)


def attr(name: str, value: object) -> tuple[int, int, str, object]:
    return (TYPE_ATTRIBUTE, ACTION_SET, name, value)


def removed(name: str) -> tuple[int, int, str, object]:
    return (TYPE_ATTRIBUTE, ACTION_REMOVE, name, None)


def pair(version: int = 10, **config: object) -> tuple[Cluster, SessionManager, SessionManager]:
    c = Cluster()
    a = c.node("a", version, **config)
    b = c.node("b", version, **config)
    return c, a.jw, b.jw


@pytest.fixture(params=[9, 10], ids=["tomcat9", "tomcat10"])
def version(request: pytest.FixtureRequest) -> int:
    v: int = request.param
    return v


# --- creation -----------------------------------------------------------------------------------


def test_creation_sends_created_then_delta(version: int) -> None:
    c, a, b = pair(version)
    s = a.create_session(T0)
    s.set("name", "value")
    a.request_completed(s, c.tick(5))
    wire = c.pump()

    assert events(wire) == ["EVT_SESSION_CREATED", "EVT_SESSION_DELTA"]
    created, delta = wire[0].message, wire[1].message
    assert (wire[0].src, wire[0].dst, wire[0].options) == ("a", "b", 6)
    assert created.context_name == "localhost#/jw"
    assert created.session_id == s.id
    assert created.unique_id == f"{s.id}-{T0}"
    assert created.timestamp == T0 == s.creation_time
    assert created.timestamp_set is True
    assert created.payload is None
    assert created.base_timestamp == 0

    assert delta.session_id == s.id
    assert delta.unique_id == f"{s.id}-{T0 + 5}"
    assert delta.timestamp == T0 + 5 and delta.timestamp_set
    assert wire[1].options == 6
    actions = delta_of(delta)
    assert actions == [ISNEW_TRUE, maxinterval(1800), attr("name", "value")]
    assert type(actions[1][3]) is JInteger

    backup = b.find(s.id)
    assert backup is not None and backup is not s
    assert backup.is_valid and not backup.is_primary and s.is_primary
    assert backup.creation_time == T0
    assert backup.max_inactive_interval == 1800
    assert backup.is_new is False  # endAccess after applying the delta
    assert dict(backup.attributes) == {"name": "value"}
    # the delta's access() / endAccess() at the receiver's "now"; lastAccessedTime is the
    # delta's timestamp (the same instant here)
    assert backup.last_accessed_time == T0 + 5 == backup.this_accessed_time


def test_creation_without_members_sends_nothing_and_discards_changes() -> None:
    c = Cluster()
    a = c.node("a").jw
    s = a.create_session(T0)
    s.set("k", 1)
    a.request_completed(s, T0 + 1)
    assert c.pump() == []
    assert not s.dirty and s.is_primary
    assert a.counters["sent.EVT_SESSION_CREATED"] == 0


def test_receiver_uses_its_own_session_timeout() -> None:
    c = Cluster()
    a = c.node("a", session_timeout=30).jw
    b = c.node("b", session_timeout=10).jw
    s = a.create_session(T0)
    created = c.outgoing(c.nodes[0])[0]
    c.transmit(c.nodes[0], created)
    backup = b.find(s.id)
    assert backup is not None
    assert backup.max_inactive_interval == 600  # b's 10 minutes, until the delta says 1800
    a.request_completed(s, T0)
    c.pump()
    assert backup.max_inactive_interval == 1800


# --- requests on an existing session -------------------------------------------------------------


def test_read_only_request_on_the_other_node_10_vs_9(version: int) -> None:
    c, a, b = pair(version)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()

    now = c.tick(1000)
    bs = b.find_session(s.id, now)
    assert bs is not None
    b.request_completed(bs, now)
    wire = c.pump()
    if version >= 10:
        # 10.1.60: Request.doGetSession records setNew(false) on every join (BZ 69814)
        assert events(wire) == ["EVT_SESSION_DELTA"]
        assert delta_of(wire[0].message) == [ISNEW_FALSE]
    else:
        # 9.0.70: nothing changed, but b was not primary -> ACCESSED
        assert events(wire) == ["EVT_SESSION_ACCESSED"]
        m = wire[0].message
        assert (m.session_id, m.unique_id, m.timestamp, m.payload) == (
            s.id,
            f"{s.id}-{now}",
            now,
            None,
        )
    assert (wire[0].src, wire[0].dst) == ("b", "a")
    assert bs.is_primary and not s.is_primary

    now = c.tick(1000)
    bs2 = b.find_session(s.id, now)
    assert bs2 is bs
    b.request_completed(bs, now)
    wire = c.pump()
    if version >= 10:
        assert events(wire) == ["EVT_SESSION_DELTA"]
    else:
        assert wire == []  # primary, replicated recently: no message at all


def test_accessed_keeps_backups_alive_after_max_inactive_interval() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    s.set_max_inactive_interval(60)
    a.request_completed(s, T0)
    c.pump()
    for step in (30_000, 30_000):  # 60 s since the last replication: not yet (strictly greater)
        now = c.tick(step)
        assert a.find_session(s.id, now) is s
        a.request_completed(s, now)
        assert c.pump() == []
    now = c.tick(1)
    assert a.find_session(s.id, now) is s
    a.request_completed(s, now)
    wire = c.pump()
    assert events(wire) == ["EVT_SESSION_ACCESSED"]
    assert wire[0].message.timestamp == now
    backup = b.find(s.id)
    assert backup is not None and backup.this_accessed_time == now


def test_set_and_remove_last_action_per_name() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    s.set("gone", "x")
    a.request_completed(s, T0)
    c.pump()

    now = c.tick(10)
    assert a.find_session(s.id, now) is s
    s.set("counter", 1)
    s.set("name", "value")
    s.set("counter", 2)
    s.remove("gone")
    s.remove("never-set")  # nothing to remove: no action (DeltaSession.removeAttributeInternal)
    s.set("tmp", 1)
    s.set("tmp", None)  # None = remove
    a.request_completed(s, now)
    wire = c.pump()
    assert events(wire) == ["EVT_SESSION_DELTA"]
    assert delta_of(wire[0].message) == [
        attr("name", "value"),
        attr("counter", 2),
        removed("gone"),
        removed("tmp"),
    ]
    backup = b.find(s.id)
    assert backup is not None
    assert dict(backup.attributes) == {"name": "value", "counter": 2}


def test_java_types_of_attributes_on_the_wire() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    s.set("int", 5)
    s.set("long", 5, java_type="Long")
    s.set("big", 2**40)
    s.set("double", 0.25)
    s.set("flag", True)
    s.set("raw", b"\x01\x02")
    s.set("list", [1, "two", 3.0])
    s.set("map", {"k": [True]})
    s.set("date", when)
    a.request_completed(s, T0)
    wire = c.pump()
    values = {name: value for (_, _, name, value) in delta_of(wire[1].message)[2:]}
    assert type(values["int"]) is JInteger
    assert type(values["long"]) is JLong
    assert type(values["big"]) is JLong
    assert type(values["double"]) is JDouble
    assert values["flag"] is True
    assert values["raw"] == b"\x01\x02"
    assert values["list"] == [1, "two", 3.0] and type(values["list"][0]) is JInteger
    assert values["map"] == {"k": [True]}
    assert values["date"] == when
    backup = b.find(s.id)
    assert backup is not None
    assert backup.java_type("long") == "java.lang.Long"
    assert backup.java_type("int") == "java.lang.Integer"
    assert backup.java_type("list") == "java.util.ArrayList"
    assert backup.java_type("date") == "java.util.Date"


def _opaque() -> JavaObject:
    desc = ClassDesc(
        "lab.Pojo",
        0x1234_5678_9ABC_DEF0,
        0x02,
        (FieldDesc("I", "n", None), FieldDesc("L", "s", "Ljava/lang/String;")),
        None,
        [],
    )
    return JavaObject(desc, [ClassData(desc, {"n": 42, "s": "pojo"}, None)], None)


def test_values_from_tomcat_are_resent_byte_identically() -> None:
    c = Cluster()
    a, b, d = (c.node(n, 10) for n in "abd")
    s = a.jw.create_session(T0)
    s.set("pojo", _opaque())
    a.jw.request_completed(s, T0)
    c.pump()
    received = b.jw.find(s.id)
    assert received is not None
    pojo_b = received.get("pojo")
    assert isinstance(pojo_b, JavaObject) and pojo_b.class_name == "lab.Pojo"
    # b serves the request and re-sends the value it received (a new value object graph)
    now = c.tick(10)
    bs = b.jw.find_session(s.id, now)
    assert bs is not None
    bs.set("pojo", pojo_b)
    b.jw.request_completed(bs, now)
    wire = c.pump()
    sent_value = next(v for (_, _, n, v) in delta_of(wire[0].message) if n == "pojo")
    assert dumps(sent_value) == dumps(_opaque())
    at_d = d.jw.find(s.id)
    assert at_d is not None and dumps(at_d.get("pojo")) == dumps(_opaque())


# --- invalidate / expire ------------------------------------------------------------------------


def test_invalidate_sends_expired(version: int) -> None:
    c, a, b = pair(version)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()

    now = c.tick(100)
    assert a.find_session(s.id, now) is s
    s.invalidate(now)
    a.request_completed(s, now)  # the request ends: nothing more for an invalidated session
    wire = c.pump()
    if version >= 10:
        assert events(wire) == ["EVT_SESSION_DELTA", "EVT_SESSION_EXPIRED"]
        assert delta_of(wire[0].message) == [ISNEW_FALSE]
    else:
        assert events(wire) == ["EVT_SESSION_EXPIRED"]
    expired = wire[-1].message
    assert expired.session_id == s.id
    assert expired.unique_id == f"{s.id}-EXPIRED-MSG"
    assert expired.timestamp == now and expired.timestamp_set
    assert expired.payload is None
    assert wire[-1].options == 6
    assert not s.is_valid and s.id not in a
    assert s.id not in b
    with pytest.raises(InvalidSessionError):
        s.invalidate(now)
    with pytest.raises(InvalidSessionError):
        s.set("x", 1)


def test_invalidate_flushes_pending_changes_first() -> None:
    c, a, _ = pair(9)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    now = c.tick(5)
    a.find_session(s.id, now)
    s.set("last", "words")
    s.invalidate(now)
    wire = c.pump()
    assert events(wire) == ["EVT_SESSION_DELTA", "EVT_SESSION_EXPIRED"]
    assert delta_of(wire[0].message) == [attr("last", "words")]


def test_expiry_sweep_primary_sends_expired_backup_waits_twice() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    s.set_max_inactive_interval(3)
    a.request_completed(s, T0)
    c.pump()
    backup = b.find(s.id)
    assert backup is not None and backup.max_inactive_interval == 3

    assert a.process_expires(T0 + 2_999) == 0
    assert b.process_expires(T0 + 2_999) == 0
    assert c.pump() == []
    # the backup does not expire at 1x (it is not primary) ...
    assert b.process_expires(T0 + 3_000) == 0
    assert c.pump() == []
    # ... the primary does, and tells the backup
    assert a.process_expires(T0 + 3_000) == 1
    wire = c.pump()
    assert events(wire) == ["EVT_SESSION_EXPIRED"]
    assert wire[0].message.timestamp == T0 + 3_000
    assert s.id not in a and s.id not in b


def test_backup_expires_silently_at_twice_the_interval() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    s.set_max_inactive_interval(3)
    a.request_completed(s, T0)
    c.pump()
    c.nodes[0].up = False  # the primary is gone
    assert b.process_expires(T0 + 5_999) == 0
    assert b.process_expires(T0 + 6_000) == 1
    assert s.id not in b
    assert c.outgoing(c.nodes[1]) == []


def test_sessions_without_timeout_never_expire() -> None:
    _, a, _ = pair(9)
    s = a.create_session(T0)
    s.set_max_inactive_interval(0)
    assert a.process_expires(T0 + 10**10) == 0
    s.set_max_inactive_interval(-1)
    assert a.process_expires(T0 + 10**10) == 0
    assert s.is_valid


def test_find_session_expires_a_timed_out_primary() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    s.set_max_inactive_interval(3)
    a.request_completed(s, T0)
    c.pump()
    assert a.find_session(s.id, T0 + 3_000) is None
    wire = c.pump()
    assert events(wire) == ["EVT_SESSION_EXPIRED"]
    assert s.id not in b


def test_stop_expires_locally_without_messages_by_default() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    a.stop(T0 + 1)
    assert s.id not in a and not s.is_valid
    assert c.pump() == []
    assert s.id in b


def test_stop_with_expire_sessions_on_shutdown() -> None:
    c, a, b = pair(9, expire_sessions_on_shutdown=True)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    a.stop(T0 + 1)
    assert events(c.pump()) == ["EVT_SESSION_EXPIRED"]
    assert s.id not in b


# --- change session id ---------------------------------------------------------------------------


def test_change_session_id_then_delta_for_the_new_id(version: int) -> None:
    c, a, b = pair(version)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    old = s.id

    now = c.tick(50)
    a.find_session(old, now)
    s.set("user", "alice")
    new = a.change_session_id(s, now=now)
    assert new == s.id != old
    assert a.find(old) is None and a.find(new) is s
    a.request_completed(s, now)
    wire = c.pump()
    assert events(wire) == ["EVT_CHANGE_SESSION_ID", "EVT_SESSION_DELTA"]
    change = wire[0].message
    assert change.session_id == old
    assert change.unique_id == f"{old}-{now}"
    assert change.timestamp == now
    assert change.payload is not None and decode_new_id(change.payload) == new
    assert wire[1].message.session_id == new
    expected = [attr("user", "alice")]
    if version >= 10:
        expected = [ISNEW_FALSE, *expected]
    assert delta_of(wire[1].message) == expected

    backup = b.find(new)
    assert b.find(old) is None
    assert backup is not None and backup.get("user") == "alice"
    assert not backup.is_primary


def test_jvm_route_binder_rebinds_foreign_ids() -> None:
    c = Cluster()
    a = c.node("a", 10, jvm_route="n1").jw
    b = c.node("b", 10, jvm_route="n2").jw
    s = a.create_session(T0)
    assert s.id.endswith(".n1")
    a.request_completed(s, T0)
    c.pump()

    now = c.tick(10)
    old = s.id
    bs = b.find_session(old, now)  # the load balancer failed over to b
    assert bs is not None and bs.id == old[: -len(".n1")] + ".n2"
    b.request_completed(bs, now)
    wire = c.pump()
    assert events(wire) == ["EVT_CHANGE_SESSION_ID", "EVT_SESSION_DELTA"]
    assert wire[0].message.session_id == old
    assert wire[1].message.session_id == bs.id
    assert s.id == bs.id  # a followed the change
    # a request still carrying the old id finds the moved session
    assert b.find_session(old, c.tick(1)) is bs


# --- principal, auth type, notes ----------------------------------------------------------------


def test_principal_and_auth_type() -> None:
    c, a, b = pair(10)
    s = a.create_session(T0)
    s.set_principal(Principal("alice", ("user", "admin")))
    s.set_auth_type("FORM")
    a.request_completed(s, T0)
    wire = c.pump()
    actions = delta_of(wire[1].message)
    assert [(t, act, n) for (t, act, n, _) in actions[2:]] == [
        (TYPE_PRINCIPAL, ACTION_SET, NAME_PRINCIPAL),
        (TYPE_AUTHTYPE, ACTION_SET, NAME_AUTHTYPE),
    ]
    wire_principal = actions[2][3]
    assert isinstance(wire_principal, JavaObject)
    assert wire_principal.class_name == (
        "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal"
    )
    assert actions[3][3] == "FORM"
    backup = b.find(s.id)
    assert backup is not None
    p = backup.principal
    assert p is not None and p.name == "alice" and set(p.roles) == {"user", "admin"}
    assert backup.auth_type == "FORM"

    now = c.tick(1)
    a.find_session(s.id, now)
    s.set_principal(None)
    s.set_auth_type(None)
    a.request_completed(s, now)
    wire = c.pump()
    assert delta_of(wire[0].message) == [
        ISNEW_FALSE,
        (TYPE_PRINCIPAL, ACTION_REMOVE, NAME_PRINCIPAL, None),
        (TYPE_AUTHTYPE, ACTION_REMOVE, NAME_AUTHTYPE, None),
    ]
    assert backup.principal is None and backup.auth_type is None


def test_notes_replicate_on_10_only(version: int) -> None:
    c, a, b = pair(version)
    s = a.create_session(T0)
    s.set_note("org.apache.catalina.authenticator.SESSION_ID", s.id)
    s.set_note("local", "x")
    a.request_completed(s, T0)
    wire = c.pump()
    notes = [(t, act, n, v) for (t, act, n, v) in delta_of(wire[1].message) if t == TYPE_NOTE]
    backup = b.find(s.id)
    assert backup is not None
    if version >= 10:
        assert notes == [
            (TYPE_NOTE, ACTION_SET, "org.apache.catalina.authenticator.SESSION_ID", s.id),
            (TYPE_NOTE, ACTION_SET, "local", "x"),
        ]
        assert backup.get_note("local") == "x"
    else:
        assert notes == []
        assert backup.get_note("local") is None
    assert s.get_note("local") == "x"


# --- listeners ------------------------------------------------------------------------------------


class Recorder(SessionListener):
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def session_created(self, session: Session) -> None:
        self.calls.append(("created", session.id))

    def session_destroyed(self, session: Session) -> None:
        self.calls.append(("destroyed", session.id))

    def session_id_changed(self, session: Session, old_id: str) -> None:
        self.calls.append(("id_changed", old_id, session.id))

    def attribute_added(self, session: Session, name: str, value: object) -> None:
        self.calls.append(("added", name, value))

    def attribute_replaced(
        self, session: Session, name: str, old_value: object, new_value: object
    ) -> None:
        self.calls.append(("replaced", name, old_value, new_value))

    def attribute_removed(self, session: Session, name: str, value: object) -> None:
        self.calls.append(("removed", name, value))


def test_local_listeners() -> None:
    c = Cluster()
    a = c.node("a").jw
    rec = Recorder()
    a.add_listener(rec)
    s = a.create_session(T0)
    s.set("k", 1)
    s.set("k", 1)  # unchanged value: replaced fires (notifyAttributeListenerOnUnchangedValue)
    s.set("k", 2)
    s.set("j", "x")
    s.remove("k")
    old = s.id
    a.change_session_id(s, "NEWID", T0)
    s.invalidate(T0)
    assert rec.calls == [
        ("created", old),
        ("added", "k", 1),
        ("replaced", "k", 1, 1),
        ("replaced", "k", 1, 2),
        ("added", "j", "x"),
        ("removed", "k", 2),
        ("id_changed", old, "NEWID"),
        ("destroyed", "NEWID"),
        ("removed", "j", "x"),
    ]


def _replicate_everything(c: Cluster, a: SessionManager) -> str:
    s = a.create_session(T0)
    s.set("k", 1)
    a.request_completed(s, T0)
    c.pump()
    now = c.tick(1)
    a.find_session(s.id, now)
    s.set("k", 2)
    s.remove("k")
    s.set("j", 3)
    a.change_session_id(s, "NEWID", now)
    a.request_completed(s, now)
    c.pump()
    s.invalidate(c.tick(1))
    c.pump()
    return s.id


def test_replicated_listeners_default_notify_everything() -> None:
    c, a, b = pair(9)
    rec = Recorder()
    b.add_listener(rec)
    _replicate_everything(c, a)
    first = rec.calls[0]
    assert first[0] == "created"
    assert rec.calls[1:] == [
        ("added", "k", 1),
        # the id change travels before the request's delta
        ("id_changed", first[1], "NEWID"),
        ("removed", "k", 1),  # last action per name: set k=2 then remove k -> REMOVE only
        ("added", "j", 3),
        ("destroyed", "NEWID"),
        ("removed", "j", 3),
    ]


def test_replicated_listeners_switched_off() -> None:
    c, a, b = pair(
        9, notify_listeners_on_replication=False, notify_session_listeners_on_replication=False
    )
    rec = Recorder()
    b.add_listener(rec)
    _replicate_everything(c, a)
    assert rec.calls == []


def test_only_session_listeners_switched_off() -> None:
    c, a, b = pair(9, notify_session_listeners_on_replication=False)
    rec = Recorder()
    b.add_listener(rec)
    _replicate_everything(c, a)
    # attribute listeners still fire for deltas; the EXPIRED is applied with notify=false,
    # so the attributes removed by the expiry are not reported either
    assert rec.calls == [("added", "k", 1), ("removed", "k", 1), ("added", "j", 3)]


def test_a_failing_listener_does_not_break_the_flow() -> None:
    class Broken(SessionListener):
        def attribute_added(self, session: Session, name: str, value: object) -> None:
            raise RuntimeError("boom")

    c, a, b = pair(9)
    b.add_listener(Broken())
    s = a.create_session(T0)
    s.set("k", 1)
    a.request_completed(s, T0)
    c.pump()
    backup = b.find(s.id)
    assert backup is not None and backup.get("k") == 1


def test_backup_expiring_by_itself_notifies_listeners() -> None:
    c, a, b = pair(9, notify_session_listeners_on_replication=False)
    rec = Recorder()
    b.add_listener(rec)
    s = a.create_session(T0)
    s.set_max_inactive_interval(1)
    s.set("k", "v")
    a.request_completed(s, T0)
    c.pump()
    rec.calls.clear()
    b.process_expires(T0 + 2_000)  # expire(true, false): listeners always
    assert rec.calls == [("destroyed", s.id), ("removed", "k", "v")]


# --- out of order, duplicates, bad input ---------------------------------------------------------


def _created_and_delta(c: Cluster, a: SessionManager) -> tuple[str, list[object]]:
    s = a.create_session(T0)
    s.set("k", "v")
    a.request_completed(s, T0)
    return s.id, list(c.outgoing(c.nodes[0]))


def test_delta_before_created_is_buffered_and_applied() -> None:
    c, a, b = pair(9)
    sid, (created, delta) = _created_and_delta(c, a)
    c.transmit(c.nodes[0], delta)  # type: ignore[arg-type]
    assert sid not in b
    c.tick(100)
    c.transmit(c.nodes[0], created)  # type: ignore[arg-type]
    backup = b.find(sid)
    assert backup is not None and backup.get("k") == "v"
    assert backup.max_inactive_interval == 1800


def test_delta_before_created_is_dropped_like_tomcat_without_buffer() -> None:
    c, a, b = pair(9, orphan_window_ms=0)
    sid, (created, delta) = _created_and_delta(c, a)
    c.transmit(c.nodes[0], delta)  # type: ignore[arg-type]
    c.transmit(c.nodes[0], created)  # type: ignore[arg-type]
    backup = b.find(sid)
    assert backup is not None and backup.get("k") is None
    assert b.counters["dropped.unknown-session"] == 1


def test_buffered_delta_is_forgotten_after_the_window() -> None:
    c, a, b = pair(9, orphan_window_ms=1000)
    sid, (created, delta) = _created_and_delta(c, a)
    c.transmit(c.nodes[0], delta)  # type: ignore[arg-type]
    assert b.next_deadline() == T0 + 1001
    b.poll(T0 + 1000)
    assert b.next_deadline() == T0 + 1001
    b.poll(T0 + 1001)
    assert b.next_deadline() is None
    c.transmit(c.nodes[0], created)  # type: ignore[arg-type]
    backup = b.find(sid)
    assert backup is not None and backup.get("k") is None


def test_expired_before_created_does_not_resurrect_the_session() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    s.invalidate(T0 + 10)
    created, delta, expired = c.outgoing(c.nodes[0])
    assert [x.message.event for x in (created, delta, expired)] == [
        Event.EVT_SESSION_CREATED,
        Event.EVT_SESSION_DELTA,
        Event.EVT_SESSION_EXPIRED,
    ]
    c.transmit(c.nodes[0], expired)
    c.transmit(c.nodes[0], created)
    c.transmit(c.nodes[0], delta)
    assert s.id not in b
    # a genuinely new session reusing the id (later creation time) is accepted
    again = SessionMessage(Event.EVT_SESSION_CREATED, CTX, s.id, "x", T0 + 20, True)
    b.receive(again, c.nodes[0].member, T0 + 20)
    assert s.id in b


def test_duplicates_are_harmless() -> None:
    c, a, b = pair(9)
    sid, (created, delta) = _created_and_delta(c, a)
    for send in (created, delta, created, delta):
        c.transmit(c.nodes[0], send)  # type: ignore[arg-type]
    backup = b.find(sid)
    assert backup is not None and backup.get("k") == "v"
    assert b.counters["dropped.duplicate-created"] == 1
    s = a.find(sid)
    assert s is not None
    s.invalidate(c.tick(1))
    (expired,) = c.outgoing(c.nodes[0])
    c.transmit(c.nodes[0], expired)
    c.transmit(c.nodes[0], expired)
    assert sid not in b and b.counters["errors"] == 0


def test_duplicate_change_session_id() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    a.change_session_id(s, "NEW", T0 + 1)
    (change,) = c.outgoing(c.nodes[0])
    c.transmit(c.nodes[0], change)
    c.transmit(c.nodes[0], change)
    assert "NEW" in b and len(b) == 1


def test_change_session_id_before_created_is_buffered() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    s.set("k", 1)
    a.request_completed(s, T0)
    old = s.id
    a.change_session_id(s, "NEW", T0 + 1)
    s.set("k", 2)
    a.request_completed(s, T0 + 1)
    created, delta1, change, delta2 = c.outgoing(c.nodes[0])
    for send in (delta2, change, delta1, created):
        c.transmit(c.nodes[0], send)
    backup = b.find("NEW")
    assert old not in b
    assert backup is not None and backup.get("k") == 2


def test_delta_with_another_session_id_is_rejected() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    other = DeltaRequest("SOMEONE-ELSE")
    other.set_attribute("k", "v")
    bad = SessionMessage(Event.EVT_SESSION_DELTA, CTX, s.id, "u", T0, True, other.encode())
    b.receive(bad, c.nodes[0].member, T0)
    backup = b.find(s.id)
    assert backup is not None and "k" not in backup
    assert b.counters["dropped.delta-id-mismatch"] == 1


def test_malformed_payload_is_logged_not_raised() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    bad = SessionMessage(Event.EVT_SESSION_DELTA, CTX, s.id, "u", T0, True, b"\xac\xed\x00\x05\x77")
    b.receive(bad, c.nodes[0].member, T0)
    assert b.counters["errors"] == 1


def test_unknown_event_is_ignored() -> None:
    c, _, b = pair(9)
    b.receive(SessionMessage(99, CTX, "x", "y"), c.nodes[0].member, T0)
    assert b.counters["dropped.unknown-event"] == 1


def test_wrongly_typed_delta_actions_are_skipped() -> None:
    c, a, b = pair(9)
    s = a.create_session(T0)
    a.request_completed(s, T0)
    c.pump()
    req = DeltaRequest(s.id)
    req.add(TYPE_MAXINTERVAL, ACTION_SET, NAME_MAXINTERVAL, "not an Integer")
    req.add(TYPE_ISNEW, ACTION_SET, NAME_ISNEW, JInteger(1))
    req.set_attribute("after", "ok")
    msg = SessionMessage(Event.EVT_SESSION_DELTA, CTX, s.id, "u", T0, True, req.encode())
    b.receive(msg, c.nodes[0].member, T0)
    backup = b.find(s.id)
    assert backup is not None
    assert backup.max_inactive_interval == 1800 and backup.get("after") == "ok"
    assert b.counters["skipped-actions"] == 2


# --- routing -------------------------------------------------------------------------------------


def test_unknown_context_is_dropped_but_get_all_is_answered() -> None:
    c = Cluster()
    a = c.node("a")
    b = c.node("b", contexts=["/other"])
    msg = SessionMessage(Event.EVT_SESSION_CREATED, "localhost#/other", "ID", "ID-1", T0, True)
    a.registry.receive(msg, b.member, T0)
    assert a.registry.counters["dropped.unknown-context"] == 1
    assert a.registry.take_outgoing() == []

    get_all = SessionMessage(
        Event.EVT_GET_ALL_SESSIONS,
        "localhost#/other",
        "GET-ALL",
        "GET-ALL-localhost#/other",
        T0,
        True,
    )
    a.registry.receive(get_all, b.member, T0)
    (reply,) = a.registry.take_outgoing()
    assert reply.dest is b.member and reply.options == 6
    m = reply.message
    assert m.event == 16
    assert m.context_name == "localhost#/other"
    assert m.session_id == "NO-CONTEXT-MANAGER"
    assert m.unique_id == "NO-CONTEXT-MANAGER-localhost#/other"
    assert (m.timestamp, m.timestamp_set, m.payload) == (0, False, None)
    c.transmit(a, reply)  # and it survives the codec


def test_several_contexts_per_node() -> None:
    c = Cluster()
    a, b = c.node("a"), c.node("b")
    for n in (a, b):
        n.context("/")
    s1 = a.context("/jw").create_session(T0)
    s2 = a.context("/").create_session(T0)
    a.context("/jw").request_completed(s1, T0)
    a.context("/").request_completed(s2, T0)
    wire = c.pump()
    assert {w.message.context_name for w in wire} == {"localhost#/jw", "localhost#"}
    assert s1.id in b.context("/jw") and s1.id not in b.context("/")
    assert s2.id in b.context("/") and s2.id not in b.context("/jw")


def test_message_without_context_goes_to_every_manager() -> None:
    c = Cluster()
    a, b = c.node("a"), c.node("b")
    b.context("/jw")
    b.context("/x")
    msg = SessionMessage(Event.EVT_SESSION_CREATED, None, "ID", "ID-1", T0, True)
    b.registry.receive(msg, a.member, T0)
    assert "ID" in b.context("/jw") and "ID" in b.context("/x")


def test_max_active_sessions() -> None:
    c = Cluster()
    a = c.node("a", max_active_sessions=2).jw
    a.create_session(T0)
    a.create_session(T0)
    with pytest.raises(TooManyActiveSessions):
        a.create_session(T0)


def test_sends_go_to_all_members() -> None:
    c = Cluster()
    a, b, d = c.node("a"), c.node("b"), c.node("d")
    s = a.jw.create_session(T0)
    (created,) = c.outgoing(a)
    assert created.dest == ALL
    wire = c.transmit(a, created)
    assert [w.dst for w in wire] == ["b", "d"]
    assert s.id in b.jw and s.id in d.jw
