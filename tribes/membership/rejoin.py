"""`RejoinTracker`: tell a member that comes back after a partition from one that restarted.

Sans-io: the node reports the members that disappeared and the ones added, with `now`
(seconds, any monotonic clock); `added` answers whether this is a member we had, which went
away (expired, unreachable, a failed send -- not a MSG_STOP) and now comes back **without having
restarted**: its alive time (uptime, TRIBES.md §3.3) did not go backwards, the same rule as
`MemberUpdated.restarted`. A restarted member has a small alive time; it fetches the sessions
itself at start-up (DeltaManager's state transfer), so it is no rejoin.

The alive time a member is re-added with can be old: the failure detector may re-add it from
the membership service's entry before the member's next PING refreshed it (it is then the value
it had when it disappeared). So "up for at least as long as it was away" cannot be required.
The rule errs the harmless way: a member that restarted and came back with an uptime longer
than the one it had before (it was young when it vanished) counts as a rejoin -- catching up
with a member that just fetched our sessions changes nothing.

Identity is `Member.key` (host, port, uniqueId): a member back with another uniqueId is a new
member.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wire.member import Member
from .members import MemberKey

#: Members remembered at most (the ones gone longest are forgotten first).
MAX_GONE = 4096


@dataclass(frozen=True, slots=True)
class Rejoin:
    """A member back after a partition; times in the tracker's clock (seconds)."""

    member: Member
    #: Its alive time when it disappeared (ms).
    previous_alive: int
    #: When it disappeared, and for how long it was gone.
    gone_at: float
    away: float


class RejoinTracker:
    """See the module docstring."""

    def __init__(self, *, max_gone: int = MAX_GONE) -> None:
        self.max_gone = max_gone
        self._gone: dict[MemberKey, tuple[int, float]] = {}

    def __contains__(self, member: object) -> bool:
        return isinstance(member, Member) and member.key in self._gone

    def disappeared(self, member: Member, now: float) -> None:
        """A member left the member list (a member leaving with MSG_STOP is forgotten)."""
        key = member.key
        self._gone.pop(key, None)
        if member.shutting_down:
            return
        self._gone[key] = (member.alive, now)
        while len(self._gone) > self.max_gone:
            del self._gone[next(iter(self._gone))]

    def added(self, member: Member, now: float) -> Rejoin | None:
        """A member joined: a `Rejoin` if it is one we had that kept running, else None."""
        entry = self._gone.pop(member.key, None)
        if entry is None:
            return None
        previous_alive, gone_at = entry
        if member.alive < previous_alive:
            return None  # the uptime went backwards: restarted
        return Rejoin(member, previous_alive, gone_at, max(0.0, now - gone_at))

    def forget(self, member: Member) -> None:
        self._gone.pop(member.key, None)


__all__ = ["MAX_GONE", "Rejoin", "RejoinTracker"]
