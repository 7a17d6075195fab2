"""`SessionReplicator`: the async (trio) adapter between a node and the session managers.

It needs exactly two things from the node, passed in as callables:

* ``await send(message, dest, options)``: send one SessionMessage to ``dest`` (`ALL` = every
  current member, or one member object as the node gave it) with these ChannelData options,
  returning when it was acknowledged (options with USE_ACK) or written; raising on failure.
* ``members()``: the current members, **oldest first** (the first one is asked for the state).

and the node awaits `receive(message, sender)` for every SessionMessage it receives (or calls
the synchronous `on_message`); either finishes the processing (so an ALL_SESSION_DATA is
applied before the node sends its SYNC_ACK), while replies go out in the background.

State transfers never hold the event loop for long: the pages we answer with are encoded in
their lane in steps (`Send.fill`), and `receive` decodes a large ALL_SESSION_DATA in a worker
thread and installs it in steps, yielding to the loop in between.

Messages are sent in lanes: all messages of one session go out one after the other, each
after the previous one was acknowledged (so a DELTA can never overtake its CREATED); other
sessions' lanes run in parallel. A web request ends with ``await replicator.complete(session)``,
which returns once this session's messages were acknowledged (Tomcat holds the response until
then with `channelSendOptions=6`). When nobody else is sending from the session's lane,
`complete` sends them itself, in the request's task (as Tomcat's request thread does); the
background lane tasks carry everything else (a CREATED nobody completes, replies, EXPIRED).

Run it inside a nursery: ``await nursery.start(replicator.run)``; `run` also drives the expiry
sweep (every `expire_interval` seconds) and the manager deadlines.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from ..messages.session import Event, SessionMessage
from .config import ManagerConfig, Send, TransferState, wall_clock_ms
from .manager import CatchUp, SessionManager, decode_session_data
from .registry import SessionRegistry
from .session import Session

log = logging.getLogger(__name__)

SendFn = Callable[[SessionMessage, object, int], Awaitable[object]]
MembersFn = Callable[[], Sequence[object]]


@dataclass(slots=True, eq=False)
class Delivery:
    """One `Send` on its way; `done` is set once it was sent (or failed: `error`)."""

    send: Send
    error: BaseException | None = None
    done: trio.Event = field(default_factory=trio.Event)

    @property
    def ok(self) -> bool:
        return self.done.is_set() and self.error is None


class _Lane(deque[Delivery]):
    """The deliveries of one lane, oldest first; `busy` while a task sends from it (the others
    only queue behind)."""

    __slots__ = ("busy",)

    def __init__(self) -> None:
        super().__init__()
        self.busy = False


#: An EVT_ALL_SESSION_DATA payload at least this large is decoded in a worker thread
#: (`SessionReplicator.receive`; ~7 ms of CPU per 100 KB).
THREAD_DECODE_BYTES = 64 << 10

#: `SessionReplicator._armed` while the timer task is not sleeping (it re-reads the deadlines).
_AWAKE = -math.inf


class SessionReplicator:
    """See the module docstring."""

    def __init__(
        self,
        send: SendFn,
        members: MembersFn,
        *,
        tomcat_version: int,
        host: str | None = "localhost",
        config: ManagerConfig | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        expire_interval: float = 60.0,
        peer_version: Callable[[Any], int | None] | None = None,
    ) -> None:
        self.registry = SessionRegistry(
            tomcat_version=tomcat_version,
            members=members,
            clock=clock,
            host=host,
            config=config,
            peer_version=peer_version,
            defer_pages=True,
        )
        self._send = send
        self._clock = clock
        self.expire_interval = expire_interval
        self._lanes: dict[object, _Lane] = {}
        self._nursery: trio.Nursery | None = None
        #: Set when a message arrived (or `stop`), for `start_context` / `catch_up`: `_waiters`.
        self._changed = trio.Event()
        self._waiters = 0
        #: The timer sleeps until `_armed` (ms) or until `_wake` is set: by `flush`, only for
        #: an earlier deadline (so not per message).
        self._armed: float = _AWAKE
        self._wake = trio.Event()

    # --- setup ---------------------------------------------------------------------------------

    def add_context(
        self, path: str, *, config: ManagerConfig | None = None, **settings: Any
    ) -> SessionManager:
        return self.registry.add_context(path, config=config, **settings)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled: send lanes, manager deadlines, the expiry sweep."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for key, lane in self._lanes.items():
                nursery.start_soon(self._run_lane, key, lane)
            task_status.started()
            try:
                await self._timer()
            finally:
                self._nursery = None

    async def start_context(self, manager: SessionManager) -> TransferState:
        """DeltaManager.startInternal: fetch the sessions from the oldest member, waiting
        (`state_transfer_timeout`) until they arrived; returns how it ended."""
        self._require_running()
        manager.start(self._clock())
        self.flush()
        while not manager.transfer_done:
            deadline = manager.next_deadline()
            timeout = math.inf if deadline is None else max(0, deadline - self._clock()) / 1000
            await self._wait_changed(timeout)
            manager.poll(self._clock())
            self.flush()
        return manager.transfer_state

    async def catch_up(
        self, manager: SessionManager, member: object, *, since: int | None = None
    ) -> CatchUp | None:
        """`manager.catch_up(member)`: ask a member that rejoined after a partition for its
        sessions and merge them; returns once its TRANSFERCOMPLETE / NOCONTEXTMANAGER arrived
        or the timeout passed (None: our own start-up transfer is still running). Requests
        are never held by it."""
        self._require_running()
        record = manager.catch_up(member, self._clock(), since=since)
        self.flush()
        if record is None:
            return None
        while not record.done:
            await self._wait_changed(max(0, record.deadline + 1 - self._clock()) / 1000)
            manager.poll(self._clock())
            self.flush()
        return record

    # --- node side -----------------------------------------------------------------------------

    def on_message(self, message: object, sender: object) -> bool:
        """Process a received message; False if it is not a SessionMessage."""
        if not isinstance(message, SessionMessage):
            return False
        self.registry.receive(message, sender, self._clock())
        self.flush()
        self._notify_waiters()
        return True

    async def receive(self, message: object, sender: object) -> bool:
        """`on_message`, but without blocking the event loop for long: a large
        EVT_ALL_SESSION_DATA is decoded in a worker thread (a pure function of the bytes; the
        loop keeps running meanwhile, GIL permitting) and applied in steps with a yield to the
        loop between them. Returns once the message was processed (then the node ACKs it)."""
        if (
            not isinstance(message, SessionMessage)
            or message.event != Event.EVT_ALL_SESSION_DATA
            or message.payload is None
            or len(message.payload) < THREAD_DECODE_BYTES
            or message.context_name is None  # for every manager
        ):
            return self.on_message(message, sender)
        manager = self.registry.get(message.context_name)
        if manager is None:
            return self.on_message(message, sender)
        try:
            states = await trio.to_thread.run_sync(decode_session_data, message.payload)
        except Exception:
            return self.on_message(message, sender)  # fails again, reported as usual
        for _ in manager.receive_session_data(message, states, sender, self._clock()):
            await trio.sleep(0)
        self.flush()
        self._notify_waiters()
        return True

    # --- web side ------------------------------------------------------------------------------

    def find_session(self, manager: SessionManager, session_id: str | None) -> Session | None:
        """`manager.find_session` (the request joins the session); what it produced (an
        EVT_SESSION_EXPIRED of a timed-out session, a jvmRoute id change) leaves at once."""
        session = manager.find_session(session_id, self._clock())
        self.flush()
        return session

    def create_session(self, manager: SessionManager, session_id: str | None = None) -> Session:
        """`manager.create_session`; its EVT_SESSION_CREATED leaves at once (in the session's
        lane, so the request's DELTA follows it)."""
        session = manager.create_session(self._clock(), session_id=session_id)
        self.flush()
        return session

    async def complete(self, session: Session, now: int | None = None) -> list[Delivery]:
        """End of a request that used `session`: queue its DELTA / ACCESSED (see
        `SessionManager.request_completed`), send everything pending and wait until every
        message of this session still on its way (its CREATED too) was acknowledged. Returns
        those deliveries; failed ones carry their `error`. The session's messages are sent
        here, in the caller's task (no task switch), unless a task is already sending them."""
        self._require_running()
        session.manager.request_completed(session, now)
        lane = self._lanes.get(session)
        if lane is None:  # created before `flush` so that `_dispatch` starts no task for it
            lane = self._lanes[session] = _Lane()
        inline = not lane.busy  # else another task sends from it: queue behind it and wait
        lane.busy = True
        self.flush()
        mine = list(lane)  # this request's messages (and a CREATED whose task did not start)
        if not inline:
            for delivery in mine:
                await delivery.done.wait()
            return mine
        try:
            await self._send_from(lane, len(mine), inline=True)
        finally:
            lane.busy = False
            if lane and self._nursery is not None:  # queued behind us meanwhile, or cancelled
                self._nursery.start_soon(self._run_lane, session, lane)
            self._forget_if_empty(session, lane)
        return mine

    async def invalidate(self, session: Session, now: int | None = None) -> list[Delivery]:
        """`session.invalidate()` then wait for its DELTA / EXPIRED to be acknowledged."""
        session.invalidate(now)
        return await self.complete(session, now)

    def flush(self) -> list[Delivery]:
        """Hand every queued message to its lane (in the background); returns them."""
        deliveries = [self._dispatch(send) for send in self.registry.take_outgoing()]
        deadline = self.registry.next_deadline()
        if deadline is not None and deadline < self._armed:
            self._armed = _AWAKE
            self._wake.set()
        return deliveries

    async def drain(self) -> None:
        """Wait until every lane is empty."""
        self._require_running()
        while self._lanes:
            lane = next(iter(self._lanes.values()))
            await lane[-1].done.wait()

    async def stop(self, now: int | None = None) -> None:
        """Stop every manager (EXPIRED only with `expire_sessions_on_shutdown`), send what that
        produced, and wait for it."""
        self.registry.stop(now)
        self.flush()
        self._notify_waiters()  # a transfer still waiting ended
        await self.drain()

    # --- internals -----------------------------------------------------------------------------

    def _require_running(self) -> None:
        if self._nursery is None:
            raise RuntimeError("the replicator is not running: await nursery.start(replicator.run)")

    def _notify_waiters(self) -> None:
        if self._waiters:
            self._changed.set()
            self._changed = trio.Event()

    async def _wait_changed(self, timeout: float) -> None:
        """Until a message arrived (`on_message`) or `timeout` seconds passed."""
        changed = self._changed
        self._waiters += 1
        try:
            with trio.move_on_after(timeout):
                await changed.wait()
        finally:
            self._waiters -= 1

    def _dispatch(self, send: Send) -> Delivery:
        delivery = Delivery(send)
        key = send.lane if send.lane is not None else object()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
            if self._nursery is not None:
                self._nursery.start_soon(self._run_lane, key, lane)
        lane.append(delivery)
        return delivery

    def _forget_if_empty(self, key: object, lane: _Lane) -> None:
        if not lane and self._lanes.get(key) is lane:
            del self._lanes[key]

    async def _run_lane(self, key: object, lane: _Lane) -> None:
        """The lane's background sender: until it is empty (cancelled: the rest waits for the
        next `run`)."""
        if lane.busy or self._lanes.get(key) is not lane:
            return  # another task sends from it, or it was sent already
        lane.busy = True
        try:
            while lane:
                await self._send_from(lane, len(lane), inline=False)
        finally:
            lane.busy = False
            self._forget_if_empty(key, lane)

    async def _send_from(self, lane: _Lane, count: int, *, inline: bool) -> None:
        """Send the first `count` deliveries of `lane`, one after the other; each is marked
        done (failed: `error`, logged) and leaves the lane.

        Cancelled: in a lane task, the delivery fails with the cancellation; `inline` (in a
        request's task, which its caller then hands to a lane task), it stays first in the
        lane and is sent again: a message cut short would be lost for good, a complete one is
        at worst received twice, as Tomcat's resend after a failure can."""
        for _ in range(count):
            delivery = lane[0]
            send = delivery.send
            done = True
            try:
                if send.delay_ms > 0:
                    await trio.sleep(send.delay_ms / 1000)
                if send.fill is not None:  # a state-transfer page: encoded here, in steps
                    for _ in send.fill:
                        await trio.sleep(0)
                await self._send(send.message, send.dest, send.options)
            except Exception as exc:
                delivery.error = exc
                log.warning(
                    "cannot send %s for %s to %r: %r",
                    send.message.event_name,
                    send.message.session_id,
                    send.dest,
                    exc,
                )
            except BaseException as exc:
                done = not inline
                if done:
                    delivery.error = exc
                raise
            finally:
                if done:
                    lane.popleft()
                    delivery.done.set()

    async def _timer(self) -> None:
        next_sweep = self._clock() + int(self.expire_interval * 1000)
        while True:
            deadline = self.registry.next_deadline()
            wake = next_sweep if deadline is None else min(next_sweep, deadline)
            self._wake = woken = trio.Event()
            self._armed = wake
            try:
                with trio.move_on_after(max(0, wake - self._clock()) / 1000):
                    await woken.wait()
            finally:
                self._armed = _AWAKE
            now = self._clock()
            self.registry.poll(now)
            if now >= next_sweep:
                self.registry.process_expires(now)
                next_sweep = now + int(self.expire_interval * 1000)
            self.flush()
