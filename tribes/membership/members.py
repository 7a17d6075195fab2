"""`MemberList`: the member table both state machines keep (Tomcat's `Membership`).

* Identity is `Member.key` (host bytes + port + uniqueId); the local member is never added.
* Order: alive time descending, so the oldest member comes first (DeltaManager asks
  `members()[0]` for the session state).  The sort is stable: ties keep insertion order, a new
  member goes after the existing ones with the same alive time.
* `alive()` refreshes "last heard from" and, when the announced alive time differs, takes the
  new alive time, payload and command and re-sorts (other fields keep the first-seen values).
* `expire(max_age, now)` removes the members last heard from more than `max_age` ago.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum

from ..wire.member import Member

MemberKey = tuple[bytes, int, bytes]


class Alive(Enum):
    """Outcome of `MemberList.alive`."""

    NEW = "new"
    UPDATED = "updated"
    SAME = "same"
    LOCAL = "local"


@dataclass(slots=True)
class _Entry:
    member: Member
    last_heard: float
    static: bool


class MemberList:
    def __init__(self, local: Member | None = None) -> None:
        self.local_key = None if local is None else local.key
        self._entries: dict[MemberKey, _Entry] = {}
        self._order: list[MemberKey] = []

    # --- queries ---------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        """The members, oldest (largest alive time) first."""
        entries = self._entries
        return [entries[k].member for k in self._order]

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members())

    def __contains__(self, member: object) -> bool:
        return isinstance(member, Member) and member.key in self._entries

    def get(self, member: Member) -> Member | None:
        """The stored member equal to `member` (as first seen, alive time refreshed)."""
        e = self._entries.get(member.key)
        return None if e is None else e.member

    def is_static(self, member: Member) -> bool:
        e = self._entries.get(member.key)
        return True if e is None else e.static

    def last_heard(self, member: Member) -> float | None:
        e = self._entries.get(member.key)
        return None if e is None else e.last_heard

    # --- changes ---------------------------------------------------------------------------------

    def alive(self, member: Member, now: float, *, static: bool = True) -> Alive:
        """`Membership.memberAlive`: add the member or refresh it."""
        key = member.key
        if key == self.local_key:
            return Alive.LOCAL
        e = self._entries.get(key)
        if e is None:
            self._entries[key] = _Entry(member, now, static)
            self._order.append(key)
            self._sort()
            return Alive.NEW
        e.last_heard = now
        if e.member.alive == member.alive:
            return Alive.SAME
        e.member = replace(
            e.member, alive=member.alive, payload=member.payload, command=member.command
        )
        self._sort()
        return Alive.UPDATED

    def remove(self, member: Member) -> Member | None:
        """Remove and return the stored member (None if it was not there)."""
        e = self._entries.pop(member.key, None)
        if e is None:
            return None
        self._order.remove(member.key)
        return e.member

    def expire(self, max_age: float, now: float) -> list[Member]:
        """Remove and return every member not heard from for more than `max_age`."""
        gone = [e.member for e in self._entries.values() if now - e.last_heard > max_age]
        for m in gone:
            self.remove(m)
        return gone

    def clear(self) -> None:
        self._entries.clear()
        self._order.clear()

    def _sort(self) -> None:
        entries = self._entries
        self._order.sort(key=lambda k: -entries[k].member.alive)


__all__ = ["Alive", "MemberKey", "MemberList"]
