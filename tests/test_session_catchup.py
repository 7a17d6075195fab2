"""Catch-up after a partition (ours, not Tomcat's): `SessionManager.catch_up` and the merge
path `merge_sessions`, sans-io with explicit times (tests/test_session_support.py's in-memory
cluster; `Cluster.cut` / `heal` make a partition)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from tests.test_session_support import CTX, Cluster, Node, Wire, events
from tribes.messages.session import (
    Event,
    Principal,
    SessionMessage,
    SessionState,
    decode_sessions,
    encode_sessions,
)
from tribes.session import (
    CatchUpState,
    MergeResult,
    Send,
    Session,
    SessionListener,
    SessionManager,
    TransferState,
)
from tribes.session.manager import PUSH_ID


def started_pair(version: int = 10, **config: object) -> tuple[Cluster, Node, Node]:
    """a started alone, b started next to it (state transfer done): both ready."""
    c = Cluster()
    a = c.node("a", version, **config)
    a.jw.start(c.now)
    assert a.jw.transfer_state is TransferState.NO_MEMBERS
    b = c.node("b", version, **config)
    b.jw.start(c.tick(1))
    c.pump()
    assert b.jw.transfer_state is TransferState.TRANSFERRED
    return c, a, b


def request(c: Cluster, node: Node, sid: str | None = None, **attrs: object) -> Session:
    """One request on `node`: join (or create) the session, set attributes, complete."""
    now = c.tick(10)
    jw = node.jw
    s = jw.find_session(sid, now) if sid is not None else jw.create_session(now)
    assert s is not None
    for k, v in attrs.items():
        s.set(k, v)
    jw.request_completed(s, c.tick(1))
    c.pump()
    return s


def state_of(jw: SessionManager, sid: str, **changes: object) -> SessionState:
    """The session as a full-state record (what a member would send), with changes."""
    s = jw.find(sid)
    assert s is not None
    return dataclasses.replace(s._to_state(10), **changes)  # type: ignore[arg-type]


def catch_up_both(c: Cluster, a: Node, b: Node, since: int | None) -> tuple[object, object]:
    """What both nodes do when the partition heals: each pulls from the other."""
    now = c.tick(5)
    ra = a.jw.catch_up(b.member, now, since=since)
    rb = b.jw.catch_up(a.member, now, since=since)
    assert ra is not None and rb is not None
    c.pump()
    return ra, rb


# --- the whole story ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [9, 10])
def test_partition_heals_and_both_sides_converge_on_the_newest_copies(version: int) -> None:
    c, a, b = started_pair(version)
    s1 = request(c, a, user="u1", cart="before")
    s2 = request(c, a, user="u2")
    s3 = request(c, b, user="u3", n=1)
    idle = request(c, b, user="idle")
    assert set(a.jw.sessions) == set(b.jw.sessions) == {s1.id, s2.id, s3.id, idle.id}

    c.cut(a, b)
    since = c.tick(100)
    # a serves u1 and u2 (b's copies go stale), b serves u3: a split brain, both sides change
    request(c, a, s1.id, cart="during")
    s4 = request(c, a, user="new on a")  # created while cut
    s2a = a.jw.find_session(s2.id, c.tick(1))
    assert s2a is not None
    a.jw.expire(s2a, c.tick(1))  # logout on a: b never hears of it
    request(c, b, s3.id, n=2)
    assert all(w.message.timestamp < since for w in c.log)  # nothing crossed the cut

    c.heal(a, b)
    ra, rb = catch_up_both(c, a, b, since)

    for jw in (a.jw, b.jw):
        assert set(jw.sessions) == {s1.id, s3.id, s4.id, idle.id}, jw
        assert jw.find(s1.id)["cart"] == "during"  # type: ignore[index]
        assert jw.find(s3.id)["n"] == 2  # type: ignore[index]
        assert jw.find(s4.id)["user"] == "new on a"  # type: ignore[index]
        assert jw.find(idle.id)["user"] == "idle"  # type: ignore[index]

    # a pulled from b: b's s1 was older, s3 newer, s2 invalidated here -> EXPIRED back
    assert ra.state is CatchUpState.MERGED and rb.state is CatchUpState.MERGED  # type: ignore[attr-defined]
    r = ra.result  # type: ignore[attr-defined]
    assert (r.received, r.updated, r.added, r.kept, r.expired, r.same) == (4, 1, 0, 1, 1, 1)
    # b pulled from a: s1 newer there, s4 new, s3 older there; b's s2 is kept until a's
    # EXPIRED arrives
    r = rb.result  # type: ignore[attr-defined]
    assert (r.received, r.updated, r.added, r.kept, r.expired, r.same) == (4, 1, 1, 1, 0, 1)
    assert a.jw.find(s3.id).is_primary is False  # type: ignore[union-attr]

    # the wire: GET_ALL (options 8) to the member, its pages, then our push of what we won
    gets = [
        w for w in c.log if w.event == Event.EVT_GET_ALL_SESSIONS and w.message.timestamp > since
    ]
    assert {(w.src, w.dst, w.options) for w in gets} == {("a", "b", 8), ("b", "a", 8)}
    pushes = [w for w in c.log if (w.message.unique_id or "").startswith(PUSH_ID)]
    assert {(w.src, w.dst, w.options) for w in pushes} == {("a", "b", 6), ("b", "a", 6)}
    assert all(w.message.unique_id == f"{PUSH_ID}-{CTX}" for w in pushes)
    pushed = {w.src: {s.id for s in decode_sessions(w.message.payload or b"")} for w in pushes}
    assert pushed == {"a": {s1.id, s4.id}, "b": {s3.id}}
    assert ra.pushed == 2 and rb.pushed == 1  # type: ignore[attr-defined]
    expired = [w for w in c.log if w.event == Event.EVT_SESSION_EXPIRED and w.dst == "b"]
    assert [(w.message.session_id, w.options) for w in expired][-1] == (s2.id, 6)

    # and replication goes on as before
    request(c, b, s1.id, cart="after")
    assert a.jw.find(s1.id)["cart"] == "after"  # type: ignore[index]


def test_a_delta_delivered_late_does_not_make_a_stale_copy_look_new() -> None:
    """The topology's cut link: a's first DELTA after the cut is stuck in TCP and delivered
    when the link comes back -- after a's later changes, just before the catch-up. b's copy
    takes the DELTA's timestamp as lastAccessedTime (not its receive time), so it still
    compares as older than a's and the merge picks a's."""
    c, a, b = started_pair()
    s = request(c, a, user="u", cart="before")
    sa = a.jw.find_session(s.id, c.tick(10))
    assert sa is not None
    sa.set("cart", "first")
    a.jw.request_completed(sa, c.tick(1))
    stuck = c.outgoing(a)  # the DELTA, held up in the network
    assert events(wires_of(stuck)) == ["EVT_SESSION_DELTA"]
    c.cut(a, b)
    since = c.now
    request(c, a, s.id, cart="second")  # a alone now: nothing sent
    c.heal(a, b)
    c.tick(5000)
    for send in stuck:
        c.transmit(a, send)  # delivered at last
    backup = b.jw.find(s.id)
    assert backup is not None and backup["cart"] == "first"
    assert backup.last_accessed_time == stuck[0].message.timestamp < c.now
    catch_up_both(c, a, b, since)
    for jw in (a.jw, b.jw):
        assert jw.find(s.id)["cart"] == "second"  # type: ignore[index]


def wires_of(sends: list[Send]) -> list[Wire]:
    return [Wire("?", "?", x.message, x.options, x.delay_ms) for x in sends]


def test_id_changed_during_the_partition_is_not_resurrected() -> None:
    c, a, b = started_pair()
    s = request(c, a, user="u")
    old = s.id
    c.cut(a, b)
    since = c.tick(100)
    new = a.jw.change_session_id(s, now=c.tick(1))
    c.heal(a, b)
    ra, rb = catch_up_both(c, a, b, since)
    for jw in (a.jw, b.jw):
        assert set(jw.sessions) == {new} and old != new
    assert ra.result.expired == 1  # type: ignore[attr-defined]
    assert rb.result.added == 1  # type: ignore[attr-defined]


# --- merge rules ----------------------------------------------------------------------------------


def manager_with(
    c: Cluster, config: dict[str, object] | None = None, **attrs: object
) -> tuple[SessionManager, Session]:
    """A started manager alone (nothing is sent) with one session holding `attrs`."""
    a = c.node("solo", **(config or {}))
    a.jw.start(c.now)
    s = a.jw.create_session(c.tick(1))
    for k, v in attrs.items():
        s.set(k, v)
    a.jw.request_completed(s, c.tick(1))
    return a.jw, s


def test_merge_newer_last_access_wins_and_updates_in_place() -> None:
    c = Cluster()
    jw, s = manager_with(c, cart="old", keep="x")
    fired: list[tuple[str, str]] = []

    class Spy(SessionListener):
        def attribute_added(self, session: Session, name: str, value: object) -> None:
            fired.append(("added", name))

        def attribute_replaced(self, session: Session, name: str, old: object, new: object) -> None:
            fired.append(("replaced", name))

        def attribute_removed(self, session: Session, name: str, value: object) -> None:
            fired.append(("removed", name))

    jw.add_listener(Spy())
    newer = state_of(
        jw,
        s.id,
        attributes={"cart": "new", "extra": 1},
        last_accessed_time=s.last_accessed_time + 1,
    )
    now = c.tick(50)
    r = jw.merge_sessions([newer], "m", now)
    assert (r.received, r.updated, r.kept) == (1, 1, 0)
    assert jw.find(s.id) is s  # the same object, changed in place
    assert dict(s.attributes) == {"cart": "new", "extra": 1}
    assert sorted(fired) == [("added", "extra"), ("removed", "keep"), ("replaced", "cart")]
    assert s.last_accessed_time == newer.last_accessed_time
    assert s.this_accessed_time == now and not s.is_primary and not s.dirty


@pytest.mark.parametrize(
    ("d_last", "d_this", "updated"),
    [(-1, 100, False), (0, 0, False), (0, 1, True), (1, -100, True)],
    ids=["older", "tie-keeps-local", "tie-newer-this", "newer"],
)
def test_merge_compares_last_then_this_accessed(d_last: int, d_this: int, updated: bool) -> None:
    c = Cluster()
    jw, s = manager_with(c, v="mine")
    theirs = state_of(
        jw,
        s.id,
        attributes={"v": "theirs"},
        last_accessed_time=s.last_accessed_time + d_last,
        this_accessed_time=s.this_accessed_time + d_this,
    )
    r = jw.merge_sessions([theirs], "m", c.tick(1))
    assert (r.updated, r.kept) == ((1, 0) if updated else (0, 1))
    assert s["v"] == ("theirs" if updated else "mine")
    assert r.ours_newer == (set() if updated else {s.id})


def test_merge_keeps_a_copy_with_unreplicated_changes() -> None:
    c = Cluster()
    jw, s = manager_with(c, v="mine")
    joined = jw.find_session(s.id, c.tick(1))
    assert joined is s
    s.set("v", "in this request")
    theirs = state_of(jw, s.id, attributes={"v": "theirs"}, last_accessed_time=c.now + 10**6)
    r = jw.merge_sessions([theirs], "m", c.tick(1))
    assert (r.updated, r.kept) == (0, 1) and s["v"] == "in this request" and s.dirty


def test_merge_same_content_is_left_alone() -> None:
    c = Cluster()
    jw, s = manager_with(c, v="same", n=3)
    theirs = state_of(jw, s.id, last_accessed_time=s.last_accessed_time + 5, is_new=True)
    before = s.this_accessed_time
    r = jw.merge_sessions([theirs], "m", c.tick(100))
    assert (r.same, r.updated, r.kept) == (1, 0, 0)
    assert s.this_accessed_time == before and s.is_primary


def test_same_content_is_recognised_across_the_wire() -> None:
    """A principal we built and the one a member sends back differ in their bytes (class
    descriptors, back-references), not in what they say."""
    c, a, b = started_pair()
    s = a.jw.create_session(c.tick(1))
    s.set("roles", ["admin"])
    s.set("when", datetime(2024, 1, 2, tzinfo=UTC))
    s.set_principal(Principal("admin", ("admin", "user")))
    a.jw.request_completed(s, c.tick(1))
    c.pump()
    backup = b.jw.find(s.id)
    assert backup is not None
    for layout in (9, 10):
        (received,) = decode_sessions(encode_sessions([backup._to_state(layout)], layout))
        received.last_accessed_time += 1
        r = a.jw.merge_sessions([received], b.member, c.tick(1))
        assert (r.same, r.updated) == (1, 0)
    received.attributes["roles"] = ["admin", "user"]
    assert a.jw.merge_sessions([received], b.member, c.tick(1)).updated == 1


def test_merge_adds_unknown_sessions_but_not_expired_or_timed_out_ones() -> None:
    c = Cluster()
    jw, s = manager_with(c, v=1)
    gone = jw.create_session(c.tick(1))
    gone_id = gone.id
    jw.expire(gone, c.tick(1))
    assert jw.take_outgoing() == []  # no members: nothing sent
    template = state_of(jw, s.id)
    now = c.tick(1000)
    fresh = dataclasses.replace(template, id="F" * 32, this_accessed_time=now - 1000)
    dead = dataclasses.replace(
        template, id="D" * 32, max_inactive_interval=60, this_accessed_time=now - 60_000
    )
    back = dataclasses.replace(template, id=gone_id)
    r = jw.merge_sessions([fresh, dead, back], "m", now)
    assert (r.received, r.added, r.stale, r.expired) == (3, 1, 1, 1)
    assert set(jw.sessions) == {s.id, "F" * 32}
    added = jw.find("F" * 32)
    assert added is not None and not added.is_primary and added["v"] == 1
    # the member that still holds the expired session is told
    (send,) = jw.take_outgoing()
    assert send.dest == "m" and send.options == 6
    assert (send.message.event, send.message.session_id) == (Event.EVT_SESSION_EXPIRED, gone_id)
    assert send.message.unique_id == f"{gone_id}-EXPIRED-MSG"
    # without a sender nothing is sent
    jw.merge_sessions([back], None, now)
    assert jw.take_outgoing() == []


def test_expired_ids_are_forgotten_after_the_memory() -> None:
    c = Cluster()
    jw, _ = manager_with(c, {"expired_id_memory_ms": 1000})
    gone = jw.create_session(c.tick(1))
    back = state_of(jw, gone.id)
    jw.expire(gone, c.now)
    assert jw.merge_sessions([back], None, c.now + 1000).expired == 1
    r = jw.merge_sessions([back], None, c.now + 1001)
    assert r.expired == 0 and r.added == 1


def test_default_memory_is_the_session_timeout() -> None:
    c = Cluster()
    jw, _ = manager_with(c, {"session_timeout": 7})
    assert jw.config.expired_id_memory == 7 * 60_000
    assert jw.config.catch_up_timeout_ms == 60_000  # state_transfer_timeout 60 s
    jw2, _ = manager_with(Cluster(), {"state_transfer_timeout": -1})
    assert jw2.config.catch_up_timeout_ms == 60_000  # never for ever


# --- the catch-up exchange -----------------------------------------------------------------------


def test_catch_up_sends_get_all_and_waits_for_transfer_complete() -> None:
    c, a, b = started_pair(state_transfer_timeout=5)
    request(c, b, user="x")
    now = c.tick(10)
    record = a.jw.catch_up(b.member, now, since=now - 1)
    assert record is not None and not record.done
    assert a.jw.catch_up(b.member, now + 1) is record  # one at a time per member
    assert a.jw.catch_ups == {b.member: record}
    (get_all,) = c.outgoing(a)
    assert (get_all.dest, get_all.options) == (b.member, 8)
    m = get_all.message
    assert (m.event, m.session_id, m.unique_id, m.timestamp) == (
        Event.EVT_GET_ALL_SESSIONS,
        "GET-ALL",
        f"GET-ALL-{CTX}",
        now,
    )
    assert a.jw.next_deadline() == now + 5000 + 1
    c.transmit(a, get_all)
    wire = c.pump()
    assert events(wire) == ["EVT_ALL_SESSION_DATA", "EVT_ALL_SESSION_TRANSFERCOMPLETE"]
    assert record.state is CatchUpState.MERGED and record.ms == 0
    assert record.result.same == 1 and record.pushed == 0
    assert a.jw.catch_ups == {} and a.jw.next_deadline() is None
    # requests were never queued meanwhile: the start-up transfer state is untouched
    assert a.jw.transfer_state is TransferState.NO_MEMBERS


def test_catch_up_times_out_quietly() -> None:
    c, a, b = started_pair(state_transfer_timeout=2)
    now = c.tick(1)
    record = a.jw.catch_up(b.member, now)
    assert record is not None
    c.outgoing(a)  # lost: a Tomcat in its own start-up transfer drops it
    a.jw.poll(now + 2000)
    assert not record.done
    a.jw.poll(now + 2001)
    assert record.state is CatchUpState.TIMED_OUT and record.ms == 2001
    assert a.jw.transfer_state is TransferState.NO_MEMBERS


def test_catch_up_with_a_member_without_the_context() -> None:
    c, a, b = started_pair()
    b.registry.remove(CTX)
    record = a.jw.catch_up(b.member, c.tick(1))
    assert record is not None
    assert events(c.pump()) == ["EVT_GET_ALL_SESSIONS", "EVT_ALL_SESSION_NOCONTEXTMANAGER"]
    assert record.state is CatchUpState.NO_CONTEXT_MANAGER


def test_no_catch_up_during_our_own_start_up_transfer() -> None:
    c = Cluster()
    a = c.node("a")
    a.jw.start(c.now)
    b = c.node("b")
    b.jw.start(c.tick(1))
    assert b.jw.transfer_state is TransferState.WAITING
    assert b.jw.catch_up(a.member, c.tick(1)) is None


def test_start_up_transfer_still_replaces_but_later_data_merges() -> None:
    """Tomcat's semantics during our own start-up; the merge path after it."""
    c = Cluster()
    a = c.node("a")
    a.jw.start(c.now)
    s = request(c, a, v="a's")
    b = c.node("b")
    b.jw.start(c.tick(1))
    c.cut(a, b)  # (so that b's CREATED does not reach a)
    local = b.jw.create_session(c.tick(1), session_id=s.id)  # something already there
    local.set("v", "b's")
    c.heal(a, b)
    c.pump()
    assert b.jw.find(s.id) is not local and b.jw.counters["replaced"] == 1
    # after the start: an unsolicited page with an older copy does not replace ours
    older = state_of(
        b.jw, s.id, attributes={"v": "old"}, last_accessed_time=1, this_accessed_time=1
    )
    page = SessionMessage(
        Event.EVT_ALL_SESSION_DATA,
        CTX,
        "SESSION-STATE",
        f"{PUSH_ID}-{CTX}",
        c.now,
        timestamp_set=True,
        payload=encode_sessions([older]),
    )
    b.jw.receive(page, a.member, c.tick(1))
    assert b.jw.find(s.id)["v"] == "a's"  # type: ignore[index]
    assert b.jw.counters["merged.pushes"] == 1


def test_push_leaves_out_sessions_the_member_dropped_before_it_went_away() -> None:
    """A session the member does not have although it existed before the member went away: it
    may have expired it (a Tomcat remembers nothing), so it is not pushed; new ones are."""
    c, a, b = started_pair()
    old = request(c, a, user="old")
    c.cut(a, b)
    since = c.tick(100)
    gone = b.jw.find_session(old.id, c.tick(1))
    assert gone is not None
    b.jw.expire(gone, c.now)  # b (playing Tomcat) invalidates it and forgets about it
    b.jw._expired_ids.clear()
    new = request(c, a, user="new")
    c.heal(a, b)
    record = a.jw.catch_up(b.member, c.tick(1), since=since)  # only a pulls, b is a "Tomcat"
    assert record is not None
    c.pump()
    assert record.pushed == 1 and record.result.received == 0
    assert b.jw.find(new.id) is not None and b.jw.find(old.id) is None
    assert a.jw.find(old.id) is not None  # kept: ours, the member does not have it


def test_merge_result_starts_empty() -> None:
    r = MergeResult()
    assert (r.received, r.pages, r.theirs, r.ours_newer) == (0, 0, set(), set())
