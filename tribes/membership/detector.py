"""Sans-io TcpFailureDetector (TRIBES.md §5.3): the member set the channel reports.

The detector sits between the membership service and the upper layers.  It keeps its own
member table (what `channel.getMembers()` returns with it in the stack) and lets a member in or
out only after a TCP probe (`Probe` action -> `probe_result`):

* `member_added` (from the membership service): a pending remove-suspect is just cleared;
  otherwise probe, add if alive, else remember a static member as an add-suspect.
* `member_disappeared`: a member whose command is BABY-ALEX goes at once; otherwise it is
  a suspect, probed: dead -> removed, alive -> kept as a remove-suspect.
* `heartbeat(now, below)`: the basic check -- members the membership service (`below`) knows
  and the detector does not are probed and added (add-suspects excepted), remove-suspects are
  re-probed until `remove_suspects_timeout` (then simply kept), add-suspects re-probed and added
  when they answer.  With `forced_check` (TcpPingInterceptor in the stack, `checkMembers(true)`)
  every member below is probed too, and added or removed according to the result.
* `send_failed`: a send to a member failed (not a FAIL_ACK) -> `member_disappeared`.

A message from a member that is not (or no longer) a member does not re-add it here: Tomcat's
`messageReceived` only drops probe payloads.  Re-adding happens through the membership service
(its START/PING makes it `member_added` again) or through the heartbeat checks.

Probes for one member are coalesced: while one is in flight, further reasons to probe wait for
its result, which is then applied to each of them in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from ..wire.member import Member
from .events import (
    Event,
    MemberAdded,
    MemberDisappeared,
    MemberSuspect,
    MemberVerifiedAlive,
    Probe,
    Purpose,
    Reason,
)
from .members import Alive, MemberKey, MemberList

Output = Event | Probe


@dataclass(slots=True)
class _Suspect:
    member: Member
    since: float


@dataclass(slots=True)
class _Pending:
    member: Member
    purposes: list[tuple[Purpose, Reason | None]]


class FailureDetector:
    def __init__(
        self,
        local: Member,
        *,
        remove_suspects_timeout: float = 300.0,
        forced_check: bool = True,
        is_static: Callable[[Member], bool] | None = None,
    ) -> None:
        self._members = MemberList(local)
        self.remove_suspects_timeout = remove_suspects_timeout
        self.forced_check = forced_check
        self._is_static = is_static or (lambda m: True)
        self._remove_suspects: dict[MemberKey, _Suspect] = {}
        self._add_suspects: dict[MemberKey, _Suspect] = {}
        self._pending: dict[MemberKey, _Pending] = {}

    # --- queries ---------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        """The members upper layers see, oldest first."""
        return self._members.members()

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def get(self, member: Member) -> Member | None:
        return self._members.get(member)

    @property
    def remove_suspects(self) -> list[Member]:
        return [s.member for s in self._remove_suspects.values()]

    @property
    def add_suspects(self) -> list[Member]:
        return [s.member for s in self._add_suspects.values()]

    def probing(self, member: Member) -> bool:
        """A probe of `member` is in flight."""
        return member.key in self._pending

    # --- inputs from the membership service ------------------------------------------------------

    def member_added(self, member: Member, now: float) -> list[Output]:
        key = member.key
        if key in self._remove_suspects:
            # The membership service picked the member up again: no longer in doubt.
            del self._remove_suspects[key]
            return []
        if member in self._members:
            return []
        return self._probe(member, now, Purpose.ADD)

    def member_disappeared(self, member: Member, now: float, reason: Reason) -> list[Output]:
        if member.shutting_down:
            return self._shutdown(member, now)
        if member not in self._members:
            return []  # "already disappeared"
        stored = self._members.get(member) or member
        out: list[Output] = [MemberSuspect(stored, reason)]
        out.extend(self._probe(member, now, Purpose.VERIFY, reason))
        return out

    def send_failed(self, member: Member, now: float) -> list[Output]:
        """A faulty member reported by the sender (never for a FAIL_ACK: the peer is alive)."""
        return self.member_disappeared(member, now, Reason.SEND_FAILED)

    # --- heartbeat -------------------------------------------------------------------------------

    def heartbeat(self, now: float, below: Iterable[Member]) -> list[Output]:
        """The basic check, then the forced check if enabled.  `below`: the membership
        service's members."""
        below = list(below)
        out = self._basic_check(now, below)
        if self.forced_check:
            out.extend(self.check_all(now, below))
        return out

    def check_all(self, now: float, below: Iterable[Member]) -> list[Output]:
        """`checkMembers(true)`: probe every member the membership service has."""
        out: list[Output] = []
        for m in below:
            out.extend(self._probe(m, now, Purpose.FORCED))
        return out

    def _basic_check(self, now: float, below: list[Member]) -> list[Output]:
        out: list[Output] = []
        members = self._members
        for m in below:
            suspect = self._add_suspects.get(m.key)
            if suspect is not None and m not in members:
                # only its own add-suspect re-check may bring it back; re-check the member as
                # the membership service knows it now (alive time, command)
                suspect.member = m
                continue
            if m in members:
                members.alive(m, now, static=self._is_static(m))  # alive time, order
            else:
                out.extend(self._probe(m, now, Purpose.BASIC))
        for key, s in list(self._remove_suspects.items()):
            if s.member in members:
                out.extend(self._probe(s.member, now, Purpose.REMOVE_SUSPECT))
            else:
                self._age_remove_suspect(key, now)
        for s in list(self._add_suspects.values()):
            if s.member not in members:
                out.extend(self._probe(s.member, now, Purpose.ADD_SUSPECT))
        return out

    # --- probes ----------------------------------------------------------------------------------

    def _probe(
        self, member: Member, now: float, purpose: Purpose, reason: Reason | None = None
    ) -> list[Output]:
        if member.shutting_down:
            # memberAlive() is false for a leaving member without connecting.
            return list(self._apply(member, purpose, reason, False, now))
        pending = self._pending.get(member.key)
        if pending is not None:
            pending.purposes.append((purpose, reason))
            return []
        self._pending[member.key] = _Pending(member, [(purpose, reason)])
        return [Probe(member, purpose)]

    def probe_result(self, member: Member, alive: bool, now: float) -> list[Event]:
        """The outcome of a `Probe` for `member` (True: connected and wrote the probe)."""
        pending = self._pending.pop(member.key, None)
        if pending is None:
            return []
        out: list[Event] = []
        for purpose, reason in pending.purposes:
            out.extend(self._apply(pending.member, purpose, reason, alive, now))
        return out

    def _apply(
        self,
        member: Member,
        purpose: Purpose,
        reason: Reason | None,
        alive: bool,
        t: float,
    ) -> list[Event]:
        members = self._members
        key = member.key
        if purpose is Purpose.ADD:
            if member in members:
                return []
            if alive:
                return self._add(member, t)
            if self._is_static(member):
                self._add_suspects[key] = _Suspect(member, t)
            return [MemberSuspect(member, Reason.ADD_UNREACHABLE)]
        if purpose is Purpose.VERIFY:
            r = reason or Reason.UNREACHABLE
            if member not in members:
                return []
            if alive:
                self._remove_suspects[key] = _Suspect(member, t)
                return [MemberVerifiedAlive(members.get(member) or member, r)]
            return self._remove(member, t, r)
        if purpose is Purpose.BASIC:
            if member in members or not alive:
                return []
            return self._add(member, t)
        if purpose is Purpose.REMOVE_SUSPECT:
            if member in members and not alive:
                return self._remove(member, t, Reason.SUSPECT_UNREACHABLE)
            self._age_remove_suspect(key, t)
            return []
        if purpose is Purpose.ADD_SUSPECT:
            if member in members or not alive or key not in self._add_suspects:
                return []
            return self._add(member, t)
        # FORCED
        if alive:
            if key in self._add_suspects:
                del self._add_suspects[key]
            if members.alive(member, t, static=self._is_static(member)) is Alive.NEW:
                return [MemberAdded(member, self._is_static(member))]
            return []
        if member in members:
            return self._remove(member, t, Reason.UNREACHABLE)
        return []

    # --- changes ---------------------------------------------------------------------------------

    def _add(self, member: Member, now: float) -> list[Event]:
        static = self._is_static(member)
        self._add_suspects.pop(member.key, None)
        if self._members.alive(member, now, static=static) is Alive.NEW:
            return [MemberAdded(member, static)]
        return []

    def _remove(self, member: Member, now: float, reason: Reason) -> list[Event]:
        stored = self._members.remove(member) or member
        self._remove_suspects.pop(member.key, None)
        if self._is_static(member):
            self._add_suspects[member.key] = _Suspect(member, now)
        return [MemberDisappeared(stored, reason)]

    def _shutdown(self, member: Member, now: float) -> list[Output]:
        pending = self._pending.get(member.key)
        if pending is not None:
            pending.purposes.clear()  # whatever the in-flight probe says, it is leaving
        if member not in self._members:
            return []
        (gone,) = self._remove(member, now, Reason.SHUTDOWN)
        assert isinstance(gone, MemberDisappeared)
        # listeners see the leaving member as announced (command BABY-ALEX)
        return [MemberDisappeared(replace(gone.member, command=member.command), Reason.SHUTDOWN)]

    def _age_remove_suspect(self, key: MemberKey, now: float) -> None:
        s = self._remove_suspects.get(key)
        if s is None or self.remove_suspects_timeout <= 0:
            return
        # Tomcat compares whole seconds: (int)((now - since) / 1000) > removeSuspectsTimeout.
        if math.floor(now - s.since) > self.remove_suspects_timeout:
            del self._remove_suspects[key]


__all__ = ["FailureDetector", "Output"]
