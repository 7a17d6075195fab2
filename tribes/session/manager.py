"""`SessionManager`: Tomcat's DeltaManager for one context, sans-io.

Nothing here touches a socket or sleeps. Time is a parameter (`now`, epoch ms; None = the
manager's clock), the current members come from the `members()` callable given at
construction (oldest first, as the node orders them), and every message to send is appended
to an outbox drained with `take_outgoing()` as `Send(message, dest, options, lane, delay_ms)`.

Request cycle (what Tomcat's Request, ReplicationValve and Request.recycle do)::

    session = manager.find_session(requested_id, now)   # or manager.create_session(now)
    session.set("cart", [...])                           # recorded in the pending delta
    manager.request_completed(session, now)              # EVT_SESSION_DELTA / _ACCESSED
    sends = manager.take_outgoing()                      # send them; wait for the acks

Inbound: `receive(message, sender, now)` for every SessionMessage of this context.
Start-up: `start(now)` asks the oldest member for the state; `poll(now)` by `next_deadline()`.

Documented differences from DeltaManager (all about robustness, none visible to Tomcat):

* a DELTA or CHANGE_SESSION_ID for an unknown session is kept for `orphan_window_ms` and
  applied when the session's CREATED / state arrives (Tomcat drops it); an EXPIRED id is
  remembered as long, so a late CREATED or DELTA cannot resurrect it. `orphan_window_ms=0`
  restores Tomcat's behaviour;
* a CREATED repeating the creation time of the existing session is a retry and is ignored
  (Tomcat would replace the session by an empty one, losing the deltas applied since);
* a GET_ALL_SESSIONS queued during our own state transfer is answered once it ends (Tomcat
  drops it with `stateTimestampDrop`, and the asking node then waits `stateTransferTimeout`);
* a DELTA action with a value of the wrong type is skipped with a warning instead of
  aborting the rest of the delta;
* a backup's lastAccessedTime is the primary's time of the last change it applied (the
  timestamp of CREATED / DELTA / ACCESSED, never going backwards), not its receive time
  (Tomcat's endAccess at the receiver): copies compare by when they changed (thisAccessedTime,
  which the idle time and expiry use, is still the local receive time).

Catch-up after a partition (ours; Tomcat only transfers state at start-up). When a member that
kept running comes back after it had disappeared, the node calls `catch_up(member, now,
since=...)`: EVT_GET_ALL_SESSIONS (options 8) goes to that member, nothing is queued, requests
go on, and its EVT_ALL_SESSION_DATA pages are **merged** (`merge_sessions`), not loaded:

* per session the copy with the newer `lastAccessedTime` wins (tie: `thisAccessedTime`; tie
  again: ours). A session with the same content on both sides is left alone; our copy is also
  kept while a request holds unreplicated changes on it. A newer copy is applied to our
  session object in place (attribute listeners fire as for a replicated DELTA);
* a session we do not have is added as a backup, unless its id expired, was invalidated or
  changed its id here in the last `expired_id_memory_ms` (then EVT_SESSION_EXPIRED goes back
  to the member, so the invalidation reaches it too) or it has already timed out;
* our sessions the member does not have are kept.

The catch-up ends with the member's TRANSFERCOMPLETE (`CatchUpState.MERGED`), its
NOCONTEXTMANAGER, or `state_transfer_timeout` (60 s if that is not positive). After a merge,
with `catch_up_push`, the sessions where our copy won and the ones created (or renamed) here
since the member went away (`since`) are sent to it as one unsolicited EVT_ALL_SESSION_DATA
(options 6, uniqueId ``SESSION-STATE-PUSH-<name>``): a Tomcat DeltaManager loads it like a
state-transfer page (replacing its copies), a pytribes manager merges it. Every
ALL_SESSION_DATA that arrives outside our own start-up transfer takes the merge path; during
the start-up transfer it replaces, as in Tomcat. Both sides of a healed partition run this
(each pulls from the other), so they converge on the newest copy of every session. Copies are
compared by wall-clock times taken on different nodes: clocks must agree better than the time
between two requests of one user.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from ..errors import TribesError
from ..jserial import JBoolean, JInteger, dumps
from ..messages.session import (
    ACTION_REMOVE,
    ACTION_SET,
    NOTE_SESSION_ID,
    TYPE_ATTRIBUTE,
    TYPE_AUTHTYPE,
    TYPE_ISNEW,
    TYPE_LISTENER,
    TYPE_MAXINTERVAL,
    TYPE_NOTE,
    TYPE_PRINCIPAL,
    DeltaRequest,
    Event,
    Principal,
    SessionMessage,
    SessionsEncoder,
    SessionState,
    decode_new_id,
    decode_sessions,
    encode_new_id,
    encode_sessions,
    event_name,
)
from .config import (
    ALL,
    OPTIONS_ASYNCHRONOUS,
    OPTIONS_SYNC_ACK,
    CatchUpState,
    ManagerConfig,
    Send,
    TransferState,
    wall_clock_ms,
)
from .listeners import SessionListener
from .session import EXCLUDED_ATTRIBUTES, Session

log = logging.getLogger(__name__)

#: Events DeltaManager.messageDataReceived queues while its own state transfer runs.
QUEUED_EVENTS = frozenset(
    {
        Event.EVT_GET_ALL_SESSIONS,
        Event.EVT_SESSION_CREATED,
        Event.EVT_SESSION_EXPIRED,
        Event.EVT_SESSION_ACCESSED,
        Event.EVT_SESSION_DELTA,
        Event.EVT_CHANGE_SESSION_ID,
    }
)

#: Sessions encoded / installed per step of a state transfer (an event loop runs in between).
FILL_STEP = 1000

#: The fixed sessionID / uniqueId strings of the state-transfer messages (TRIBES.md §8.3).
GET_ALL_ID = "GET-ALL"
SESSION_STATE_ID = "SESSION-STATE"
TRANSFERRED_ID = "SESSION-STATE-TRANSFERRED"
#: The uniqueId prefix of the ALL_SESSION_DATA pages a catch-up pushes ("-<name>" follows).
#: Tomcat never reads it; pytribes tells a push from a state-transfer page by it.
PUSH_ID = "SESSION-STATE-PUSH"
#: At most this many expired ids are remembered for the catch-up merge (oldest forgotten first).
MAX_EXPIRED_IDS = 100_000


def member_key(member: object) -> object:
    """How the manager matches members: `Member.key` (host, port, uniqueId) when the object has
    one (the address of a reply carries another alive time), else the object itself."""
    return getattr(member, "key", member)


@dataclass(slots=True)
class MergeResult:
    """What merging a member's full sessions did (`SessionManager.merge_sessions`)."""

    #: Sessions received, and in how many EVT_ALL_SESSION_DATA pages.
    received: int = 0
    pages: int = 0
    #: Our copy was older: the member's was applied to it.
    updated: int = 0
    #: We did not have it: added as a backup.
    added: int = 0
    #: Our copy was as new or newer (or a request holds unreplicated changes on it): kept.
    kept: int = 0
    #: The same content on both sides (times aside): nothing to do.
    same: int = 0
    #: Expired / invalidated / renamed here meanwhile: not added, EVT_SESSION_EXPIRED sent back.
    expired: int = 0
    #: Timed out already (idle for its maxInactiveInterval): not added.
    stale: int = 0
    #: The ids the member holds, and those among them where our (different) copy was kept.
    theirs: set[str] = field(default_factory=set, repr=False)
    ours_newer: set[str] = field(default_factory=set, repr=False)


@dataclass(slots=True, eq=False)
class CatchUp:
    """One catch-up with a member (`SessionManager.catch_up`); times are epoch ms."""

    member: object
    started: int
    deadline: int
    #: When the member went away (minus the detection delay): sessions created or renamed here
    #: since then are pushed to it even though it does not know them. None: none are.
    since: int | None = None
    state: CatchUpState = CatchUpState.WAITING
    finished: int | None = None
    result: MergeResult = field(default_factory=MergeResult)
    #: Sessions pushed to the member after the merge.
    pushed: int = 0

    @property
    def done(self) -> bool:
        return self.state is not CatchUpState.WAITING

    @property
    def ms(self) -> int | None:
        return None if self.finished is None else self.finished - self.started


def _serializable(value: object) -> bool:
    try:
        dumps(value)
    except Exception:
        return False
    return True


def _serializable_state(state: SessionState, layout: int) -> bool:
    try:
        encode_sessions([state], layout)
    except Exception:
        return False
    return True


@contextmanager
def _bulk() -> Iterator[None]:
    """Cyclic GC paused around a bulk encode / decode of full sessions: what it allocates has
    no garbage cycles, but its allocations trigger collections that traverse the whole growing
    heap again and again (~40 % of a 100,000-session transfer). The first collection after it
    traverses the new objects once.

    Not `gc.freeze()` after it: the freeze is process-wide (it would keep any garbage cycle of
    the application alive forever), and full collections are amortized already (CPython runs
    one only once the long-lived objects grew by 25 %)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode_session_data(payload: bytes) -> list[SessionState]:
    """The sessions of an ALL_SESSION_DATA payload (GC paused, see `_bulk`): a pure function
    of the bytes, which an adapter may run in a worker thread."""
    with _bulk():
        return decode_sessions(payload)


def _changed_at(message: SessionMessage, now: int) -> int:
    """When the primary made the change a CREATED / DELTA / ACCESSED carries: its timestamp
    (Tomcat sets it: creation time, or `now` at the end of the request); `now` without one.
    A backup takes it as lastAccessedTime instead of its receive time, so that the copies of
    one session compare by when they were changed, wherever (the catch-up merge), and a
    message delivered late (TCP resends it when a cut link comes back) does not make an old
    copy look new."""
    if message.timestamp_set and message.timestamp > 0:
        return message.timestamp
    return now


def _timed_out(state: SessionState, now: int) -> bool:
    """The copy has been idle for its whole maxInactiveInterval (its primary expires it)."""
    max_idle = state.max_inactive_interval
    return max_idle > 0 and now - state.this_accessed_time >= max_idle * 1000


def _principal_key(principal: object, layout: int) -> object:
    """A GenericPrincipal by what it says (name, roles, password); one we built and one we
    received carry different class descriptors. Any other principal by its bytes."""
    p = principal if isinstance(principal, Principal) else Principal.from_java(principal)
    if p is not None:
        return (p.name, tuple(sorted(p.roles)), p.password if layout == 9 else None)
    return None if principal is None else dumps(principal)


def _equal(a: object, b: object) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def _same_value(a: object, b: object) -> bool:
    """Equal Java values: equal Python values of one type, or the same serialized bytes."""
    if _equal(a, b):
        return True
    try:
        return dumps(a) == dumps(b)
    except Exception:
        return False


class TooManyActiveSessions(TribesError):
    """`maxActiveSessions` reached (TooManyActiveSessionsException)."""


def _no_members() -> Sequence[object]:
    return ()


def wire_line(tomcat_version: int) -> int:
    """9 for Tomcat 9.0, 10 for 10.1 and later (the two on-the-wire layouts)."""
    if tomcat_version < 9:
        raise ValueError(f"unsupported Tomcat version {tomcat_version}")
    return 9 if tomcat_version == 9 else 10


class SessionManager:
    """DeltaManager for one context; see the module docstring."""

    def __init__(
        self,
        context_name: str,
        *,
        tomcat_version: int,
        config: ManagerConfig | None = None,
        members: Callable[[], Sequence[object]] = _no_members,
        clock: Callable[[], int] = wall_clock_ms,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        peer_version: Callable[[Any], int | None] | None = None,
        **settings: Any,
    ) -> None:
        cfg = config or ManagerConfig()
        if settings:
            cfg = dataclasses.replace(cfg, **settings)
        self.name = context_name
        self.tomcat_version = tomcat_version
        #: 9 or 10: which DeltaSession record layout and SerializablePrincipal we write.
        self.wire_version = wire_line(tomcat_version)
        self.config = cfg
        self.replicate_notes = (
            cfg.persist_authentication_notes
            if cfg.persist_authentication_notes is not None
            else self.wire_version >= 10
        )
        self.join_marks_not_new = (
            cfg.join_marks_not_new
            if cfg.join_marks_not_new is not None
            else self.wire_version >= 10
        )
        self._members = members
        self._clock = clock
        self._random_bytes = random_bytes
        #: The Tomcat major version of a member, when the node knows it: full sessions are
        #: written in the asking member's layout (None / unknown: our own `tomcat_version`).
        self._peer_version = peer_version
        self._sessions: dict[str, Session] = {}
        self._listeners: list[SessionListener] = []
        self._outbox: list[Send] = []
        #: Leave the ALL_SESSION_DATA pages we answer with to be encoded by whoever sends them
        #: (`Send.fill`, run in steps by an event-loop adapter); False: encoded when asked.
        self.defer_pages = False
        #: "sent.EVT_*", "received.EVT_*", "dropped.<why>", "errors", ... (statistics).
        self.counters: Counter[str] = Counter()

        self.transfer_state = TransferState.NOT_STARTED
        self._receiver_queue = False
        self._queue: list[tuple[SessionMessage, object]] = []
        #: stateTransferCreateSendTime: our GET_ALL time, then the master's snapshot time.
        self._state_time = 0
        self._transfer_deadline: int | None = None

        self._orphans: dict[str, list[tuple[int, SessionMessage, object]]] = {}
        self._orphan_count = 0
        #: Recently expired ids -> (newest creation time a CREATED may not repeat, local time).
        #: For a session we held: its creation time; for an EXPIRED that came first: its time.
        self._tombstones: dict[str, tuple[int, int]] = {}
        #: Ids that expired / were invalidated / renamed away here -> local time (catch-up merge).
        self._expired_ids: dict[str, int] = {}
        #: Catch-ups waiting for their member's TRANSFERCOMPLETE, by `member_key`.
        self._catch_ups: dict[object, CatchUp] = {}

    def __repr__(self) -> str:
        return f"<SessionManager {self.name!r} {len(self._sessions)} sessions>"

    # --- sessions -------------------------------------------------------------------------------

    @property
    def sessions(self) -> Mapping[str, Session]:
        return MappingProxyType(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)

    def __bool__(self) -> bool:
        return True  # a manager without sessions is still a manager

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def find(self, session_id: str) -> Session | None:
        """The session with that id, with no side effect (ManagerBase.findSession)."""
        return self._sessions.get(session_id)

    def now(self, now: int | None = None) -> int:
        return self._clock() if now is None else now

    def members(self) -> Sequence[object]:
        return self._members()

    def add_listener(self, listener: SessionListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: SessionListener) -> None:
        self._listeners.remove(listener)

    def fire(self, event: str, *args: object) -> None:
        """Call `event` on every listener (reverse order for session_destroyed, as Tomcat)."""
        if not self._listeners:  # (the usual case, on every attribute change)
            return
        listeners = self._listeners[::-1] if event == "session_destroyed" else self._listeners
        for listener in list(listeners):
            try:
                getattr(listener, event)(*args)
            except Exception:
                log.exception("%s: session listener %r failed in %s", self.name, listener, event)

    def generate_session_id(self) -> str:
        """32 upper-case hex digits from 16 random bytes, plus ".jvmRoute" when configured."""
        while True:
            sid = self._random_bytes(16).hex().upper()
            if self.config.jvm_route:
                sid = f"{sid}.{self.config.jvm_route}"
            if sid not in self._sessions:
                return sid

    def create_session(self, now: int | None = None, *, session_id: str | None = None) -> Session:
        """ManagerBase.createSession + DeltaManager.sendCreateSession + the request's access():
        ISNEW=true and MAXINTERVAL are recorded, EVT_SESSION_CREATED is queued (members only)."""
        now = self.now(now)
        limit = self.config.max_active_sessions
        if limit >= 0 and len(self._sessions) >= limit:
            self.counters["rejected"] += 1
            raise TooManyActiveSessions(f"{self.name}: maxActiveSessions {limit} reached")
        session = Session(self, now)
        session._set_new(True, record=True)
        session._valid = True
        session._set_creation_time(now)
        session._set_max_inactive_interval(self.config.session_timeout * 60, record=True)
        self._add(session, session_id or self.generate_session_id(), notify=True)
        if self._members():
            msg = self._message(
                Event.EVT_SESSION_CREATED, session.id, f"{session.id}-{now}", session.creation_time
            )
            self._send_all(msg, session)
        session._access(now)
        return session

    def find_session(self, session_id: str | None, now: int | None = None) -> Session | None:
        """The session a request asks for (Request.doGetSession joining it): None if unknown or
        timed out (a timed-out primary expires now, with EVT_SESSION_EXPIRED). With a
        `jvm_route`, an id of another route is first rebound (JvmRouteBinderValve)."""
        if session_id is None:
            return None
        now = self.now(now)
        route = self.config.jvm_route
        if route and "." in session_id:
            base, old_route = session_id.split(".", 1)
            if old_route != route:
                new_id = f"{base}.{route}"
                moved = self._sessions.get(session_id)
                if moved is not None:
                    self.change_session_id(moved, new_id, now)
                    if moved.get_note(NOTE_SESSION_ID) == session_id:
                        moved.set_note(NOTE_SESSION_ID, new_id)
                session_id = new_id
        session = self._sessions.get(session_id)
        if session is None or not self.check_valid(session, now):
            return None
        session._access(now)
        if self.join_marks_not_new:
            session._set_new(False, record=True)
        return session

    def check_valid(self, session: Session, now: int | None = None) -> bool:
        """DeltaSession.isValid(): expire a timed-out session now. A primary times out after
        maxInactiveInterval (EVT_SESSION_EXPIRED), a backup silently after twice that."""
        if not session._valid:
            return False
        if session._expiring:
            return True
        if self.config.activity_check and session._access_count > 0:
            return True
        max_idle = session.max_inactive_interval
        if max_idle > 0:
            now = self.now(now)
            idle = session.idle_time(now) // 1000
            if session._primary:
                if idle >= max_idle:
                    self._expire(session, now, notify=True, notify_cluster=True)
            elif idle >= 2 * max_idle:
                self._expire(session, now, notify=True, notify_cluster=False)
        return session._valid

    def process_expires(self, now: int | None = None) -> int:
        """The background expiry sweep (ManagerBase.processExpires); returns how many expired."""
        now = self.now(now)
        expired = 0
        for session in list(self._sessions.values()):
            if not self.check_valid(session, now):
                expired += 1
        return expired

    def expire(self, session: Session, now: int | None = None) -> None:
        """`session.expire()` / `invalidate()` on this node: the pending delta first, then
        local expiry with listeners, then EVT_SESSION_EXPIRED (members only)."""
        self._expire(session, self.now(now), notify=True, notify_cluster=True)

    def change_session_id(
        self, session: Session, new_id: str | None = None, now: int | None = None
    ) -> str:
        """changeSessionId / rotateSessionId (new_id None): local change, listeners, then
        EVT_CHANGE_SESSION_ID carrying the old id; pending changes follow in the new id's delta."""
        now = self.now(now)
        if new_id is None:
            new_id = self.generate_session_id()
        old_id = session.id
        self._rename(session, new_id, now, notify=True)
        if self._members():
            msg = self._message(
                Event.EVT_CHANGE_SESSION_ID, old_id, f"{old_id}-{now}", now, encode_new_id(new_id)
            )
            self._send_all(msg, session)
        return new_id

    def request_completed(self, session: Session | str | None, now: int | None = None) -> None:
        """End of a request that used `session` (ReplicationValve + Request.recycle): queue
        EVT_SESSION_DELTA if it changed, else EVT_SESSION_ACCESSED when due; then endAccess().
        Without members, the pending changes are discarded and the session becomes primary."""
        if session is None:
            return
        now = self.now(now)
        if isinstance(session, str):
            found = self._sessions.get(session)
            if found is None:
                return
            session = found
        if self._members():
            msg = self._completion_message(session, now, expires=False)
            if msg is not None:
                self._send_all(msg, session)
        elif self._sessions.get(session.id) is session and session._valid:
            session._reset_delta()
            session._primary = True
        session._end_access(now)

    def stop(self, now: int | None = None) -> None:
        """DeltaManager.stopInternal: expire every session locally (listeners fire);
        EVT_SESSION_EXPIRED only with `expire_sessions_on_shutdown`."""
        now = self.now(now)
        for session in list(self._sessions.values()):
            if session._valid:
                self._expire(
                    session,
                    now,
                    notify=True,
                    notify_cluster=self.config.expire_sessions_on_shutdown,
                )
        if self.transfer_state is TransferState.WAITING:
            self._finish_transfer(TransferState.TIMED_OUT, now)

    def take_outgoing(self) -> list[Send]:
        """Every message queued since the last call, in order."""
        out, self._outbox = self._outbox, []
        return out

    # --- state transfer (requester) ---------------------------------------------------------------

    @property
    def transfer_done(self) -> bool:
        return self.transfer_state not in (TransferState.NOT_STARTED, TransferState.WAITING)

    def start(self, now: int | None = None) -> None:
        """getAllClusterSessions: EVT_GET_ALL_SESSIONS (options 8) to the oldest member and
        queue session events until TRANSFERCOMPLETE / NOCONTEXTMANAGER / the timeout."""
        if self.transfer_state is TransferState.WAITING:
            return
        now = self.now(now)
        members = self._members()
        if not members:
            log.info("%s: no members, no session state to fetch", self.name)
            self.transfer_state = TransferState.NO_MEMBERS
            return
        master = members[0]
        msg = self._message(Event.EVT_GET_ALL_SESSIONS, GET_ALL_ID, f"GET-ALL-{self.name}", now)
        self._state_time = now
        self._receiver_queue = True
        self._queue = []
        self._emit(Send(msg, master, OPTIONS_ASYNCHRONOUS, lane=object()))
        timeout = self.config.state_transfer_timeout
        if timeout > 0 or timeout == -1:
            self.transfer_state = TransferState.WAITING
            self._transfer_deadline = now + timeout * 1000 if timeout > 0 else None
        else:
            self._finish_transfer(TransferState.NOT_WAITED, now)

    def next_deadline(self) -> int | None:
        """The time `poll` has something to do (transfer timeout, orphans/tombstones to forget)."""
        if self._transfer_deadline is None and not (
            self._orphans or self._tombstones or self._catch_ups
        ):
            return None  # the usual case, asked per message: nothing scheduled
        deadlines = []
        if self.transfer_state is TransferState.WAITING and self._transfer_deadline is not None:
            deadlines.append(self._transfer_deadline + 1)  # Tomcat: "> timeout"
        window = self.config.orphan_window_ms
        # both are in arrival order: the first entry is the oldest
        oldest_orphan = next(iter(self._orphans.values()), None)
        if oldest_orphan is not None:
            deadlines.append(oldest_orphan[0][0] + window + 1)
        oldest_tomb = next(iter(self._tombstones.values()), None)
        if oldest_tomb is not None:
            deadlines.append(oldest_tomb[1] + window + 1)
        deadlines.extend(c.deadline + 1 for c in self._catch_ups.values())
        return min(deadlines) if deadlines else None

    def poll(self, now: int | None = None) -> None:
        """Apply what is due at `now`: the state-transfer timeout, forgetting old orphans."""
        now = self.now(now)
        if (
            self.transfer_state is TransferState.WAITING
            and self._transfer_deadline is not None
            and now > self._transfer_deadline
        ):
            log.error(
                "%s: no session state received within %d s",
                self.name,
                self.config.state_transfer_timeout,
            )
            self.counters["no-state-transferred"] += 1
            self._finish_transfer(TransferState.TIMED_OUT, now)
        for record in [c for c in self._catch_ups.values() if now > c.deadline]:
            log.info(
                "%s: catch-up with %s: no TRANSFERCOMPLETE within %d ms",
                self.name,
                getattr(record.member, "name", record.member),
                self.config.catch_up_timeout_ms,
            )
            self._finish_catch_up(record, CatchUpState.TIMED_OUT, now)
        self._forget_old(now)

    # --- inbound -------------------------------------------------------------------------------

    def receive(self, message: SessionMessage, sender: object, now: int | None = None) -> None:
        """DeltaManager.messageDataReceived for a SessionMessage of this context."""
        now = self.now(now)
        self.counters[f"received.{event_name(message.event)}"] += 1
        if self._receiver_queue and message.event in QUEUED_EVENTS:
            self._queue.append((message, sender))
            return
        self._dispatch(message, sender, now)

    def _dispatch(self, message: SessionMessage, sender: object, now: int) -> None:
        handler = self._handlers.get(message.event)
        if handler is None:
            self.counters["dropped.unknown-event"] += 1
            return
        try:
            handler(self, message, sender, now)
        except Exception:
            self._failed(message)

    def _failed(self, message: SessionMessage) -> None:
        """A received message whose processing raised: counted and logged, not propagated."""
        self.counters["errors"] += 1
        log.exception(
            "%s: cannot process %s for %s", self.name, event_name(message.event), message.session_id
        )

    def _on_get_all(self, message: SessionMessage, sender: object, now: int) -> None:
        """handleGET_ALL_SESSIONS: every session in pages (options 6), then TRANSFERCOMPLETE."""
        lane = self._emit_pages(list(self._sessions.values()), sender, SESSION_STATE_ID, now)
        done = self._message(
            Event.EVT_ALL_SESSION_TRANSFERCOMPLETE, TRANSFERRED_ID, TRANSFERRED_ID + self.name, now
        )
        self._emit(Send(done, sender, self.config.channel_send_options, lane=lane))

    def _emit_pages(
        self, sessions: list[Session], dest: object, unique_id: str, now: int
    ) -> object:
        """`sessions` to `dest` as EVT_ALL_SESSION_DATA pages (options 6, one page with
        `send_all_sessions`, `sendAllSessionsWaitTime` between pages) in a new lane, returned.
        Each page is encoded by its `Send.fill`: when sent with `defer_pages`, else at once."""
        cfg = self.config
        if cfg.send_all_sessions:
            pages = [sessions]
        else:
            size = cfg.send_all_sessions_size
            pages = [sessions[i : i + size] for i in range(0, len(sessions), size)]
        layout = self._layout_for(dest)
        lane = object()
        for i, page in enumerate(pages):
            msg = self._message(
                Event.EVT_ALL_SESSION_DATA, SESSION_STATE_ID, f"{unique_id}-{self.name}", now
            )
            delay = max(cfg.send_all_sessions_wait_time, 0) if i else 0
            fill = self._fill_page(msg, page, layout)
            send = Send(msg, dest, OPTIONS_SYNC_ACK, lane=lane, delay_ms=delay, fill=fill)
            self._emit(send if self.defer_pages else send.ready())
        return lane

    def _layout_for(self, member: object) -> int:
        """The DeltaSession layout `member` reads (its Tomcat line, when the node knows it)."""
        asked = self._peer_version(member) if self._peer_version is not None else None
        return wire_line(asked) if asked else self.wire_version

    def _fill_page(
        self, message: SessionMessage, sessions: Sequence[Session], layout: int
    ) -> Iterator[None]:
        """`Send.fill` of an ALL_SESSION_DATA page. Each session is written as it is when its
        step runs, as Tomcat's sendSessions writes live sessions while requests go on (a change
        made meanwhile also reaches the joiner as a message newer than the state: applied
        after it)."""
        message.payload = yield from self._page_steps(sessions, layout)

    def _encode_page(self, sessions: Sequence[Session], layout: int) -> bytes:
        """`_page_steps` at once (what a page's `Send.fill` produces; the tests compare)."""
        steps = self._page_steps(sessions, layout)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                payload: bytes = done.value
                return payload

    def _page_steps(self, sessions: Sequence[Session], layout: int) -> Generator[None, None, bytes]:
        """The ALL_SESSION_DATA payload of `sessions`, each written straight from the session,
        in steps of `FILL_STEP` sessions (GC paused within a step only); leaving out what
        cannot be serialized (as writeObjectData skips a NotSerializable attribute) so a
        GET_ALL_SESSIONS is always answered."""
        try:
            enc = SessionsEncoder(len(sessions), layout)
            for i in range(0, len(sessions), FILL_STEP):
                with _bulk():
                    for s in sessions[i : i + FILL_STEP]:
                        enc.add(s, *s._wire_record(layout))
                yield
            return enc.getvalue()
        except Exception:
            log.exception("%s: a session cannot be serialized; leaving out what fails", self.name)
        states = [s._to_state(layout) for s in sessions]
        for state in states:
            try:
                encode_sessions([state], layout)
            except Exception:
                self.counters["errors"] += 1
                state.attributes = {k: v for k, v in state.attributes.items() if _serializable(v)}
                state.listeners = [v for v in state.listeners if _serializable(v)]
                if not _serializable(state.principal):
                    state.principal = None
        return encode_sessions([s for s in states if _serializable_state(s, layout)], layout)

    def _on_all_session_data(self, message: SessionMessage, sender: object, now: int) -> None:
        """handleALL_SESSION_DATA at once (`receive_session_data` does it in steps)."""
        if message.payload is not None:
            states = decode_session_data(message.payload)
            for _ in self._session_data_steps(message, states, sender, now):
                pass

    def receive_session_data(
        self,
        message: SessionMessage,
        states: list[SessionState],
        sender: object,
        now: int | None = None,
    ) -> Iterator[None]:
        """`receive` of an EVT_ALL_SESSION_DATA whose payload the caller decoded
        (`decode_session_data`, e.g. in a worker thread), in steps: the sessions of our
        start-up transfer are installed `FILL_STEP` at a time, and an event loop may run
        between steps (session events arriving meanwhile are queued as usual). Exhaust it
        before acknowledging the message."""
        now = self.now(now)
        self.counters["received.EVT_ALL_SESSION_DATA"] += 1
        try:
            yield from self._session_data_steps(message, states, sender, now)
        except Exception:
            self._failed(message)

    def _session_data_steps(
        self, message: SessionMessage, states: list[SessionState], sender: object, now: int
    ) -> Iterator[None]:
        """handleALL_SESSION_DATA. During our start-up transfer (as it stands at the first
        step): add (or replace) every session as a backup, as Tomcat does. Otherwise (a
        catch-up answer, a push): merge, in one step."""
        if not self.transfer_done:
            with _bulk():  # across the steps: each collection in between would be a full one
                for i, state in enumerate(states):
                    if i and not i % FILL_STEP:
                        yield
                    if state.id in self._sessions:
                        self.counters["replaced"] += 1
                        log.warning("%s: state transfer replaces session %s", self.name, state.id)
                    self._install(state, now)
            return
        pushed = (message.unique_id or "").startswith(PUSH_ID)
        record = None if pushed else self._catch_ups.get(member_key(sender))
        if record is not None:
            self.merge_sessions(states, sender, now, into=record.result)
            return
        result = self.merge_sessions(states, sender, now)
        self.counters["merged.pushes" if pushed else "merged.unsolicited"] += 1
        log.info(
            "%s: merged %d sessions %s by %s: %d updated, %d added, %d kept, %d expired here",
            self.name,
            result.received,
            "pushed" if pushed else "sent",
            getattr(sender, "name", sender),
            result.updated,
            result.added,
            result.kept,
            result.expired,
        )

    def _install(self, state: SessionState, now: int) -> Session:
        """deserializeSessions for one record: a new backup session (replacing any)."""
        session = Session(self, now)
        session._load_state(state)
        session._valid = True
        session._primary = False
        session._id_time = state.creation_time
        session._access(now)
        session._access_count = 0
        self._sessions[state.id] = session
        self._tombstones.pop(state.id, None)
        self._expired_ids.pop(state.id, None)
        if self.config.notify_session_listeners_on_replication:
            self.fire("session_created", session)
        self._replay_orphans(state.id, now)
        return session

    def _on_transfer_complete(self, message: SessionMessage, sender: object, now: int) -> None:
        record = self._catch_ups.get(member_key(sender))
        if record is not None:
            self._finish_catch_up(record, CatchUpState.MERGED, now)
            return
        self._state_time = message.timestamp
        if self.transfer_state is TransferState.WAITING:
            self._finish_transfer(TransferState.TRANSFERRED, now)

    def _on_no_context_manager(self, message: SessionMessage, sender: object, now: int) -> None:
        record = self._catch_ups.get(member_key(sender))
        if record is not None:
            who = getattr(sender, "name", sender)
            log.info("%s: catch-up with %s: it has no such context", self.name, who)
            self._finish_catch_up(record, CatchUpState.NO_CONTEXT_MANAGER, now)
            return
        log.warning("%s: the master member has no such context: no session state", self.name)
        if self.transfer_state is TransferState.WAITING:
            self._finish_transfer(TransferState.NO_CONTEXT_MANAGER, now)

    # --- catch-up after a partition (ours; see the module docstring) ---------------------------

    @property
    def catch_ups(self) -> Mapping[object, CatchUp]:
        """The catch-ups in progress, by `member_key`."""
        return MappingProxyType(self._catch_ups)

    def catch_up(
        self, member: object, now: int | None = None, *, since: int | None = None
    ) -> CatchUp | None:
        """Bring us up to date with `member`, which kept running while it was cut off from us:
        EVT_GET_ALL_SESSIONS (options 8) to it; its answer is merged (`merge_sessions`) as it
        arrives, nothing is queued meanwhile. Returns the `CatchUp` (the one already running
        for that member, if any), or None before our own start-up transfer has ended.
        `since`: when the member went away (epoch ms), for the push (module docstring)."""
        now = self.now(now)
        if not self.transfer_done:
            return None
        key = member_key(member)
        running = self._catch_ups.get(key)
        if running is not None:
            return running
        record = CatchUp(member, now, now + self.config.catch_up_timeout_ms, since)
        self._catch_ups[key] = record
        msg = self._message(Event.EVT_GET_ALL_SESSIONS, GET_ALL_ID, f"GET-ALL-{self.name}", now)
        self._emit(Send(msg, member, OPTIONS_ASYNCHRONOUS, lane=object()))
        self.counters["catch-ups"] += 1
        return record

    def merge_sessions(
        self,
        states: Iterable[SessionState],
        sender: object = None,
        now: int | None = None,
        *,
        into: MergeResult | None = None,
    ) -> MergeResult:
        """Merge full sessions (one ALL_SESSION_DATA page) from `sender` into ours, the rules
        of the module docstring; EVT_SESSION_EXPIRED goes back to `sender` (when given) for
        ids that expired here. Counts go to `into` (or a new `MergeResult`), returned."""
        now = self.now(now)
        result = MergeResult() if into is None else into
        result.pages += 1
        for state in states:
            result.received += 1
            sid = state.id
            result.theirs.add(sid)
            local = self._sessions.get(sid)
            if local is None:
                if self._recently_expired(sid, now):
                    result.expired += 1
                    if sender is not None:
                        msg = self._message(
                            Event.EVT_SESSION_EXPIRED, sid, f"{sid}-EXPIRED-MSG", now
                        )
                        self._emit(Send(msg, sender, self.config.channel_send_options, object()))
                elif _timed_out(state, now):
                    result.stale += 1
                else:
                    self._install(state, now)
                    result.added += 1
                continue
            if self._same_content(local, state):
                result.same += 1
                continue
            theirs = (state.last_accessed_time, state.this_accessed_time)
            ours = (local.last_accessed_time, local.this_accessed_time)
            in_use = local.dirty or local._access_count > 0
            newer = theirs > ours and not in_use
            log.debug(
                "%s: merge %s: theirs %s, ours %s%s: %s",
                self.name,
                sid,
                theirs,
                ours,
                " (in use)" if in_use else "",
                "theirs" if newer else "ours",
            )
            if newer:
                self._update(local, state, now)
                result.updated += 1
            else:
                result.kept += 1
                result.ours_newer.add(sid)
        self.counters["merged.sessions"] += result.received
        return result

    def _update(self, session: Session, state: SessionState, now: int) -> None:
        """Apply a newer copy to our session object in place (it becomes a backup). Attribute
        listeners fire as for a replicated DELTA; attributes that are never replicated stay."""
        notify = self.config.notify_listeners_on_replication
        wanted = {
            k: v
            for k, v in state.attributes.items()
            if v is not None and k not in EXCLUDED_ATTRIBUTES
        }
        for name in list(session._attributes):
            if name not in wanted and name not in EXCLUDED_ATTRIBUTES:
                session._remove_attribute(name, notify=notify, record=False)
        for name, value in wanted.items():
            if name in session._attributes and _equal(session._attributes[name], value):
                continue
            session._set_attribute(name, value, notify=notify, record=False)
        session._creation_time = state.creation_time
        session._last_accessed_time = state.last_accessed_time
        session._this_accessed_time = state.this_accessed_time
        session._max_inactive_interval = state.max_inactive_interval
        session._new = state.is_new
        session._version = state.version
        session._principal = state.principal
        if state.notes is not None:
            session._load_notes(state.notes)
        session._listeners = list(state.listeners) if state.listeners else None
        session._valid = True
        session._primary = False
        session._reset_delta()
        session._access(now)
        session._access_count = 0

    def _same_content(self, session: Session, state: SessionState) -> bool:
        """Both copies hold the same replicated state (times, isNew and version aside)."""
        if (
            session.creation_time != state.creation_time
            or session.max_inactive_interval != state.max_inactive_interval
        ):
            return False
        layout = 10 if state.notes is not None else 9
        try:
            mine = session._to_state(layout)
            return (
                _principal_key(mine.principal, layout) == _principal_key(state.principal, layout)
                and mine.attributes.keys() == state.attributes.keys()
                and all(_same_value(v, state.attributes[k]) for k, v in mine.attributes.items())
                and _same_value(mine.listeners, state.listeners)
                and _same_value(mine.notes, state.notes)
            )
        except Exception:
            return False

    def _finish_catch_up(self, record: CatchUp, state: CatchUpState, now: int) -> None:
        self._catch_ups.pop(member_key(record.member), None)
        record.state = state
        record.finished = now
        if state is CatchUpState.MERGED and self.config.catch_up_push:
            record.pushed = self._push(record, now)

    def _push(self, record: CatchUp, now: int) -> int:
        """Our sessions the member should have: where our copy won the merge, and the ones it
        does not know that were created or renamed here since it went away."""
        result, since = record.result, record.since
        sessions = [
            s
            for sid, s in self._sessions.items()
            if s._valid
            and (
                sid in result.ours_newer
                or (sid not in result.theirs and since is not None and s._id_time >= since)
            )
        ]
        if not sessions:
            return 0
        self._emit_pages(sessions, record.member, PUSH_ID, now)
        self.counters["pushed.sessions"] += len(sessions)
        return len(sessions)

    def _remember_expired(self, session_id: str, now: int) -> None:
        memory = self.config.expired_id_memory
        if not session_id or memory <= 0:
            return
        ids = self._expired_ids
        ids.pop(session_id, None)
        ids[session_id] = now
        while ids:
            oldest, at = next(iter(ids.items()))
            if now - at <= memory and len(ids) <= MAX_EXPIRED_IDS:
                break
            del ids[oldest]

    def _recently_expired(self, session_id: str, now: int) -> bool:
        at = self._expired_ids.get(session_id)
        return at is not None and now - at <= self.config.expired_id_memory

    def _on_created(self, message: SessionMessage, sender: object, now: int) -> None:
        """handleSESSION_CREATED: a new empty backup with our own timeout (replaces any)."""
        sid = message.session_id
        if not sid:
            return
        existing = self._sessions.get(sid)
        if existing is not None and existing.creation_time == message.timestamp:
            self.counters["dropped.duplicate-created"] += 1
            return
        tomb = self._tombstones.get(sid)
        if tomb is not None and message.timestamp <= tomb[0]:
            self.counters["dropped.created-after-expired"] += 1
            return
        session = Session(self, now)
        session._valid = True
        session._primary = False
        session._set_creation_time(message.timestamp)
        session._set_max_inactive_interval(self.config.session_timeout * 60, record=False)
        session._access(now)
        self._add(session, sid, notify=self.config.notify_session_listeners_on_replication)
        session._end_access(now)
        session._last_accessed_time = _changed_at(message, now)
        self._tombstones.pop(sid, None)
        self._replay_orphans(sid, now)

    def _on_delta(self, message: SessionMessage, sender: object, now: int) -> None:
        """handleSESSION_DELTA."""
        session = self._sessions.get(message.session_id or "")
        if session is None:
            self._orphan(message, sender, now)
            return
        if message.payload is None:
            self.counters["dropped.empty-delta"] += 1
            return
        delta = DeltaRequest.decode(message.payload)
        self.apply_delta(session, delta, now, changed_at=_changed_at(message, now))

    def apply_delta(
        self,
        session: Session,
        delta: DeltaRequest,
        now: int | None = None,
        *,
        changed_at: int | None = None,
    ) -> bool:
        """DeltaRequest.execute with `addDeltaRequest=false`, between access() and endAccess();
        the session becomes a backup. False (nothing applied) if the ids differ.
        `changed_at`: the primary's time of the change (the message timestamp), which becomes
        the lastAccessedTime unless that is later already (see `_changed_at`)."""
        now = self.now(now)
        if delta.session_id != session.id:
            self.counters["dropped.delta-id-mismatch"] += 1
            log.warning(
                "%s: delta for %s applied to session %s: rejected",
                self.name,
                delta.session_id,
                session.id,
            )
            return False
        notify = self.config.notify_listeners_on_replication
        session._reset_delta()  # Tomcat swaps the received request in: pending changes are lost
        previous = session._last_accessed_time
        session._access(now)
        for action in delta.actions:
            if not self._apply_action(
                session, action.type, action.action, action.name, action.value, notify
            ):
                self.counters["skipped-actions"] += 1
                log.warning(
                    "%s: skipped delta action type=%d action=%d name=%r on %s",
                    self.name,
                    action.type,
                    action.action,
                    action.name,
                    session.id,
                )
        session._end_access(now)
        if changed_at is not None:
            session._last_accessed_time = max(previous, changed_at)
        session._primary = False
        return True

    def _apply_action(
        self, session: Session, type_: int, action: int, name: str, value: object, notify: bool
    ) -> bool:
        if action not in (ACTION_SET, ACTION_REMOVE):
            return False
        setting = action == ACTION_SET
        if type_ == TYPE_ATTRIBUTE:
            if setting and value is not None:
                session._set_attribute(name, value, notify=notify, record=False)
            else:
                session._remove_attribute(name, notify=notify, record=False)
        elif type_ == TYPE_ISNEW:
            if not isinstance(value, bool | JBoolean):
                return False
            session._set_new(bool(value), record=False)
        elif type_ == TYPE_MAXINTERVAL:
            if not isinstance(value, JInteger):
                return False
            session._set_max_inactive_interval(int(value), record=False)
        elif type_ == TYPE_PRINCIPAL:
            session._set_principal(value if setting else None, record=False)
        elif type_ == TYPE_AUTHTYPE:
            if setting and not isinstance(value, str | None):
                return False
            session._set_auth_type(value if setting else None, record=False)  # type: ignore[arg-type]
        elif type_ == TYPE_LISTENER:
            if setting:
                session._add_listener(value)
            else:
                session._remove_listener(value)
        elif type_ == TYPE_NOTE:
            if setting and value is not None:
                session._set_note(name, value, record=False)
            else:
                session._remove_note(name, record=False)
        else:
            return False
        return True

    def _on_accessed(self, message: SessionMessage, sender: object, now: int) -> None:
        """handleSESSION_ACCESSED: touch it, it is a backup now."""
        session = self._sessions.get(message.session_id or "")
        if session is None:
            self.counters["dropped.unknown-session"] += 1
            return
        previous = session._last_accessed_time
        session._access(now)
        session._primary = False
        session._end_access(now)
        session._last_accessed_time = max(previous, _changed_at(message, now))

    def _on_expired(self, message: SessionMessage, sender: object, now: int) -> None:
        """handleSESSION_EXPIRED: expire locally, no re-broadcast."""
        sid = message.session_id or ""
        session = self._sessions.get(sid)
        if session is not None:
            self._expire(
                session,
                now,
                notify=self.config.notify_session_listeners_on_replication,
                notify_cluster=False,
            )
        else:
            self.counters["dropped.unknown-session"] += 1
            self._tombstone(sid, message.timestamp, now)
            self._remember_expired(sid, now)
        dropped = self._orphans.pop(sid, [])
        self._orphan_count -= len(dropped)

    def _on_change_id(self, message: SessionMessage, sender: object, now: int) -> None:
        """handleCHANGE_SESSION_ID: rename the session, no re-broadcast."""
        session = self._sessions.get(message.session_id or "")
        if session is None:
            self._orphan(message, sender, now)
            return
        if message.payload is None:
            self.counters["dropped.empty-change-id"] += 1
            return
        new_id = decode_new_id(message.payload)
        session._primary = False
        self._rename(
            session, new_id, now, notify=self.config.notify_session_listeners_on_replication
        )
        self._tombstones.pop(new_id, None)
        self._replay_orphans(new_id, now)

    _handlers: ClassVar[
        dict[int, Callable[[SessionManager, SessionMessage, object, int], None]]
    ] = {
        Event.EVT_GET_ALL_SESSIONS: _on_get_all,
        Event.EVT_ALL_SESSION_DATA: _on_all_session_data,
        Event.EVT_ALL_SESSION_TRANSFERCOMPLETE: _on_transfer_complete,
        Event.EVT_ALL_SESSION_NOCONTEXTMANAGER: _on_no_context_manager,
        Event.EVT_SESSION_CREATED: _on_created,
        Event.EVT_SESSION_DELTA: _on_delta,
        Event.EVT_SESSION_ACCESSED: _on_accessed,
        Event.EVT_SESSION_EXPIRED: _on_expired,
        Event.EVT_CHANGE_SESSION_ID: _on_change_id,
    }

    # --- internals -----------------------------------------------------------------------------

    def _message(
        self,
        event: int,
        session_id: str,
        unique_id: str,
        timestamp: int,
        payload: bytes | None = None,
    ) -> SessionMessage:
        """new SessionMessageImpl(name, event, payload, sessionId, uniqueId) + setTimestamp."""
        return SessionMessage(
            event, self.name, session_id, unique_id, timestamp, timestamp_set=True, payload=payload
        )

    def _emit(self, send: Send) -> None:
        self.counters[f"sent.{event_name(send.message.event)}"] += 1
        self._outbox.append(send)

    def _send_all(self, message: SessionMessage, session: Session) -> None:
        self._emit(Send(message, ALL, self.config.channel_send_options, lane=session))

    def _add(self, session: Session, session_id: str, *, notify: bool) -> None:
        """StandardSession.setId(id, notify) on a fresh session: register (replacing any)."""
        session._set_id(session_id)
        self._sessions[session_id] = session
        self._expired_ids.pop(session_id, None)
        if notify:
            self.fire("session_created", session)

    def _rename(self, session: Session, new_id: str, now: int, *, notify: bool) -> None:
        """ManagerBase.changeSessionId: re-register under `new_id`, tellChangedSessionId."""
        old_id = session.id
        if self._sessions.get(old_id) is session:
            del self._sessions[old_id]
            if old_id != new_id:
                self._remember_expired(old_id, now)
        session._set_id(new_id)
        session._id_time = now
        self._sessions[new_id] = session
        self._expired_ids.pop(new_id, None)
        if notify:
            self.fire("session_id_changed", session, old_id)

    def _completion_message(
        self, session: Session, now: int, *, expires: bool
    ) -> SessionMessage | None:
        """DeltaManager.requestCompleted(id, expires)."""
        sid = session.id
        if self._sessions.get(sid) is not session:
            return None  # invalidated meanwhile
        msg = None
        delta = session._take_delta()
        if delta is not None:
            try:
                payload = delta.encode()
            except Exception:
                self.counters["errors"] += 1
                log.exception("%s: cannot serialize the delta of %s; changes lost", self.name, sid)
                return None
            msg = SessionMessage(
                Event.EVT_SESSION_DELTA, self.name, sid, f"{sid}-{now}", now, True, payload
            )
        if msg is None and not expires and not session._primary:
            msg = SessionMessage(Event.EVT_SESSION_ACCESSED, self.name, sid, f"{sid}-{now}")
        if not expires:
            session._primary = True
        if (
            msg is None
            and not expires
            and session.max_inactive_interval >= 0
            and now - session._last_time_replicated > session.max_inactive_interval * 1000
        ):
            msg = SessionMessage(Event.EVT_SESSION_ACCESSED, self.name, sid, f"{sid}-{now}")
        if msg is not None:
            session._last_time_replicated = now
            msg.timestamp = now
            msg.timestamp_set = True
        return msg

    def _expire(self, session: Session, now: int, *, notify: bool, notify_cluster: bool) -> None:
        """DeltaSession.expire(notify, notifyCluster)."""
        if not session._valid or session._expiring:
            return
        sid = session.id
        registered = self._sessions.get(sid) is session
        members = bool(self._members()) if notify_cluster else False
        if notify_cluster:
            msg = self._completion_message(session, now, expires=True)
            if msg is not None and members:
                self._send_all(msg, session)
        session._expiring = True
        if notify:
            self.fire("session_destroyed", session)
        session._access_count = 0
        if registered:
            del self._sessions[sid]
            self.counters["expired"] += 1
        session._valid = False
        session._expiring = False
        for name in list(session._attributes):
            session._remove_attribute(name, notify=notify, record=False)
        session._reset_delta()
        if notify_cluster and members:
            msg = self._message(Event.EVT_SESSION_EXPIRED, sid, f"{sid}-EXPIRED-MSG", now)
            self._send_all(msg, session)
        if registered:
            self._tombstone(sid, session.creation_time, now)
            self._remember_expired(sid, now)

    def _finish_transfer(self, state: TransferState, now: int) -> None:
        """The end of getAllClusterSessions: process the queue (stateTimestampDrop rule)."""
        self.transfer_state = state
        self._transfer_deadline = None
        queue, self._queue = self._queue, []
        self._receiver_queue = False
        drop_old = self.config.state_timestamp_drop
        for message, sender in queue:
            if (
                not drop_old
                or message.event == Event.EVT_GET_ALL_SESSIONS
                or message.timestamp >= self._state_time
            ):
                self._dispatch(message, sender, now)
            else:
                self.counters["dropped.older-than-state"] += 1
                log.warning(
                    "%s: dropped queued %s for %s older than the session state",
                    self.name,
                    event_name(message.event),
                    message.session_id,
                )

    def _orphan(self, message: SessionMessage, sender: object, now: int) -> None:
        sid = message.session_id
        cfg = self.config
        if (
            sid is None
            or cfg.orphan_window_ms <= 0
            or sid in self._tombstones
            or self._orphan_count >= cfg.max_orphans
        ):
            self.counters["dropped.unknown-session"] += 1
            return
        self._forget_old(now)
        self._orphans.setdefault(sid, []).append((now, message, sender))
        self._orphan_count += 1
        self.counters["buffered.unknown-session"] += 1

    def _replay_orphans(self, session_id: str, now: int) -> None:
        items = self._orphans.pop(session_id, None)
        if not items:
            return
        self._orphan_count -= len(items)
        for received, message, sender in items:
            if now - received <= self.config.orphan_window_ms:
                self._dispatch(message, sender, now)
            else:
                self.counters["dropped.unknown-session"] += 1

    def _tombstone(self, session_id: str, expired_at: int, now: int) -> None:
        if self.config.orphan_window_ms > 0 and session_id:
            self._forget_old(now)
            self._tombstones.pop(session_id, None)
            self._tombstones[session_id] = (expired_at, now)

    def _forget_old(self, now: int) -> None:
        window = self.config.orphan_window_ms
        while self._orphans:
            sid, items = next(iter(self._orphans.items()))
            if now - items[0][0] <= window:
                break
            del self._orphans[sid]
            self._orphan_count -= len(items)
            self.counters["dropped.unknown-session"] += len(items)
        while self._tombstones:
            sid, (_, recorded) = next(iter(self._tombstones.items()))
            if now - recorded <= window:
                break
            del self._tombstones[sid]
