"""`RejoinTracker`: a member back after a partition vs. a restarted one (sans-io, explicit
times)."""

from __future__ import annotations

from dataclasses import replace

from tribes.membership import Rejoin, RejoinTracker
from tribes.wire.member import SHUTDOWN_COMMAND, Member

M = Member.at("127.0.0.12", 4000, bytes(15) + b"\x0c", alive=60_000)


def test_a_member_that_kept_running_is_a_rejoin() -> None:
    t = RejoinTracker()
    t.disappeared(M, 100.0)
    assert M in t
    back = M.with_alive(60_000 + 30_000)  # 30 s later, its uptime grew by as much
    assert t.added(back, 130.0) == Rejoin(back, 60_000, 100.0, 30.0)
    assert M not in t
    assert t.added(back, 131.0) is None  # once


def test_a_new_member_is_no_rejoin() -> None:
    assert RejoinTracker().added(M, 1.0) is None


def test_a_restarted_member_is_no_rejoin() -> None:
    t = RejoinTracker()
    t.disappeared(M, 100.0)
    assert t.added(M.with_alive(2_000), 110.0) is None  # uptime went backwards


def test_an_alive_time_as_old_as_the_disappearance_is_a_rejoin() -> None:
    """Re-added from the membership service's entry before its next PING: the alive time is
    the one it left with, however long it was away."""
    t = RejoinTracker()
    t.disappeared(M, 100.0)
    assert t.added(M, 400.0) == Rejoin(M, 60_000, 100.0, 300.0)


def test_a_young_member_restarted_with_a_longer_uptime_counts_as_a_rejoin() -> None:
    """The harmless error: 1 s old when it vanished, back with 70 s of uptime."""
    t = RejoinTracker()
    t.disappeared(M.with_alive(1_000), 100.0)
    assert t.added(M.with_alive(70_000), 200.0) is not None


def test_a_member_that_said_goodbye_is_forgotten() -> None:
    t = RejoinTracker()
    t.disappeared(M, 100.0)
    t.disappeared(replace(M, command=SHUTDOWN_COMMAND), 101.0)
    assert M not in t
    assert t.added(M.with_alive(200_000), 150.0) is None


def test_identity_is_the_member_key() -> None:
    t = RejoinTracker()
    t.disappeared(M, 1.0)
    other = Member.at("127.0.0.12", 4000, bytes(15) + b"\x0d", alive=90_000)
    assert t.added(other, 2.0) is None  # another uniqueId: a new member
    assert t.added(replace(M, alive=61_000, payload=b"x"), 2.0) is not None


def test_memory_is_bounded() -> None:
    t = RejoinTracker(max_gone=2)
    members = [Member.at(f"127.0.0.{i}", 4000, alive=5_000) for i in (1, 2, 3)]
    for i, m in enumerate(members):
        t.disappeared(m, float(i))
    assert [m in t for m in members] == [False, True, True]
    t.forget(members[1])
    assert members[1] not in t
