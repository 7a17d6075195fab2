"""Sans-io StaticMembershipService: StaticMembershipProvider + Membership (TRIBES.md §6).

No sockets, no clock: every input carries `now` (seconds, monotonic), every I/O need comes
out as an action (`CheckReachable`, `SendRpc`, `SendStop`) whose result is fed back in.

Sequences, as StaticMembershipProvider runs them:

* start: `start(now)` -> `CheckReachable(START, static peers)` -> `reachable_done(...)` ->
  `SendRpc(START, reachable, ALL_REPLY, options 8, rpcTimeout)` (or None) -> `rpc_done(...)`.
* heartbeat (every 5 s): `heartbeat(now)` -> `CheckReachable(PING, ...)` -> `reachable_done`
  -> `SendRpc(PING, ...)` or None -> `rpc_done(...)`, which also expires the members not heard
  from for more than `expiration_time` (call it even when no RPC was sent).
* stop: `stop(now)` -> `SendStop(current members)`; the local member's command is BABY-ALEX
  from then on.

A member becomes alive from a START/PING request it sends us (`reply_request`), a reply or a
late reply (`rpc_done`, `left_over`) or a bare MemberMessage (`handle_message`); the member is
the one inside the MemberMessage, never the ChannelData address.  Each such message also
teaches the peer's Tomcat line (the MemberImpl serialVersionUID it wrote), which decides what
we write to it (`version_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..messages.membership import MSG_PING, MSG_START, MSG_STOP, JavaMember, MemberMessage
from ..wire.member import SHUTDOWN_COMMAND, Member
from .events import (
    CheckReachable,
    Event,
    MemberAdded,
    MemberDisappeared,
    MemberUpdated,
    Reason,
    RpcKind,
    RpcUnanswered,
    SendRpc,
    SendStop,
    VersionLearned,
)
from .members import Alive, MemberList

#: Channel.SEND_OPTIONS_ASYNCHRONOUS: the provider's fixed `sendOptions`.
ASYNCHRONOUS = 0x8
TOMCAT_VERSIONS = (9, 10)

_MSGTYPE = {RpcKind.START: MSG_START, RpcKind.PING: MSG_PING}


@dataclass(frozen=True, slots=True)
class StaticPeer:
    """A configured `<Member>`; `tomcat_version` presets the line (9 or 10) spoken to it."""

    member: Member
    tomcat_version: int | None = None


class StaticMembership:
    """One node's static membership.  Times are seconds; `start_time` is the node's start."""

    def __init__(
        self,
        local: Member,
        peers: Iterable[Member | StaticPeer],
        *,
        membership_id: bytes,
        start_time: float,
        expiration_time: float = 5.0,
        connect_timeout: float = 0.5,
        rpc_timeout: float = 3.0,
        default_version: int = 10,
        send_options: int = ASYNCHRONOUS,
    ) -> None:
        if default_version not in TOMCAT_VERSIONS:
            raise ValueError(f"default_version must be one of {TOMCAT_VERSIONS}")
        self._local = local
        self.membership_id = membership_id
        self.start_time = start_time
        self.expiration_time = expiration_time
        self.connect_timeout = connect_timeout
        self.rpc_timeout = rpc_timeout
        self.default_version = default_version
        self.send_options = send_options
        self._peers: list[Member] = []
        #: Tomcat line per (host, port): preset from configuration, then learned.
        self._preset: dict[tuple[bytes, int], int] = {}
        self._learned: dict[tuple[bytes, int], int] = {}
        seen: set[tuple[bytes, int, bytes]] = set()
        for p in peers:
            peer = p if isinstance(p, StaticPeer) else StaticPeer(p)
            m = peer.member
            if m.key == local.key or m.key in seen:
                continue  # the local member is taken out of the static list, as Tomcat does
            seen.add(m.key)
            self._peers.append(m)
            if peer.tomcat_version is not None:
                if peer.tomcat_version not in TOMCAT_VERSIONS:
                    raise ValueError(f"tomcat_version must be one of {TOMCAT_VERSIONS}")
                self._preset[(m.host, m.port)] = peer.tomcat_version
        self._members = MemberList(local)
        self.stopping = False

    # --- the local member ------------------------------------------------------------------------

    def uptime_ms(self, now: float) -> int:
        """Milliseconds since the node started: the alive time we report."""
        return max(0, int((now - self.start_time) * 1000))

    def local_member(self, now: float) -> Member:
        """`getLocalMember(true)`: the local member with the current uptime as alive time
        (and command BABY-ALEX once stopping)."""
        m = self._local.with_alive(self.uptime_ms(now))
        return replace(m, command=SHUTDOWN_COMMAND) if self.stopping else m

    @property
    def local(self) -> Member:
        return self._local

    def java_member(self, dest: Member | None, now: float) -> JavaMember:
        """Our member as a StaticMember object in the Tomcat line `dest` speaks."""
        version = self.default_version if dest is None else self.version_of(dest)
        return JavaMember(self.local_member(now), True, version)

    # --- queries ---------------------------------------------------------------------------------

    @property
    def peers(self) -> list[Member]:
        """The configured static members (without the local one)."""
        return list(self._peers)

    def members(self) -> list[Member]:
        """The members, oldest first (StaticMembershipProvider's `getMembers()`)."""
        return self._members.members()

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def get(self, member: Member) -> Member | None:
        return self._members.get(member)

    def is_static(self, member: Member) -> bool:
        """The member object last seen was a StaticMember (Tomcat always sends those)."""
        return self._members.is_static(member)

    def last_heard(self, member: Member) -> float | None:
        return self._members.last_heard(member)

    def version_of(self, member: Member) -> int:
        """The Tomcat line (9 or 10) of `member`: learned, else preset, else the default."""
        k = (member.host, member.port)
        return self._learned.get(k) or self._preset.get(k) or self.default_version

    def version_known(self, member: Member) -> bool:
        k = (member.host, member.port)
        return k in self._learned or k in self._preset

    def learn_version(self, member: Member, version: int) -> list[Event]:
        """Record the line a peer writes; a `VersionLearned` when it differs from what we used
        so far."""
        if version not in TOMCAT_VERSIONS:
            return []
        before = self.version_of(member)
        self._learned[(member.host, member.port)] = version
        return [VersionLearned(member, version, before)] if before != version else []

    # --- inputs ----------------------------------------------------------------------------------

    def member_alive(
        self,
        member: Member,
        now: float,
        tomcat_version: int | None = None,
        *,
        static: bool = True,
    ) -> list[Event]:
        """A START or PING (request, reply, late reply or bare message) from `member`.

        Adds it if unknown (`MemberAdded`), refreshes its last-heard time and alive time
        (`MemberUpdated` when the alive time changed)."""
        if member.key == self._local.key:
            return []
        out = [] if tomcat_version is None else self.learn_version(member, tomcat_version)
        previous = self._members.get(member)
        result = self._members.alive(member, now, static=static)
        if result is Alive.NEW:
            out.append(MemberAdded(member, static))
        elif result is Alive.UPDATED and previous is not None:
            stored = self._members.get(member)
            assert stored is not None
            out.append(MemberUpdated(stored, previous.alive))
        return out

    def member_stopped(self, member: Member) -> list[Event]:
        """MSG_STOP: remove at once.  Reported even for an unknown member, as Tomcat does
        (TcpFailureDetector then ignores members it does not have)."""
        stored = self._members.remove(member)
        gone = member if stored is None else replace(stored, command=member.command)
        return [MemberDisappeared(gone, Reason.SHUTDOWN)]

    def member_failed(self, members: Iterable[Member]) -> list[Event]:
        """Faulty members of a membership RPC send (ChannelException in `ping()`)."""
        out: list[Event] = []
        for m in members:
            stored = self._members.remove(m)
            out.append(MemberDisappeared(stored or m, Reason.SEND_FAILED))
        return out

    def expire(self, now: float) -> list[Event]:
        """`checkExpired`: members not heard from for more than `expiration_time`."""
        return [
            MemberDisappeared(m, Reason.EXPIRED)
            for m in self._members.expire(self.expiration_time, now)
        ]

    # --- messages --------------------------------------------------------------------------------

    def accepts(self, msg: MemberMessage) -> bool:
        """StaticMembershipProvider.accept: same membership id."""
        return msg.membership_id == self.membership_id

    def handle_message(self, msg: MemberMessage, now: float) -> list[Event]:
        """A bare (non-RPC) MemberMessage, or a reply / late reply to our RPCs."""
        if not self.accepts(msg) or msg.member is None:
            return []
        jm = msg.member
        if msg.msgtype == MSG_STOP:
            return self.learn_version(jm.member, jm.tomcat_version) + self.member_stopped(jm.member)
        if msg.msgtype in (MSG_START, MSG_PING):
            return self.member_alive(jm.member, now, jm.tomcat_version, static=jm.static)
        return []

    def reply_request(
        self, msg: object, now: float, sender: Member | None = None
    ) -> tuple[MemberMessage | None, list[Event]]:
        """Serve a START/PING RPC: take the requester in, answer the same message with our
        member (never null), in the requester's Tomcat line (`sender` is the ChannelData
        address the reply goes to).  Other requests get None (a null reply, as Tomcat answers
        them)."""
        if not isinstance(msg, MemberMessage) or msg.msgtype not in (MSG_START, MSG_PING):
            return None, []
        events = self.handle_message(msg, now) if self.accepts(msg) else []
        if msg.member is not None and msg.member.tomcat_version in TOMCAT_VERSIONS:
            version = msg.member.tomcat_version  # the requester just showed what it reads
        else:
            version = self.default_version if sender is None else self.version_of(sender)
        me = JavaMember(self.local_member(now), True, version)
        return MemberMessage(msg.msgtype, me, msg.membership_id), events

    def left_over(self, msg: object, now: float) -> list[Event]:
        """A reply that came after its RPC finished: START/PING handled like any other."""
        if isinstance(msg, MemberMessage) and msg.msgtype in (MSG_START, MSG_PING):
            return self.handle_message(msg, now)
        return []

    # --- sequences -------------------------------------------------------------------------------

    def start(self, now: float) -> CheckReachable:
        """`startMembership`: first check which static peers accept a connection."""
        self.stopping = False
        return CheckReachable(RpcKind.START, tuple(self._peers), self.connect_timeout)

    def heartbeat(self, now: float) -> CheckReachable:
        """`ping()`: check the static peers, PING the reachable ones, then expire."""
        return CheckReachable(RpcKind.PING, tuple(self._peers), self.connect_timeout)

    def reachable_done(
        self, check: CheckReachable, reachable: Iterable[Member], now: float
    ) -> SendRpc | None:
        """The RPC to send to the peers that accepted the connection (None if there are none;
        for a heartbeat still call `rpc_done` so that members expire)."""
        ok = {m.key for m in reachable}
        members = tuple(m for m in check.members if m.key in ok)
        if not members or self.stopping:
            return None
        return SendRpc(
            check.kind,
            _MSGTYPE[check.kind],
            members,
            self.send_options,
            self.rpc_timeout,
        )

    def request_for(self, rpc: SendRpc, dest: Member, now: float) -> MemberMessage:
        """The MemberMessage of `rpc` for one destination (its Tomcat line, current uptime)."""
        return MemberMessage(rpc.msgtype, self.java_member(dest, now), self.membership_id)

    def rpc_done(
        self,
        kind: RpcKind,
        rpc: SendRpc | None,
        replies: Sequence[tuple[Member, object]],
        now: float,
        *,
        failed: Iterable[Member] = (),
    ) -> list[Event]:
        """Process the replies (sender = ChannelData address, message = the reply) of the RPC
        and, for a heartbeat, expire silent members.  `failed`: members the send failed for."""
        events: list[Event] = []
        answered: set[tuple[bytes, int, bytes]] = set()
        for sender, reply in replies:
            answered.add(sender.key)
            if isinstance(reply, MemberMessage):
                if reply.member is not None:
                    answered.add(reply.member.member.key)
                events.extend(self.handle_message(reply, now))
        failed = list(failed)
        if failed:
            events.extend(self.member_failed(failed))
        if rpc is not None:
            silent = tuple(m for m in rpc.members if m.key not in answered)
            if silent:
                events.append(RpcUnanswered(kind, silent, len(replies)))
        if kind is RpcKind.PING:
            events.extend(self.expire(now))
        return events

    def stop(self, now: float) -> SendStop | None:
        """`stopMembership`: MSG_STOP (bare, options 8) to the current members; from now on
        the local member carries BABY-ALEX.  The member table is cleared afterwards, as the
        provider's `membership.reset()` does."""
        self.stopping = True
        members = tuple(self._members.members())
        self._members.clear()
        if not members:
            return None
        return SendStop(members, self.send_options)

    def stop_message_for(self, dest: Member, now: float) -> MemberMessage:
        """The MSG_STOP for one destination (its Tomcat line, command BABY-ALEX)."""
        return MemberMessage(MSG_STOP, self.java_member(dest, now), self.membership_id)


__all__ = ["ASYNCHRONOUS", "TOMCAT_VERSIONS", "StaticMembership", "StaticPeer"]
