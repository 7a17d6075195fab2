"""`SessionRegistry`: the managers of one node, routed by context name (ClusterSessionListener)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..messages.session import Event, SessionMessage, event_name
from .config import ManagerConfig, Send, TransferState, manager_name, wall_clock_ms
from .manager import SessionManager, _no_members

log = logging.getLogger(__name__)

NO_CONTEXT_MANAGER_ID = "NO-CONTEXT-MANAGER"


class SessionRegistry:
    """Every `SessionManager` of a node, keyed by manager name (`"localhost#/jw"`).

    `receive` routes a SessionMessage like ClusterSessionListener: no context name -> every
    manager; an unknown context -> dropped, except GET_ALL_SESSIONS, which is answered with
    EVT_ALL_SESSION_NOCONTEXTMANAGER so the asking node does not wait for its timeout.
    """

    def __init__(
        self,
        *,
        tomcat_version: int,
        members: Callable[[], Sequence[object]] = _no_members,
        clock: Callable[[], int] = wall_clock_ms,
        host: str | None = "localhost",
        config: ManagerConfig | None = None,
        peer_version: Callable[[Any], int | None] | None = None,
        defer_pages: bool = False,
    ) -> None:
        self.tomcat_version = tomcat_version
        #: `SessionManager.defer_pages` of every manager added: the adapter runs `Send.fill`.
        self.defer_pages = defer_pages
        self._peer_version = peer_version
        self.host = host
        #: Default configuration of the managers `add_context` creates; its
        #: `channel_send_options` is also the cluster's, used for NOCONTEXTMANAGER.
        self.config = config or ManagerConfig()
        self._members = members
        self._clock = clock
        self._managers: dict[str, SessionManager] = {}
        self._outbox: list[Send] = []
        self.counters: Counter[str] = Counter()

    @property
    def managers(self) -> Mapping[str, SessionManager]:
        return MappingProxyType(self._managers)

    def members(self) -> Sequence[object]:
        return self._members()

    def now(self, now: int | None = None) -> int:
        return self._clock() if now is None else now

    def add_context(
        self, path: str, *, config: ManagerConfig | None = None, **settings: Any
    ) -> SessionManager:
        """Create and register the manager of the context at `path` ("/jw", "" for ROOT)."""
        manager = SessionManager(
            manager_name(path, self.host),
            tomcat_version=self.tomcat_version,
            config=config or self.config,
            members=self._members,
            clock=self._clock,
            peer_version=self._peer_version,
            **settings,
        )
        self.add(manager)
        return manager

    def add(self, manager: SessionManager) -> None:
        if manager.name in self._managers:
            raise ValueError(f"a manager named {manager.name!r} is already registered")
        manager.defer_pages = self.defer_pages
        self._managers[manager.name] = manager

    def remove(self, name: str) -> SessionManager | None:
        return self._managers.pop(name, None)

    def get(self, name: str) -> SessionManager | None:
        return self._managers.get(name)

    def receive(self, message: SessionMessage, sender: object, now: int | None = None) -> None:
        now = self.now(now)
        ctx = message.context_name
        if ctx is None:
            for manager in list(self._managers.values()):
                manager.receive(message, sender, now)
            return
        target = self._managers.get(ctx)
        if target is not None:
            target.receive(message, sender, now)
            return
        log.warning("no session manager for context %r (%s)", ctx, event_name(message.event))
        if message.event == Event.EVT_GET_ALL_SESSIONS:
            # Timestamp never set: 0 on the wire, timestampSet false (TRIBES.md §8.1).
            reply = SessionMessage(
                Event.EVT_ALL_SESSION_NOCONTEXTMANAGER,
                ctx,
                NO_CONTEXT_MANAGER_ID,
                f"{NO_CONTEXT_MANAGER_ID}-{ctx}",
            )
            self.counters["sent.EVT_ALL_SESSION_NOCONTEXTMANAGER"] += 1
            self._outbox.append(
                Send(reply, sender, self.config.channel_send_options, lane=object())
            )
        else:
            self.counters["dropped.unknown-context"] += 1

    def take_outgoing(self) -> list[Send]:
        out, self._outbox = self._outbox, []
        for manager in self._managers.values():
            out.extend(manager.take_outgoing())
        return out

    def start(self, now: int | None = None) -> None:
        """Start the state transfer of every manager not started yet."""
        now = self.now(now)
        for manager in list(self._managers.values()):
            if manager.transfer_state is TransferState.NOT_STARTED:
                manager.start(now)

    def poll(self, now: int | None = None) -> None:
        now = self.now(now)
        for manager in list(self._managers.values()):
            manager.poll(now)

    def next_deadline(self) -> int | None:
        """The earliest `SessionManager.next_deadline` (cheap: the replicator asks per flush)."""
        best: int | None = None
        for manager in self._managers.values():
            d = manager.next_deadline()
            if d is not None and (best is None or d < best):
                best = d
        return best

    def process_expires(self, now: int | None = None) -> int:
        now = self.now(now)
        return sum(m.process_expires(now) for m in list(self._managers.values()))

    def stop(self, now: int | None = None) -> None:
        now = self.now(now)
        for manager in list(self._managers.values()):
            manager.stop(now)
