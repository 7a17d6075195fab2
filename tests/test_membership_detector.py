"""FailureDetector (TcpFailureDetector semantics) and MemberList, with plain `now` numbers."""

from __future__ import annotations

from dataclasses import replace

from tribes.membership.detector import FailureDetector, Output
from tribes.membership.events import (
    MemberAdded,
    MemberDisappeared,
    MemberSuspect,
    MemberVerifiedAlive,
    Probe,
    Purpose,
    Reason,
)
from tribes.membership.members import Alive, MemberList
from tribes.wire import SHUTDOWN_COMMAND, Member

LOCAL = Member.at("127.0.0.11", 4000, bytes([11] * 16), alive=1000)
B = Member.at("127.0.0.12", 4000, bytes([12] * 16), alive=5000)
C = Member.at("127.0.0.13", 4000, bytes([13] * 16), alive=3000)


def probes(out: list[Output]) -> list[tuple[Member, Purpose]]:
    return [(o.member, o.purpose) for o in out if isinstance(o, Probe)]


def events(out: list[Output]) -> list[object]:
    return [o for o in out if not isinstance(o, Probe)]


def added(fd: FailureDetector, m: Member, now: float = 0.0) -> None:
    assert probes(fd.member_added(m, now)) == [(m, Purpose.ADD)]
    assert fd.probe_result(m, True, now) == [MemberAdded(m)]


# --- MemberList ----------------------------------------------------------------------------------


def test_member_list_orders_oldest_first_and_is_stable() -> None:
    ml = MemberList(LOCAL)
    assert ml.alive(C, 0.0) is Alive.NEW
    assert ml.alive(B, 0.0) is Alive.NEW
    assert [m.port for m in ml.members()] == [4000, 4000]
    assert ml.members() == [B, C]  # B is older (5000 ms > 3000 ms)
    same = Member.at("127.0.0.14", 4000, alive=3000)
    ml.alive(same, 0.0)
    assert ml.members() == [B, C, same]  # a tie keeps insertion order
    assert ml.alive(replace(C, alive=9000), 1.0) is Alive.UPDATED
    assert ml.members()[0].host == C.host and ml.members()[0].alive == 9000
    assert ml.alive(LOCAL, 0.0) is Alive.LOCAL
    assert LOCAL not in ml


def test_member_list_keeps_first_seen_fields_but_takes_alive_payload_command() -> None:
    ml = MemberList(LOCAL)
    ml.alive(B, 0.0)
    newer = replace(B, alive=6000, payload=b"p", domain=b"other", secure_port=9)
    ml.alive(newer, 1.0)
    stored = ml.get(B)
    assert stored is not None
    assert (stored.alive, stored.payload, stored.domain, stored.secure_port) == (
        6000,
        b"p",
        b"",
        -1,
    )
    assert ml.alive(newer, 2.0) is Alive.SAME
    assert ml.last_heard(B) == 2.0


def test_member_list_expires_only_after_more_than_max_age() -> None:
    ml = MemberList(LOCAL)
    ml.alive(B, 10.0)
    assert ml.expire(5.0, 15.0) == []  # exactly expirationTime: not yet
    assert ml.expire(5.0, 15.001) == [B]
    assert B not in ml


# --- FailureDetector -----------------------------------------------------------------------------


def test_added_after_a_successful_probe() -> None:
    fd = FailureDetector(LOCAL)
    out = fd.member_added(B, 0.0)
    assert probes(out) == [(B, Purpose.ADD)]
    assert fd.members() == []  # not before the probe answered
    assert fd.probe_result(B, True, 0.1) == [MemberAdded(B)]
    assert fd.members() == [B]
    assert fd.member_added(B, 1.0) == []  # already a member: no probe


def test_add_probe_fails_then_add_suspect_comes_back_on_basic_check() -> None:
    fd = FailureDetector(LOCAL, forced_check=False)
    fd.member_added(B, 0.0)
    assert fd.probe_result(B, False, 0.1) == [MemberSuspect(B, Reason.ADD_UNREACHABLE)]
    assert fd.members() == [] and fd.add_suspects == [B]
    # the membership service still has B: the basic check skips it as a new member but
    # re-probes it as an add-suspect
    out = fd.heartbeat(5.0, [B])
    assert probes(out) == [(B, Purpose.ADD_SUSPECT)]
    assert fd.probe_result(B, False, 5.1) == []
    out = fd.heartbeat(10.0, [B])
    assert fd.probe_result(B, True, 10.1) == [MemberAdded(B)]
    assert fd.add_suspects == []


def test_non_static_member_is_not_kept_as_add_suspect() -> None:
    fd = FailureDetector(LOCAL, is_static=lambda m: False)
    fd.member_added(B, 0.0)
    fd.probe_result(B, False, 0.1)
    assert fd.add_suspects == []


def test_suspect_verified_alive_stays_and_is_rechecked_until_the_timeout() -> None:
    fd = FailureDetector(LOCAL, forced_check=False, remove_suspects_timeout=300)
    added(fd, B)
    out = fd.member_disappeared(B, 1.0, Reason.EXPIRED)
    assert events(out) == [MemberSuspect(B, Reason.EXPIRED)]
    assert probes(out) == [(B, Purpose.VERIFY)]
    assert fd.probe_result(B, True, 1.1) == [MemberVerifiedAlive(B, Reason.EXPIRED)]
    assert fd.members() == [B] and fd.remove_suspects == [B]
    # the membership service no longer lists B; the basic check re-probes the suspect
    out = fd.heartbeat(5.0, [])
    assert probes(out) == [(B, Purpose.REMOVE_SUSPECT)]
    assert fd.probe_result(B, True, 5.1) == []
    assert fd.members() == [B]
    # Tomcat compares whole seconds: (int)(idle / 1000) > 300
    fd.heartbeat(302.0, [])
    fd.probe_result(B, True, 302.0)
    assert fd.remove_suspects == [B]
    fd.heartbeat(302.2, [])
    fd.probe_result(B, True, 302.2)
    assert fd.remove_suspects == []
    # ... and then the member simply stays, unchecked
    assert fd.heartbeat(400.0, []) == []
    assert fd.members() == [B]


def test_suspect_whose_probe_fails_is_removed() -> None:
    fd = FailureDetector(LOCAL)
    added(fd, B)
    fd.member_disappeared(B, 1.0, Reason.EXPIRED)
    assert fd.probe_result(B, False, 1.1) == [MemberDisappeared(B, Reason.EXPIRED)]
    assert fd.members() == [] and fd.add_suspects == [B]


def test_suspect_recheck_failure_removes_it() -> None:
    fd = FailureDetector(LOCAL, forced_check=False)
    added(fd, B)
    fd.member_disappeared(B, 1.0, Reason.EXPIRED)
    fd.probe_result(B, True, 1.1)
    fd.heartbeat(5.0, [])
    assert fd.probe_result(B, False, 5.1) == [MemberDisappeared(B, Reason.SUSPECT_UNREACHABLE)]
    assert fd.remove_suspects == []


def test_member_added_clears_a_remove_suspect_without_probing() -> None:
    fd = FailureDetector(LOCAL)
    added(fd, B)
    fd.member_disappeared(B, 1.0, Reason.EXPIRED)
    fd.probe_result(B, True, 1.1)
    assert fd.member_added(B, 2.0) == []
    assert fd.remove_suspects == [] and fd.members() == [B]


def test_shutdown_removes_at_once_and_the_leaving_member_is_never_probed() -> None:
    fd = FailureDetector(LOCAL, forced_check=False)
    added(fd, B)
    leaving = replace(B, command=SHUTDOWN_COMMAND)
    out = fd.member_disappeared(leaving, 1.0, Reason.SHUTDOWN)
    assert out == [MemberDisappeared(leaving, Reason.SHUTDOWN)]  # as announced
    assert fd.members() == []
    # kept as add-suspect, but memberAlive() of a BABY-ALEX member is false without a probe
    assert probes(fd.heartbeat(5.0, [])) == []
    assert fd.members() == []
    # unknown leaving member: nothing
    assert fd.member_disappeared(replace(C, command=SHUTDOWN_COMMAND), 1.0, Reason.SHUTDOWN) == []
    # it comes back (START from the restarted node)
    restarted = replace(B, alive=10)
    assert probes(fd.member_added(restarted, 9.0)) == [(restarted, Purpose.ADD)]
    assert fd.probe_result(restarted, True, 9.1) == [MemberAdded(restarted)]


def test_shutdown_while_an_add_probe_is_in_flight_wins() -> None:
    fd = FailureDetector(LOCAL)
    fd.member_added(B, 0.0)
    fd.member_disappeared(replace(B, command=SHUTDOWN_COMMAND), 0.05, Reason.SHUTDOWN)
    assert fd.probe_result(B, True, 0.1) == []
    assert fd.members() == []


def test_forced_check_probes_every_member_below_and_removes_or_adds() -> None:
    fd = FailureDetector(LOCAL, forced_check=True)
    added(fd, B)
    out = fd.heartbeat(5.0, [B, C])
    # basic: B is known (alive refreshed), C is new -> BASIC probe; forced: B and C again
    # (coalesced with the BASIC probe of C: one probe per member)
    assert sorted(probes(out), key=lambda p: p[0].host) == [(B, Purpose.FORCED), (C, Purpose.BASIC)]
    assert fd.probe_result(B, False, 5.1) == [MemberDisappeared(B, Reason.UNREACHABLE)]
    assert fd.probe_result(C, True, 5.1) == [MemberAdded(C)]
    assert fd.members() == [C]
    assert fd.add_suspects == [B]
    # B answers again at the next heartbeat: added back
    out = fd.heartbeat(10.0, [B, C])
    # (the basic check's add-suspect re-check and the forced check share one probe)
    assert (B, Purpose.ADD_SUSPECT) in probes(out)
    assert fd.probe_result(B, True, 10.1) == [MemberAdded(B)]
    assert fd.probe_result(C, True, 10.1) == []
    assert fd.members() == [B, C]


def test_basic_check_adds_a_member_known_below_after_a_probe() -> None:
    fd = FailureDetector(LOCAL, forced_check=False)
    out = fd.heartbeat(5.0, [C])
    assert probes(out) == [(C, Purpose.BASIC)]
    assert fd.members() == []
    assert fd.probe_result(C, False, 5.1) == []
    assert fd.members() == []
    fd.heartbeat(10.0, [C])
    assert fd.probe_result(C, True, 10.1) == [MemberAdded(C)]


def test_basic_check_refreshes_alive_times_and_order() -> None:
    fd = FailureDetector(LOCAL, forced_check=False)
    added(fd, B)
    added(fd, C)
    assert fd.members() == [B, C]
    fd.heartbeat(5.0, [replace(C, alive=99999), B])
    assert [m.alive for m in fd.members()] == [99999, 5000]


def test_send_failure_makes_a_suspect() -> None:
    fd = FailureDetector(LOCAL)
    added(fd, B)
    out = fd.send_failed(B, 1.0)
    assert events(out) == [MemberSuspect(B, Reason.SEND_FAILED)]
    assert fd.probe_result(B, False, 1.2) == [MemberDisappeared(B, Reason.SEND_FAILED)]
    # a failure for a member we do not have is ignored ("already disappeared")
    assert fd.send_failed(C, 1.0) == []


def test_probes_of_one_member_are_coalesced() -> None:
    fd = FailureDetector(LOCAL, forced_check=True)
    added(fd, B)
    out = fd.member_disappeared(B, 1.0, Reason.EXPIRED)
    assert probes(out) == [(B, Purpose.VERIFY)]
    assert fd.probing(B)
    assert probes(fd.send_failed(B, 1.05)) == []  # joins the probe in flight
    assert fd.probe_result(B, True, 1.1) == [
        MemberVerifiedAlive(B, Reason.EXPIRED),
        MemberVerifiedAlive(B, Reason.SEND_FAILED),
    ]
    assert not fd.probing(B)
    assert fd.probe_result(B, True, 1.2) == []  # nothing pending: ignored


def test_message_from_a_removed_member_does_not_re_add_it_by_itself() -> None:
    """TcpFailureDetector.messageReceived only drops probes; re-adding goes through the
    membership service (memberAdded) or the heartbeat checks."""
    fd = FailureDetector(LOCAL, forced_check=False)
    added(fd, B)
    fd.member_disappeared(B, 1.0, Reason.EXPIRED)
    fd.probe_result(B, False, 1.1)
    assert fd.members() == []
    # the membership service hears a PING from B again -> memberAdded
    out = fd.member_added(B, 2.0)
    assert probes(out) == [(B, Purpose.ADD)]
    assert fd.probe_result(B, True, 2.1) == [MemberAdded(B)]


def test_add_suspect_is_rechecked_as_the_membership_service_knows_it_now() -> None:
    """Stopped (BABY-ALEX, never probed), restarted before the provider forgot it: the basic
    check re-checks the fresh member object and lets it back in."""
    fd = FailureDetector(LOCAL, forced_check=False)
    added(fd, B)
    fd.member_disappeared(replace(B, command=SHUTDOWN_COMMAND), 1.0, Reason.SHUTDOWN)
    fresh = replace(B, alive=7)
    out = fd.heartbeat(5.0, [fresh])
    assert probes(out) == [(fresh, Purpose.ADD_SUSPECT)]
    assert fd.probe_result(fresh, True, 5.1) == [MemberAdded(fresh)]
    assert fd.members() == [fresh]
