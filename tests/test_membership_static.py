"""StaticMembership (StaticMembershipProvider + Membership) with plain `now` numbers, and the
two state machines wired together as the node wires them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tribes.membership.detector import FailureDetector, Output
from tribes.membership.events import (
    CheckReachable,
    Event,
    MemberAdded,
    MemberDisappeared,
    MemberUpdated,
    Probe,
    Reason,
    RpcKind,
    RpcUnanswered,
    SendRpc,
    SendStop,
    VersionLearned,
)
from tribes.membership.static import StaticMembership, StaticPeer
from tribes.messages import MSG_PING, MSG_START, MSG_STOP, JavaMember, MemberMessage
from tribes.wire import SHUTDOWN_COMMAND, Member

MID = b"Catalina-Channel-StaticMembership"
LOCAL = Member.at("127.0.0.11", 4000, bytes([11] * 16))
B = Member.at("127.0.0.12", 4000, bytes([12] * 16))
C = Member.at("127.0.0.13", 4000, bytes([13] * 16))


def make(**kw: object) -> StaticMembership:
    args: dict[str, object] = {"membership_id": MID, "start_time": 100.0}
    args.update(kw)
    peers = args.pop("peers", [LOCAL, B, C])
    return StaticMembership(LOCAL, peers, **args)  # type: ignore[arg-type]


def msg(msgtype: int, member: Member, alive: int = 1000, version: int = 10) -> MemberMessage:
    return MemberMessage(msgtype, JavaMember(member.with_alive(alive), True, version), MID)


def test_local_member_is_taken_out_of_the_static_list_and_reports_uptime() -> None:
    sm = make()
    assert sm.peers == [B, C]
    assert sm.local_member(101.5).alive == 1500
    assert sm.local_member(101.5).command == b""
    assert sm.uptime_ms(99.0) == 0


def test_start_sequence() -> None:
    sm = make()
    check = sm.start(100.0)
    assert check == CheckReachable(RpcKind.START, (B, C), 0.5)
    rpc = sm.reachable_done(check, [B], 100.1)
    assert rpc == SendRpc(RpcKind.START, MSG_START, (B,), 8, 3.0)
    request = sm.request_for(rpc, B, 100.2)
    assert request.msgtype == MSG_START and request.membership_id == MID
    assert request.member == JavaMember(LOCAL.with_alive(200), True, 10)
    reply = msg(MSG_START, B, alive=60_000)
    events = sm.rpc_done(RpcKind.START, rpc, [(B, reply)], 100.3)
    assert events == [MemberAdded(B.with_alive(60_000))]
    assert sm.members() == [B.with_alive(60_000)]


def test_start_with_nobody_reachable_sends_nothing() -> None:
    sm = make()
    check = sm.start(100.0)
    assert sm.reachable_done(check, [], 100.1) is None
    assert sm.rpc_done(RpcKind.START, None, [], 100.1) == []


def test_start_without_replies_reports_the_silent_members() -> None:
    sm = make()
    check = sm.start(100.0)
    rpc = sm.reachable_done(check, [B, C], 100.1)
    assert sm.rpc_done(RpcKind.START, rpc, [], 103.1) == [RpcUnanswered(RpcKind.START, (B, C), 0)]


def test_ping_refreshes_and_expiry_happens_only_after_expiration_time() -> None:
    sm = make()
    sm.member_alive(B.with_alive(1000), 110.0)
    sm.member_alive(C.with_alive(1000), 110.0)
    check = sm.heartbeat(115.0)
    assert check.kind is RpcKind.PING
    rpc = sm.reachable_done(check, [B, C], 115.0)
    assert rpc is not None and rpc.msgtype == MSG_PING
    # B answers, C does not; C was last heard exactly 5 s ago: not expired yet
    events = sm.rpc_done(RpcKind.PING, rpc, [(B, msg(MSG_PING, B, alive=6000))], 115.0)
    assert MemberUpdated(B.with_alive(6000), 1000) in events
    assert RpcUnanswered(RpcKind.PING, (C,), 1) in events
    assert not any(isinstance(e, MemberDisappeared) for e in events)
    assert sm.expire(115.0) == []
    assert sm.expire(115.001) == [MemberDisappeared(C.with_alive(1000), Reason.EXPIRED)]
    assert sm.members() == [B.with_alive(6000)]


def test_heartbeat_with_nobody_reachable_still_expires() -> None:
    sm = make()
    sm.member_alive(B, 110.0)
    check = sm.heartbeat(120.0)
    assert sm.reachable_done(check, [], 120.0) is None
    assert sm.rpc_done(RpcKind.PING, None, [], 120.0) == [MemberDisappeared(B, Reason.EXPIRED)]


def test_serving_start_and_ping_requests() -> None:
    sm = make()
    reply, events = sm.reply_request(msg(MSG_START, B, 42), 100.5, B)
    assert events == [MemberAdded(B.with_alive(42))]
    assert reply == MemberMessage(MSG_START, JavaMember(LOCAL.with_alive(500), True, 10), MID)
    reply, events = sm.reply_request(msg(MSG_PING, B, 5042), 105.5, B)
    assert events == [MemberUpdated(B.with_alive(5042), 42)]
    assert reply is not None and reply.msgtype == MSG_PING
    assert reply.member is not None and reply.member.member.alive == 5500
    assert sm.last_heard(B) == 105.5


def test_other_requests_get_a_null_reply() -> None:
    sm = make()
    assert sm.reply_request(msg(MSG_STOP, B), 100.0, B) == (None, [])
    assert sm.reply_request("something", 100.0, B) == (None, [])


def test_a_ping_request_with_a_foreign_membership_id_is_answered_but_not_taken_in() -> None:
    sm = make()
    foreign = MemberMessage(MSG_PING, JavaMember(B, True, 10), b"other")
    reply, events = sm.reply_request(foreign, 100.0, B)
    assert events == [] and sm.members() == []
    assert reply is not None and reply.membership_id == b"other"
    assert sm.handle_message(foreign, 100.0) == []


def test_msg_stop_removes_at_once() -> None:
    sm = make()
    sm.member_alive(B, 100.0)
    stop = MemberMessage(MSG_STOP, JavaMember(replace(B, command=SHUTDOWN_COMMAND)), MID)
    events = sm.handle_message(stop, 100.5)
    assert events == [MemberDisappeared(replace(B, command=SHUTDOWN_COMMAND), Reason.SHUTDOWN)]
    assert sm.members() == []


def test_late_replies_count() -> None:
    sm = make()
    assert sm.left_over(msg(MSG_PING, B), 100.0) == [MemberAdded(B.with_alive(1000))]
    assert sm.left_over(msg(MSG_STOP, C), 100.0) == []
    assert sm.left_over("x", 100.0) == []


def test_faulty_members_of_a_send_disappear() -> None:
    sm = make()
    sm.member_alive(B, 100.0)
    assert sm.member_failed([B]) == [MemberDisappeared(B, Reason.SEND_FAILED)]
    assert sm.members() == []


def test_the_local_member_is_ignored() -> None:
    sm = make()
    assert sm.member_alive(LOCAL, 100.0) == []
    assert sm.members() == []


def test_members_are_ordered_oldest_first() -> None:
    sm = make()
    sm.member_alive(B.with_alive(1_000), 100.0)
    sm.member_alive(C.with_alive(9_000), 100.0)
    assert [m.alive for m in sm.members()] == [9_000, 1_000]
    sm.member_alive(B.with_alive(20_000), 101.0)
    assert [m.host for m in sm.members()] == [B.host, C.host]


def test_restart_detected_by_a_smaller_alive_time() -> None:
    sm = make()
    sm.member_alive(B.with_alive(50_000), 100.0)
    (ev,) = sm.member_alive(B.with_alive(300), 101.0)
    assert isinstance(ev, MemberUpdated) and ev.restarted


def test_version_default_preset_and_learned_per_peer() -> None:
    sm = make(peers=[StaticPeer(B, 9), StaticPeer(C)], default_version=10)
    assert sm.version_of(B) == 9 and sm.version_known(B)
    assert sm.version_of(C) == 10 and not sm.version_known(C)
    rpc = SendRpc(RpcKind.PING, MSG_PING, (B, C), 8, 3.0)
    assert sm.request_for(rpc, B, 100.0).member == JavaMember(LOCAL, True, 9)
    assert sm.request_for(rpc, C, 100.0).member == JavaMember(LOCAL, True, 10)
    # C turns out to be a Tomcat 9: learned from its own message
    events = sm.handle_message(msg(MSG_PING, C, version=9), 100.0)
    assert events == [VersionLearned(C.with_alive(1000), 9, 10), MemberAdded(C.with_alive(1000))]
    assert sm.version_of(C) == 9
    assert sm.handle_message(msg(MSG_PING, C, alive=1000, version=9), 101.0) == []
    assert sm.request_for(rpc, C, 100.0).member == JavaMember(LOCAL, True, 9)
    # a reply is written in the line the requester used
    sm2 = make(default_version=10)
    reply, _ = sm2.reply_request(msg(MSG_START, B, version=9), 100.0, B)
    assert reply is not None and reply.member is not None and reply.member.tomcat_version == 9
    assert sm2.version_of(B) == 9


def test_bad_versions_are_refused() -> None:
    with pytest.raises(ValueError):
        make(default_version=8)
    with pytest.raises(ValueError):
        make(peers=[StaticPeer(B, 11)])


def test_stop_sends_msg_stop_with_baby_alex_to_the_members() -> None:
    sm = make()
    sm.member_alive(B, 100.0)
    action = sm.stop(101.0)
    assert action == SendStop((B,), 8)
    stop = sm.stop_message_for(B, 101.0)
    assert stop.msgtype == MSG_STOP and stop.membership_id == MID
    assert stop.member is not None and stop.member.member.command == SHUTDOWN_COMMAND
    assert sm.members() == []
    assert sm.reachable_done(sm.heartbeat(102.0), [B], 102.0) is None
    assert sm.stop(103.0) is None


# --- both machines, wired as the node wires them -------------------------------------------------


class Wired:
    """StaticMembership -> FailureDetector, with a set of reachable members as the network."""

    def __init__(self) -> None:
        self.static = make()
        self.detector = FailureDetector(LOCAL, forced_check=True, is_static=self.static.is_static)
        self.up: set[tuple[bytes, int, bytes]] = set()
        self.published: list[Event] = []

    def _run(self, outputs: list[Output], now: float) -> None:
        for o in outputs:
            if isinstance(o, Probe):
                alive = o.member.key in self.up and not o.member.shutting_down
                self.published.extend(self.detector.probe_result(o.member, alive, now))
            else:
                self.published.append(o)

    def feed(self, events: list[Event], now: float) -> None:
        for ev in events:
            if isinstance(ev, MemberAdded):
                self._run(self.detector.member_added(ev.member, now), now)
            elif isinstance(ev, MemberDisappeared):
                self._run(self.detector.member_disappeared(ev.member, now, ev.reason), now)

    def heartbeat(self, now: float, answering: list[Member]) -> None:
        self._run(self.detector.heartbeat(now, self.static.members()), now)
        check = self.static.heartbeat(now)
        reachable = [m for m in check.members if m.key in self.up]
        rpc = self.static.reachable_done(check, reachable, now)
        replies = [(m, msg(MSG_PING, m, int(now * 1000))) for m in answering]
        self.feed(self.static.rpc_done(RpcKind.PING, rpc, replies, now), now)


def test_kill_expire_and_rejoin() -> None:
    w = Wired()
    w.up = {B.key, C.key}
    w.feed(w.static.member_alive(B.with_alive(1), 100.0), 100.0)
    w.feed(w.static.member_alive(C.with_alive(2), 100.0), 100.0)
    assert {m.key for m in w.detector.members()} == {B.key, C.key}
    # C is killed: its port refuses; the forced check drops it at the next heartbeat
    w.up = {B.key}
    w.heartbeat(105.0, [B])
    assert [m.key for m in w.detector.members()] == [B.key]
    assert MemberDisappeared(C.with_alive(2), Reason.UNREACHABLE) in w.published
    # the static provider expires it later: the detector ignores it (already gone)
    w.published.clear()
    w.heartbeat(110.0, [B])
    assert C not in w.static and w.published == []
    # C comes back and sends START: added again after a probe
    w.up = {B.key, C.key}
    w.feed(w.static.member_alive(C.with_alive(5), 111.0), 111.0)
    assert MemberAdded(C.with_alive(5)) in w.published
    assert C in w.detector


def test_fast_restart_is_re_added_by_the_forced_check() -> None:
    """Killed and back before the static provider expired it: no memberAdded from the
    provider, the forced check finds the port open again."""
    w = Wired()
    w.up = {B.key}
    w.feed(w.static.member_alive(B, 100.0), 100.0)
    w.up = set()
    w.heartbeat(105.0, [])
    assert w.detector.members() == []
    assert B in w.static  # heard from at 100.0: not expired at 105.0
    w.up = {B.key}
    w.feed(w.static.member_alive(B.with_alive(10), 106.0), 106.0)  # START: provider knows it
    assert w.detector.members() == []
    w.heartbeat(110.0, [B])
    assert [m.key for m in w.detector.members()] == [B.key]
