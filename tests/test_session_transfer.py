"""Start-up state transfer (TRIBES.md §8.5): requester and master sides."""

from __future__ import annotations

import dataclasses
import gc

import pytest

from tests.test_session_support import CTX, T0, Cluster, Node, events
from tribes.errors import ProtocolError, SerializationError
from tribes.inspect import describe_session
from tribes.jserial import (
    DEFAULT_LIMITS,
    BlockData,
    BlockWriter,
    ClassData,
    ClassDesc,
    FieldDesc,
    JavaObject,
    JInteger,
    JLong,
    ObjectWriter,
    dumps,
    read_stream,
    write_stream,
)
from tribes.messages.session import (
    Event,
    Principal,
    SessionMessage,
    _contents,
    _decode_as_java_writes,
    _decode_generic,
    decode_sessions,
    encode_sessions,
)
from tribes.session import Session, SessionListener, TransferState
from tribes.session.manager import FILL_STEP, decode_session_data


def master_with_sessions(c: Cluster, n: int, version: int = 10, **config: object) -> Node:
    """A node that created `n` sessions while alone (so nothing was replicated)."""
    a = c.node("a", version, **config)
    for i in range(n):
        s = a.jw.create_session(T0 + i)
        s.set("i", i)
        s.set("name", f"session-{i}")
        a.jw.request_completed(s, T0 + i)
    assert c.pump() == []
    return a


@pytest.mark.parametrize("version", [9, 10])
def test_unpaged_transfer_of_1000_sessions(version: int) -> None:
    c = Cluster()
    a = master_with_sessions(c, 1000, version)
    b = c.node("b", version)
    now = c.tick(60_000)
    b.jw.start(now)
    assert b.jw.transfer_state is TransferState.WAITING

    (get_all,) = c.outgoing(b)
    assert get_all.dest is a.member
    assert get_all.options == 8
    m = get_all.message
    assert m.event == Event.EVT_GET_ALL_SESSIONS
    assert (m.context_name, m.session_id, m.unique_id) == (CTX, "GET-ALL", "GET-ALL-localhost#/jw")
    assert (m.timestamp, m.timestamp_set, m.payload) == (now, True, None)
    c.tick(7)  # the master answers at its own "now"
    c.transmit(b, get_all)
    wire = c.pump()
    assert events(wire) == ["EVT_ALL_SESSION_DATA", "EVT_ALL_SESSION_TRANSFERCOMPLETE"]
    data, done = wire
    assert (data.src, data.dst, data.options, data.delay_ms) == ("a", "b", 6, 0)
    assert data.message.session_id == "SESSION-STATE"
    assert data.message.unique_id == "SESSION-STATE-localhost#/jw"
    assert data.message.timestamp == now + 7
    assert done.options == 6  # channelSendOptions
    assert done.message.session_id == "SESSION-STATE-TRANSFERRED"
    assert done.message.unique_id == "SESSION-STATE-TRANSFERREDlocalhost#/jw"  # no dash
    assert done.message.timestamp == now + 7
    assert done.message.payload is None

    assert data.message.payload is not None
    records = decode_sessions(data.message.payload)
    assert len(records) == 1000
    # 10.1 always writes the two authentication notes, 9.0 (default) never
    assert {r.notes for r in records} == ({(None, None)} if version >= 10 else {None})

    assert b.jw.transfer_state is TransferState.TRANSFERRED
    assert len(b.jw) == 1000
    for s in a.jw.sessions.values():
        copy = b.jw.find(s.id)
        assert copy is not None
        assert dict(copy.attributes) == dict(s.attributes)
        assert copy.creation_time == s.creation_time
        assert copy.last_accessed_time == s.last_accessed_time
        assert copy.max_inactive_interval == 1800
        assert copy.this_accessed_time == now + 7  # access() on receipt
        assert copy.is_valid and not copy.is_primary


def test_paged_transfer() -> None:
    c = Cluster()
    a = master_with_sessions(
        c,
        1000,
        send_all_sessions=False,
        send_all_sessions_size=300,
        send_all_sessions_wait_time=2000,
    )
    b = c.node("b", send_all_sessions=False)
    b.jw.start(c.now)
    wire = c.pump()
    assert events(wire) == [
        "EVT_GET_ALL_SESSIONS",
        *["EVT_ALL_SESSION_DATA"] * 4,
        "EVT_ALL_SESSION_TRANSFERCOMPLETE",
    ]
    pages = wire[1:5]
    assert [len(decode_sessions(p.message.payload or b"")) for p in pages] == [300, 300, 300, 100]
    assert [p.delay_ms for p in pages] == [0, 2000, 2000, 2000]
    assert wire[5].delay_ms == 0
    assert all(p.options == 6 for p in pages)
    assert len({p.message.timestamp for p in wire[1:]}) == 1
    assert len(b.jw) == 1000
    ids = [sid for p in pages for sid in (r.id for r in decode_sessions(p.message.payload or b""))]
    assert sorted(ids) == sorted(a.jw.sessions)


def test_paged_transfer_of_exactly_one_page() -> None:
    c = Cluster()
    master_with_sessions(c, 1000, send_all_sessions=False)  # sendAllSessionsSize 1000
    b = c.node("b")
    b.jw.start(c.now)
    assert events(c.pump()) == [
        "EVT_GET_ALL_SESSIONS",
        "EVT_ALL_SESSION_DATA",
        "EVT_ALL_SESSION_TRANSFERCOMPLETE",
    ]


@pytest.mark.parametrize(
    ("send_all", "expected"),
    [
        (True, ["EVT_ALL_SESSION_DATA", "EVT_ALL_SESSION_TRANSFERCOMPLETE"]),
        (False, ["EVT_ALL_SESSION_TRANSFERCOMPLETE"]),
    ],
)
def test_transfer_with_no_session(send_all: bool, expected: list[str]) -> None:
    c = Cluster()
    c.node("a", send_all_sessions=send_all)
    b = c.node("b")
    b.jw.start(c.now)
    wire = c.pump()
    assert events(wire)[1:] == expected
    if send_all:
        assert decode_sessions(wire[1].message.payload or b"") == []
    assert b.jw.transfer_state is TransferState.TRANSFERRED


def test_start_without_members() -> None:
    c = Cluster()
    a = c.node("a").jw
    a.start(T0)
    assert a.transfer_state is TransferState.NO_MEMBERS and a.transfer_done
    assert c.pump() == []


def test_oldest_member_is_asked() -> None:
    c = Cluster()
    a, _ = c.node("a"), c.node("d")
    b = c.node("b")
    b.jw.start(T0)
    (get_all,) = c.outgoing(b)
    assert get_all.dest is a.member


def test_no_context_manager_ends_the_wait() -> None:
    c = Cluster()
    c.node("a", contexts=["/other"])
    b = c.node("b")
    b.jw.start(T0)
    wire = c.pump()
    assert events(wire) == ["EVT_GET_ALL_SESSIONS", "EVT_ALL_SESSION_NOCONTEXTMANAGER"]
    assert b.jw.transfer_state is TransferState.NO_CONTEXT_MANAGER
    assert b.jw.next_deadline() is None


def test_timeout_then_queued_messages_are_processed() -> None:
    c = Cluster()
    a = c.node("a")
    b = c.node("b")
    b.jw.start(T0)
    c.outgoing(b)  # the GET_ALL is lost: a never answers
    assert b.jw.next_deadline() == T0 + 60_001
    # meanwhile a creates a session: b queues its messages
    c.now = T0 + 10
    s = a.jw.create_session(c.now)
    a.jw.request_completed(s, c.now)
    c.pump()
    assert s.id not in b.jw
    b.jw.poll(T0 + 60_000)
    assert b.jw.transfer_state is TransferState.WAITING
    b.jw.poll(T0 + 60_001)
    assert b.jw.transfer_state is TransferState.TIMED_OUT
    assert b.jw.counters["no-state-transferred"] == 1
    # queued messages newer than our GET_ALL survive the stateTimestampDrop rule
    assert s.id in b.jw


def test_infinite_and_no_wait() -> None:
    c = Cluster()
    c.node("a")
    b = c.node("b", state_transfer_timeout=-1)
    b.jw.start(T0)
    assert b.jw.next_deadline() is None
    b.jw.poll(T0 + 10**9)
    assert b.jw.transfer_state is TransferState.WAITING
    d = c.node("d", state_transfer_timeout=0)
    d.jw.start(T0)
    assert d.jw.transfer_state is TransferState.NOT_WAITED
    c.pump()  # the state still arrives and is applied
    assert d.jw.transfer_state is TransferState.NOT_WAITED


def test_state_timestamp_drop_rule() -> None:
    c = Cluster()
    a = c.node("a")
    b = c.node("b")
    b.jw.start(T0)
    (get_all,) = c.outgoing(b)

    # Session X is created before the master's snapshot: its messages reach b before the state
    c.now = T0 + 10
    x = a.jw.create_session(c.now)
    x.set("v", "old")
    a.jw.request_completed(x, c.now)
    c.pump()
    # The master takes its snapshot at T0 + 20 (X included) ...
    c.now = T0 + 20
    c.transmit(b, get_all)
    data, done = c.outgoing(a)
    c.transmit(a, data)
    # ... and a change at T0 + 30 arrives before TRANSFERCOMPLETE: it is queued
    c.now = T0 + 30
    a.jw.find_session(x.id, c.now)
    x.set("v", "new")
    a.jw.request_completed(x, c.now)
    c.pump()
    assert b.jw.find(x.id) is not None
    c.transmit(a, done)
    # CREATED/DELTA at T0+10 are older than the snapshot (dropped), the T0+30 delta is applied
    assert b.jw.counters["dropped.older-than-state"] == 2
    copy = b.jw.find(x.id)
    assert copy is not None and copy.get("v") == "new"


def test_without_state_timestamp_drop_everything_queued_is_processed() -> None:
    c = Cluster()
    a = c.node("a")
    b = c.node("b", state_timestamp_drop=False)
    b.jw.start(T0)
    (get_all,) = c.outgoing(b)
    c.now = T0 + 10
    x = a.jw.create_session(c.now)
    a.jw.request_completed(x, c.now)
    c.pump()
    c.now = T0 + 20
    c.transmit(b, get_all)
    c.pump()
    assert b.jw.counters["dropped.older-than-state"] == 0
    assert b.jw.counters["dropped.duplicate-created"] == 1  # already in the state


def test_get_all_received_while_transferring_is_answered_afterwards() -> None:
    c = Cluster()
    c.node("a")
    b = c.node("b")
    b.jw.start(T0)
    (to_a,) = c.outgoing(b)
    d = c.node("d")
    d.jw.start(T0 + 1)
    (from_d,) = c.outgoing(d)
    # d asks b (pretend b is d's oldest member) while b is still waiting for a
    c.transmit(d, from_d, to=[b])
    assert [s.message.event for s in c.outgoing(b)] == []
    c.transmit(b, to_a)
    wire = c.pump()
    assert ("b", "d", Event.EVT_ALL_SESSION_TRANSFERCOMPLETE) in [
        (w.src, w.dst, w.event) for w in wire
    ]
    assert d.jw.transfer_state is TransferState.TRANSFERRED


def test_state_replaces_existing_sessions_and_notifies_listeners() -> None:
    class Created(SessionListener):
        def __init__(self) -> None:
            self.ids: list[str] = []

        def session_created(self, session: Session) -> None:
            self.ids.append(session.id)

    c = Cluster()
    a = master_with_sessions(c, 3)
    b = c.node("b")
    rec = Created()
    b.jw.add_listener(rec)
    sid = next(iter(a.jw.sessions))
    b.jw.receive(SessionMessage(Event.EVT_SESSION_CREATED, CTX, sid, "u", T0, True), a.member)
    rec.ids.clear()
    b.jw.start(c.now)
    c.pump()
    assert sorted(rec.ids) == sorted(a.jw.sessions)
    assert b.jw.counters["replaced"] == 1
    copy = b.jw.find(sid)
    assert copy is not None and copy.get("i") is not None


def test_state_carries_principal_notes_and_metadata() -> None:
    c = Cluster()
    a = c.node("a", 10)
    s = a.jw.create_session(T0)
    s.set_principal(Principal("bob", ("r1",)))
    s.set_auth_type("BASIC")
    s.set_note("org.apache.catalina.authenticator.SESSION_ID", "expected-id")
    s.set_note("org.apache.catalina.authenticator.REQUEST", "saved")
    s.set_note("other", "not in the full record")
    s.set_max_inactive_interval(77)
    a.jw.request_completed(s, T0 + 3)
    b = c.node("b", 10)
    b.jw.start(T0 + 5)
    wire = c.pump()
    (record,) = decode_sessions(wire[1].message.payload or b"")
    assert record.id == s.id
    assert record.max_inactive_interval == 77 and type(record.max_inactive_interval) is JInteger
    assert record.notes == ("expected-id", "saved")
    assert record.is_new is False and record.is_valid is True
    assert (record.creation_time, record.last_accessed_time) == (T0, T0 + 3)
    copy = b.jw.find(s.id)
    assert copy is not None
    principal = copy.principal
    assert principal is not None and principal.name == "bob" and principal.roles == ("r1",)
    assert copy.auth_type is None  # authType is not part of the full record
    assert copy.get_note("org.apache.catalina.authenticator.SESSION_ID") == "expected-id"
    assert copy.get_note("other") is None


def test_full_sessions_in_the_layout_of_the_asking_member() -> None:
    c = Cluster()
    a = master_with_sessions(c, 2, 10)
    b = c.node("b", 10)
    nine = {b.member.name: 9}
    a.jw._peer_version = lambda m: nine.get(getattr(m, "name", ""))
    b.jw.start(c.now)
    wire = c.pump()
    assert {r.notes for r in decode_sessions(wire[1].message.payload or b"")} == {None}
    nine.clear()
    b.jw.start(c.now)
    wire = c.pump()
    assert {r.notes for r in decode_sessions(wire[1].message.payload or b"")} == {(None, None)}


def test_unserializable_values_never_block_the_answer() -> None:
    desc = ClassDesc("lab.Broken", 1, 0x02, (FieldDesc("I", "n", None),), None, [])
    broken = JavaObject(desc, [ClassData(desc, {"n": "not an int"}, None)], None)
    c = Cluster()
    a = master_with_sessions(c, 3)
    bad = next(iter(a.jw.sessions.values()))
    bad.set("broken", broken)
    b = c.node("b")
    b.jw.start(c.now)
    wire = c.pump()
    assert events(wire)[1:] == ["EVT_ALL_SESSION_DATA", "EVT_ALL_SESSION_TRANSFERCOMPLETE"]
    assert b.jw.transfer_state is TransferState.TRANSFERRED
    copy = b.jw.find(bad.id)
    assert len(b.jw) == 3 and copy is not None
    assert "broken" not in copy and copy.get("i") == bad.get("i")


# --- the bulk codec: fast paths against the generic reader ---------------------------------------


def _shape(items: list[object]) -> list[tuple[object, ...]]:
    """Each content's class, value and identity (which earlier content it is, if any)."""
    first: dict[int, int] = {}
    return [
        (
            type(x),
            x if isinstance(x, str | int | BlockData) else dumps(x),
            first.setdefault(id(x), i),
        )
        for i, x in enumerate(items)
    ]


def _types(s: object) -> list[type]:
    return [type(getattr(s, f.name)) for f in dataclasses.fields(s)]  # type: ignore[arg-type]


def check_fast_decode(data: bytes) -> bool:
    """`decode_sessions`' fast paths read `data` exactly as the generic reader does, or give
    up; True when both took it."""
    try:
        generic = read_stream(data)
    except ProtocolError:
        assert _contents(data, DEFAULT_LIMITS) is None
        return False
    fast = _contents(data, DEFAULT_LIMITS)
    if fast is not None:
        assert _shape(fast) == _shape(generic)
    walked = _decode_as_java_writes(generic)
    try:
        expected = _decode_generic(generic)
    except ProtocolError:
        assert walked is None
        return False
    if walked is not None:
        assert walked == expected
        assert list(map(_types, walked)) == list(map(_types, expected))
    return fast is not None and walked is not None


def varied_master(c: Cluster, version: int, **config: object) -> Node:
    """Sessions with everything a record can hold: principal, notes, listeners, boxes of every
    size, 1-character and non-ASCII strings, nested values, excluded attributes."""
    a = c.node("a", version, **config)
    for i in range(40):
        s = a.jw.create_session(T0 + i)
        s.set("i", i * 10**i if i < 18 else -i)  # Integer / Long, cached and not
        s.set("c", "x" if i % 2 else "")
        s.set("u", f"é-{i}-\u20ac\U0001f600")
        if i % 3 == 0:
            s.set("nested", {"k": [1, 2, "three"], "n": 2.5})
            s.set("javax.security.auth.subject", "kept locally")
        if i % 4 == 0:
            s.set_principal(Principal(f"user{i}", ("a", "b"), "pw"))
            s.set_note("org.apache.catalina.authenticator.SESSION_ID", f"sid-{i}")
        if i % 5 == 0:
            s._add_listener("a listener")
        s.set_max_inactive_interval([-1, 0, 127, 128, 1800][i % 5])
        a.jw.request_completed(s, T0 + 1000 + i)
    assert c.pump() == []
    return a


@pytest.mark.parametrize(("version", "persist"), [(9, False), (9, True), (10, None)])
def test_direct_encoding_equals_the_state_encoding(version: int, persist: bool | None) -> None:
    c = Cluster()
    a = varied_master(c, version, persist_authentication_notes=persist)
    sessions = list(a.jw.sessions.values())
    direct = a.jw._encode_page(sessions, version)
    assert direct == encode_sessions([s._to_state(version) for s in sessions], version)
    assert check_fast_decode(direct)
    b = c.node("b", version, persist_authentication_notes=persist)
    b.jw.start(c.now)
    c.pump()
    assert len(b.jw) == len(sessions)
    for s in sessions:
        copy = b.jw.find(s.id)
        assert copy is not None
        mine = describe_session(s._to_state(version))
        theirs = describe_session(copy._to_state(version))
        assert theirs == {**mine, "this_accessed_time": copy.this_accessed_time}
        assert "javax.security.auth.subject" not in copy


def test_fast_decode_gives_up_on_what_it_does_not_know() -> None:
    c = Cluster()
    a = varied_master(c, 10)
    data = a.jw._encode_page(list(a.jw.sessions.values()), 10)
    # every truncation, and damaged bytes: the same result or error as the generic reader
    for cut in range(4, len(data), 97):
        check_fast_decode(data[:cut])
    for at in range(4, len(data), 89):
        for byte in (0x70, 0x71, 0x73, 0x77, 0x7A, 0x79, 0x7B, 0xFF):
            check_fast_decode(data[:at] + bytes([byte]) + data[at + 1 :])
    # block data laid out otherwise (an empty record before the principal flag) is read alike
    state = decode_sessions(data)[0]
    w = BlockWriter()
    w.write_object(JInteger(1))
    for v in (JLong(1), JLong(2), JInteger(3), True, True, JLong(4), JLong(5)):
        w.write_object(v)
    items = [*w.items(), BlockData(b""), BlockData(b"\x00"), state.id, None, None]
    items += [JInteger(0), JInteger(0)]
    odd = write_stream(items)
    assert not check_fast_decode(odd)
    assert decode_sessions(odd)[0].id == state.id


def test_backups_get_their_helpers_on_first_use() -> None:
    c = Cluster()
    master_with_sessions(c, 5)
    b = c.node("b")
    b.jw.start(c.now)
    c.pump()
    copy = next(iter(b.jw.sessions.values()))
    assert (copy._delta, copy._notes, copy._listeners) == (None, None, None)
    assert not copy.dirty and copy.pending_actions == () and copy.notes == {}
    copy.set("x", 1)
    assert copy.dirty and copy._delta is not None and copy._delta.session_id == copy.id


@pytest.mark.parametrize("enabled", [True, False])
def test_cyclic_gc_is_restored_after_a_transfer(enabled: bool) -> None:
    c = Cluster()
    master_with_sessions(c, 5)
    b = c.node("b")
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        b.jw.start(c.now)
        c.pump()
        assert gc.isenabled() is enabled and len(b.jw) == 5
    finally:
        (gc.enable if was else gc.disable)()


def test_boxes_written_from_plain_ints_are_the_boxes_bytes() -> None:
    values = [0, 1, -1, 127, 128, -128, -129, 1800, 2**31 - 1, -(2**31), 2**31, T0, 2**63 - 1]
    for box, write in ((JInteger, "write_boxed_int"), (JLong, "write_boxed_long")):
        fast, boxed = ObjectWriter(), ObjectWriter()
        for v in values * 2:  # the second time: back references to the descriptor and cache
            if not -(2 ** (box.bits - 1)) <= v < 2 ** (box.bits - 1):
                with pytest.raises(SerializationError):
                    getattr(fast, write)(v)
                continue
            getattr(fast, write)(v)
            boxed.write_object(box(v))
            fast.write_object("after")  # the handle numbers go on alike
            boxed.write_object("after")
        assert fast.getvalue() == boxed.getvalue()


def test_deferred_pages_and_stepwise_install_give_the_same_transfer() -> None:
    """What the replicator does to keep its event loop running: the master's page is encoded
    by `Send.fill` in steps of FILL_STEP sessions (same bytes as encoded at once), the joiner
    installs the decoded sessions in steps; a DELTA arriving between steps is queued and
    applied after TRANSFERCOMPLETE (stateTimestampDrop: it is newer than the state)."""
    n = 2 * FILL_STEP + 500
    c = Cluster()
    a = master_with_sessions(c, n)
    b = c.node("b")
    b.jw.start(c.tick(1))
    (get_all,) = c.outgoing(b)
    a.jw.defer_pages = True
    a.jw.receive(get_all.message, b.member, c.tick(1))
    page, done = a.jw.take_outgoing()
    assert page.fill is not None and page.message.payload is None
    assert sum(1 for _ in page.fill) == 3  # one step per FILL_STEP sessions
    assert page.message.payload == a.jw._encode_page(list(a.jw.sessions.values()), 10)

    s = a.jw.find_session(next(iter(a.jw.sessions)), c.tick(1))
    assert s is not None
    s.set("late", "yes")
    a.jw.request_completed(s, c.tick(1))
    (delta,) = a.jw.take_outgoing()
    states = decode_session_data(page.message.payload)
    steps = b.jw.receive_session_data(page.message, states, a.member, c.tick(1))
    next(steps)
    assert 0 < len(b.jw) < n
    b.jw.receive(delta.message, a.member, c.tick(1))  # between two steps: queued
    assert sum(1 for _ in steps) == 1 and len(b.jw) == n  # 3 steps, 2 yields between
    assert "late" not in b.jw.find(s.id)  # type: ignore[operator]
    b.jw.receive(done.message, a.member, c.tick(1))
    assert b.jw.transfer_state is TransferState.TRANSFERRED
    assert b.jw.find(s.id)["late"] == "yes"  # type: ignore[index]
    assert b.jw.counters["received.EVT_ALL_SESSION_DATA"] == 1
