"""`open_cluster`: a pytribes node replicating HTTP sessions as Tomcat's SimpleTcpCluster +
DeltaManager do (TRIBES.md §8): the façade the web layer uses.

    async with open_cluster(config) as cluster:      # state transfer done when this returns
        session = cluster.find_session("/jw", requested_id) or cluster.create_session("/jw")
        session.set("cart", ["a", "b"])
        await cluster.complete(session)             # acknowledged by every member: respond now

It wires three existing pieces and adds nothing of their logic:

* a `Node` (`open_node`): membership, channel, failure detection;
* a `SessionReplicator` with one `SessionManager` per `config.manager.contexts`, named
  ``<host>#<path>`` (or the bare path without `prefix_host`), speaking the Tomcat line
  `config.tomcat_version`, and writing full sessions in each asking member's layout
  (`Node.version_of`);
* a message listener handing every SessionMessage to `SessionReplicator.receive` before the
  node ACKs it (so an ALL_SESSION_DATA is applied before its SYNC_ACK, as Tomcat does; a large
  one without blocking the event loop).

Start: the node starts (MSG_START exchange), then every context is registered and started at
once (GET_ALL_SESSIONS to the oldest member), and `open_cluster` returns when every transfer has
ended (TRANSFERCOMPLETE, NOCONTEXTMANAGER, no members, or `state_transfer_timeout`; the
transfers run in parallel, so the wait is at most one timeout).  A context is only registered
when its transfer starts, so a GET_ALL_SESSIONS arriving earlier gets NOCONTEXTMANAGER, like a
Tomcat context that is not started yet.

Stop (leaving the block normally): every manager stops (sessions expire locally; EXPIRED only
with `expire_sessions_on_shutdown`), what that sent is drained, the managers are unregistered
(a late GET_ALL_SESSIONS gets NOCONTEXTMANAGER), then the node stops gracefully (MSG_STOP).
Leaving by an exception or cancellation kills the node (nothing sent).

Catch-up after a partition (ours, `config.manager.catch_up`): when a member we had disappeared
(expired, unreachable, a failed send; not a MSG_STOP) and is added again with an alive time
showing it kept running (`tribes.membership.rejoin`), every context asks it for its sessions and
merges them (`SessionManager.catch_up`: newest copy wins, ids expired here stay expired), then,
with `catch_up_push`, sends it our newer copies. In the background: requests are never held,
and each context's catch-up ends at the member's TRANSFERCOMPLETE or `state_transfer_timeout`.
A restarted member (small alive time) is left to its own start-up state transfer. A Tomcat
answers GET_ALL_SESSIONS whenever it is not in its own start-up transfer; while it is, it drops
the request and the catch-up times out.

Log events (one line each, `tribes.net.transport.log_event`): ``state_transfer_done``
(context, state, sessions, pages, ms, master), ``state_transfer_timeout`` (context, timeout,
master, ms), ``state_transfer_served`` (context, member, sessions, pages, bytes, ms, ok),
``nocontextmanager_sent`` (context, member), ``member_rejoined`` (member, alive,
previous_alive, away_ms, catch_up), ``session_catchup`` (member, context, received, updated,
added, ms, state, kept, same, expired, stale, pushed).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import trio

from ..config import NodeConfig
from ..errors import TribesError
from ..membership.rejoin import Rejoin, RejoinTracker
from ..messages.session import Event, SessionMessage
from ..session import (
    ALL,
    Delivery,
    Session,
    SessionManager,
    SessionReplicator,
    TransferState,
    manager_name,
    wall_clock_ms,
)
from ..session import ManagerConfig as SessionManagerConfig
from ..session.manager import PUSH_ID
from ..wire.channel_data import ChannelData
from ..wire.member import Member
from .node import Node, open_node
from .transport import describe, log_event

#: Upper bound on draining the managers' last messages on a graceful stop.
STOP_DRAIN_TIMEOUT = 10.0


class ReplicationError(TribesError):
    """A session message was not delivered (or FAIL_ACKed) by some members."""

    def __init__(self, message: SessionMessage, faulty: Mapping[Member, Exception]) -> None:
        self.message = message
        self.faulty = dict(faulty)
        who = ", ".join(f"{m.name}: {describe(e)}" for m, e in self.faulty.items())
        super().__init__(f"{message.event_name} for {message.session_id} not delivered to {who}")


def session_manager_config(config: NodeConfig) -> SessionManagerConfig:
    """The DeltaManager settings of `config.manager` as the session layer's `ManagerConfig`."""
    m = config.manager
    return SessionManagerConfig(
        session_timeout=m.session_timeout_minutes,
        channel_send_options=m.channel_send_options,
        state_transfer_timeout=m.state_transfer_timeout,
        send_all_sessions=m.send_all_sessions,
        send_all_sessions_size=m.send_all_sessions_size,
        send_all_sessions_wait_time=round(m.send_all_sessions_wait_time * 1000),
        state_timestamp_drop=m.state_timestamp_drop,
        notify_listeners_on_replication=m.notify_listeners_on_replication,
        notify_session_listeners_on_replication=m.notify_session_listeners_on_replication,
        expire_sessions_on_shutdown=m.expire_sessions_on_shutdown,
        record_all_actions=m.record_all_actions,
        catch_up_push=m.catch_up_push,
        jvm_route=m.jvm_route,
        max_active_sessions=m.max_active_sessions,
        persist_authentication_notes=m.persist_authentication_notes,
    )


@dataclass(slots=True)
class _Serving:
    """A GET_ALL_SESSIONS we answer (for the `state_transfer_served` log line)."""

    started: float
    sessions: int | None = None
    pages: int = 0
    bytes: int = 0


class Cluster:
    """A running node and its session managers; see the module docstring (use `open_cluster`)."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        expire_interval: float | None = None,
        manager_config: SessionManagerConfig | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.config = config
        self._node: Node | None = None
        self._clock = clock
        #: The manager name prefix: "<host>" when the Cluster sits in the Engine, else None.
        self.host: str | None = config.manager.host if config.manager.prefix_host else None
        self.sessions = SessionReplicator(
            self._send,
            self.members,
            tomcat_version=config.tomcat_version,
            host=self.host,
            config=manager_config or session_manager_config(config),
            clock=clock,
            expire_interval=expire_interval or config.manager.expire_interval,
            peer_version=self._peer_version,
        )
        self._serving: dict[tuple[str, tuple[bytes, int, bytes]], _Serving] = {}
        ms = config.membership
        self._rejoins = RejoinTracker()
        #: How long a member can be cut off before we notice (static expiry after the last
        #: PING, up to a heartbeat later): sessions created that long before it disappeared
        #: count as "created while it was away" for the push.
        self._detection_ms = round((ms.expiration_time + ms.ping_interval + ms.rpc_timeout) * 1000)

    # --- queries -------------------------------------------------------------------------------

    @property
    def node(self) -> Node:
        if self._node is None:
            raise RuntimeError("the cluster's node is not running")
        return self._node

    def members(self) -> list[Member]:
        """The other members, oldest first."""
        return self._node.members() if self._node is not None else []

    def manager(self, context_path: str) -> SessionManager:
        """The manager of a context ("/jw", "" or "/" for ROOT, or a manager name)."""
        manager = self.sessions.registry.get(manager_name(context_path, self.host))
        if manager is None:
            raise KeyError(f"no replicated context {context_path!r}")
        return manager

    @property
    def managers(self) -> Mapping[str, SessionManager]:
        """Every manager, by manager name."""
        return self.sessions.registry.managers

    # --- per request ---------------------------------------------------------------------------

    def find_session(self, context_path: str, session_id: str | None) -> Session | None:
        """The session a request names (joining it), or None if unknown or timed out."""
        return self.sessions.find_session(self.manager(context_path), session_id)

    def create_session(self, context_path: str, session_id: str | None = None) -> Session:
        """A new session; its EVT_SESSION_CREATED is on its way when this returns."""
        return self.sessions.create_session(self.manager(context_path), session_id)

    async def complete(self, session: Session) -> list[Delivery]:
        """End of a request that used `session`: its DELTA / ACCESSED is sent, and this returns
        once every message of the session was acknowledged by every member (with options 6),
        so the response can go out.  A failed delivery carries its `error` (it was logged);
        like Tomcat, the request still completes."""
        return await self.sessions.complete(session)

    async def invalidate(self, session: Session) -> list[Delivery]:
        """`session.invalidate()`: pending DELTA then EXPIRED, returns once acknowledged."""
        return await self.sessions.invalidate(session)

    async def change_session_id(self, session: Session, new_id: str | None = None) -> str:
        """Rotate the id (`HttpServletRequest.changeSessionId`): EVT_CHANGE_SESSION_ID goes to
        the members and is acknowledged when this returns; returns the new id."""
        new_id = session.manager.change_session_id(session, new_id)
        for delivery in self.sessions.flush():
            if delivery.send.lane is session:
                await delivery.done.wait()
        return new_id

    # --- node side -----------------------------------------------------------------------------

    def _attach(self, node: Node) -> None:
        self._node = node
        node.add_message_listener(self._on_message)
        node.on_member_disappeared(self._member_gone)
        node.on_member_added(self._member_added)

    # --- catch-up after a partition ------------------------------------------------------------

    def _latest(self, member: Member) -> Member:
        """`member` with the alive time last heard: the failure detector's copy lags the
        membership service's (refreshed by every PING) by up to a heartbeat."""
        heard = self.node.static.get(member)
        return member if heard is None else replace(member, alive=heard.alive)

    def _member_gone(self, member: Member) -> None:
        self._rejoins.disappeared(self._latest(member), trio.current_time())

    def _member_added(self, member: Member) -> Awaitable[None] | None:
        rejoin = self._rejoins.added(self._latest(member), trio.current_time())
        if rejoin is None:
            return None
        log_event(
            "member_rejoined",
            local=self.node.name,
            member=member.name,
            alive=rejoin.member.alive,
            previous_alive=rejoin.previous_alive,
            away_ms=round(rejoin.away * 1000),
            catch_up=str(self.config.manager.catch_up).lower(),
        )
        if not self.config.manager.catch_up:
            return None
        return self._catch_up(rejoin)  # run by the node in the background

    async def _catch_up(self, rejoin: Rejoin) -> None:
        """Every context catches up with the member, in parallel."""
        member = rejoin.member
        since = self._clock() - round(rejoin.away * 1000) - self._detection_ms
        async with trio.open_nursery() as nursery:
            for manager in list(self.sessions.registry.managers.values()):
                nursery.start_soon(self._catch_up_context, manager, member, since)

    async def _catch_up_context(self, manager: SessionManager, member: Member, since: int) -> None:
        t0 = trio.current_time()
        record = await self.sessions.catch_up(manager, member, since=since)
        if record is None:
            return
        r = record.result
        log_event(
            "session_catchup",
            local=self.node.name,
            member=member.name,
            context=manager.name,
            received=r.received,
            updated=r.updated,
            added=r.added,
            ms=round((trio.current_time() - t0) * 1000),
            state=record.state.value,
            kept=r.kept,
            same=r.same,
            expired=r.expired,
            stale=r.stale,
            pushed=record.pushed,
        )

    def _peer_version(self, member: object) -> int | None:
        if self._node is None or not isinstance(member, Member):
            return None
        return self._node.version_of(member)

    async def _on_message(self, message: object, cd: ChannelData) -> None:
        """Before the ACK: the replicator processes the message completely."""
        if not isinstance(message, SessionMessage):
            return
        get_all = message.event == Event.EVT_GET_ALL_SESSIONS
        manager = self.sessions.registry.get(message.context_name or "") if get_all else None
        await self.sessions.receive(message, cd.member)
        if manager is not None and message.context_name is not None:
            serving = _Serving(trio.current_time())
            if manager.transfer_done:  # answered now (not queued behind our own transfer)
                serving.sessions = len(manager)
            self._serving[(message.context_name, cd.member.key)] = serving

    async def _send(self, message: SessionMessage, dest: object, options: int) -> None:
        """The replicator's `send`: ALL = the current members; raises unless every one got it
        (and ACKed it, with USE_ACK)."""
        node = self.node
        if dest == ALL:
            targets = node.members()
        elif isinstance(dest, Member):
            targets = [dest]
        else:
            raise TypeError(f"not a member: {dest!r}")
        if not targets:
            return
        error: Exception | None = None
        try:
            result = await node.send(targets, message, options)
            if result.faulty:
                raise ReplicationError(message, result.faulty)
        except Exception as e:
            error = e
            raise
        finally:
            if isinstance(dest, Member):
                self._sent_to(message, dest, error)

    def _sent_to(self, message: SessionMessage, dest: Member, error: Exception | None) -> None:
        """Log lines for the state-transfer answers we send."""
        event = message.event
        ctx = message.context_name or ""
        if event == Event.EVT_ALL_SESSION_NOCONTEXTMANAGER:
            log_event(
                "nocontextmanager_sent",
                level=logging.WARNING,
                local=self.node.name,
                context=ctx,
                member=dest.name,
                error=describe(error) if error is not None else None,
            )
            return
        if event not in (Event.EVT_ALL_SESSION_DATA, Event.EVT_ALL_SESSION_TRANSFERCOMPLETE):
            return
        if (message.unique_id or "").startswith(PUSH_ID):
            return  # a catch-up push, counted in its session_catchup line
        key = (ctx, dest.key)
        serving = self._serving.get(key)
        if serving is None:
            serving = self._serving[key] = _Serving(trio.current_time())
        if serving.sessions is None:
            manager = self.sessions.registry.get(ctx)
            serving.sessions = len(manager) if manager is not None else 0
        if event == Event.EVT_ALL_SESSION_DATA:
            serving.pages += 1
            serving.bytes += len(message.payload or b"")
            if error is None:
                return
        del self._serving[key]
        log_event(
            "state_transfer_served",
            level=logging.INFO if error is None else logging.WARNING,
            local=self.node.name,
            context=ctx,
            member=dest.name,
            sessions=serving.sessions,
            pages=serving.pages,
            bytes=serving.bytes,
            ms=round((trio.current_time() - serving.started) * 1000),
            ok=str(error is None).lower(),
            error=describe(error) if error is not None else None,
        )

    # --- life cycle ----------------------------------------------------------------------------

    async def _start(self) -> None:
        """Register and start every context at once, then wait for every transfer."""
        t0 = trio.current_time()
        members = self.members()
        master = members[0].name if members else None
        managers = [self.sessions.add_context(path) for path in self.config.manager.contexts]
        now = self._clock()
        for manager in managers:
            manager.start(now)
        self.sessions.flush()
        async with trio.open_nursery() as nursery:
            for manager in managers:
                nursery.start_soon(self._await_transfer, manager, master, t0)

    async def _await_transfer(self, manager: SessionManager, master: str | None, t0: float) -> None:
        if manager.transfer_state is TransferState.WAITING:
            # start_context: the manager is already WAITING, so this only waits
            await self.sessions.start_context(manager)
        state = manager.transfer_state
        ms = round((trio.current_time() - t0) * 1000)
        if state is TransferState.TIMED_OUT:
            log_event(
                "state_transfer_timeout",
                level=logging.ERROR,
                local=self.node.name,
                context=manager.name,
                timeout=manager.config.state_transfer_timeout,
                master=master,
                ms=ms,
            )
        log_event(
            "state_transfer_done",
            local=self.node.name,
            context=manager.name,
            state=state.value,
            sessions=len(manager),
            pages=manager.counters["received.EVT_ALL_SESSION_DATA"],
            ms=ms,
            master=master,
        )

    async def _stop(self) -> None:
        with trio.move_on_after(STOP_DRAIN_TIMEOUT):
            await self.sessions.stop()
        for name in list(self.sessions.registry.managers):
            self.sessions.registry.remove(name)
        self._serving.clear()


@asynccontextmanager
async def open_cluster(
    config: NodeConfig,
    *,
    setup: Callable[[Node], None] | None = None,
    expire_interval: float | None = None,
    manager_config: SessionManagerConfig | None = None,
    clock: Callable[[], int] = wall_clock_ms,
    **node_kwargs: Any,
) -> AsyncIterator[Cluster]:
    """Run a session-replicating node for the duration of the block (see the module docstring).

    `setup(node)` runs before the node starts (after our own listener is registered);
    `expire_interval` overrides `config.manager.expire_interval`, the expiry sweep period in
    seconds (Tomcat: processExpiresFrequency × backgroundProcessorDelay = 60 s);
    `manager_config` replaces the settings derived from `config.manager`
    (`session_manager_config`); `node_kwargs` go to `Node`."""
    cluster = Cluster(
        config, expire_interval=expire_interval, manager_config=manager_config, clock=clock
    )

    def node_setup(node: Node) -> None:
        cluster._attach(node)
        if setup is not None:
            setup(node)

    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.sessions.run)
        async with open_node(config, setup=node_setup, **node_kwargs):
            await cluster._start()
            yield cluster
            await cluster._stop()
        nursery.cancel_scope.cancel()


__all__ = [
    "STOP_DRAIN_TIMEOUT",
    "Cluster",
    "ReplicationError",
    "open_cluster",
    "session_manager_config",
]
