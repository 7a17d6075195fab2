"""Configuration, outgoing actions and names shared by the session manager and its adapter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Final

from ..messages.session import SessionMessage

#: `Send.dest` for "every current member" (SimpleTcpCluster.send(msg)).
ALL: Final = "all"

#: Channel.SEND_OPTIONS_ASYNCHRONOUS: GET_ALL_SESSIONS always goes with it.
OPTIONS_ASYNCHRONOUS: Final = 8
#: SEND_OPTIONS_SYNCHRONIZED_ACK | SEND_OPTIONS_USE_ACK: every ALL_SESSION_DATA page.
OPTIONS_SYNC_ACK: Final = 6


def wall_clock_ms() -> int:
    """`System.currentTimeMillis()`."""
    return time.time_ns() // 1_000_000


def manager_name(path: str, host: str | None = "localhost") -> str:
    """The DeltaManager name (= `SessionMessage.context_name`) of a context (TRIBES.md §8.2).

    `path` is the context path ("/jw", "" or "/" for ROOT, "/jw##v2" for a versioned
    deployment). With a Cluster in the Engine (the usual case) the name is
    `"<host>#<path>"`; pass `host=None` for a Cluster inside a Host (the bare path).
    """
    if host is not None and path.startswith(host + "#"):
        return path  # already a manager name (SimpleTcpCluster.getManagerName)
    if path == "/":
        path = ""
    if path and not path.startswith(("/", "##")):
        path = "/" + path
    return path if host is None else f"{host}#{path}"


@dataclass(frozen=True, slots=True)
class Send:
    """One message to send: `await send(message, dest, options)`.

    `dest` is `ALL` (every current member) or one member exactly as the node gave it to us
    (the sender of a GET_ALL_SESSIONS, the oldest member). Sends that share a `lane` must go
    out in order (each one after the previous one was acknowledged); `delay_ms` is a pause
    before this send (`sendAllSessionsWaitTime` between state-transfer pages).

    `fill`: a deferred payload (a state-transfer page, ~1 s of CPU for 100,000 sessions): steps
    that encode it, the last one setting `message.payload`. An event-loop adapter runs them in
    the lane, yielding to its loop between steps; `ready()` runs them at once.
    """

    message: SessionMessage
    dest: object
    options: int
    lane: object = None
    delay_ms: int = 0
    fill: Iterator[None] | None = None

    def ready(self) -> Send:
        """Produce a deferred payload now (a no-op when there is none or it is done)."""
        if self.fill is not None:
            for _ in self.fill:
                pass
        return self


class TransferState(Enum):
    """Where the start-up state transfer of one manager stands."""

    NOT_STARTED = "not-started"
    #: No member when starting: nothing to ask (Tomcat's "noMembers").
    NO_MEMBERS = "no-members"
    #: GET_ALL_SESSIONS sent; session events are queued.
    WAITING = "waiting"
    #: TRANSFERCOMPLETE received.
    TRANSFERRED = "transferred"
    #: NOCONTEXTMANAGER received: the master has no such context.
    NO_CONTEXT_MANAGER = "no-context-manager"
    #: `stateTransferTimeout` passed without TRANSFERCOMPLETE ("noSessionState").
    TIMED_OUT = "timed-out"
    #: `stateTransferTimeout` is 0 (or negative but not -1): asked, but did not wait.
    NOT_WAITED = "not-waited"


class CatchUpState(Enum):
    """Where one catch-up with a rejoining member stands (`SessionManager.catch_up`)."""

    #: GET_ALL_SESSIONS sent to the member; its pages are merged as they come.
    WAITING = "waiting"
    #: TRANSFERCOMPLETE received: everything it sent was merged (and our newer copies pushed).
    MERGED = "merged"
    #: The member has no such context (NOCONTEXTMANAGER).
    NO_CONTEXT_MANAGER = "no-context-manager"
    #: No TRANSFERCOMPLETE within the timeout (e.g. a Tomcat in its own state transfer drops
    #: the request); what arrived was merged all the same.
    TIMED_OUT = "timed-out"


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    """DeltaManager / ClusterManagerBase / ManagerBase attributes (TRIBES.md §8.4) plus ours."""

    #: The context's session timeout in minutes (`<session-timeout>`, Context default 30).
    #: New sessions get it, and so do backups created by EVT_SESSION_CREATED.
    session_timeout: int = 30
    #: SimpleTcpCluster `channelSendOptions` for every session message but GET_ALL (8) and
    #: ALL_SESSION_DATA (6). The seed clusters use 6; Tomcat's default is 8.
    channel_send_options: int = 6
    #: Seconds to wait for the state; -1 = for ever; 0 or another negative value: do not wait.
    state_transfer_timeout: int = 60
    send_all_sessions: bool = True
    send_all_sessions_size: int = 1000
    send_all_sessions_wait_time: int = 2000
    state_timestamp_drop: bool = True
    notify_listeners_on_replication: bool = True
    notify_session_listeners_on_replication: bool = True
    expire_sessions_on_shutdown: bool = False
    record_all_actions: bool = False
    #: ManagerBase `notifyAttributeListenerOnUnchangedValue`.
    notify_attribute_listener_on_unchanged_value: bool = True
    #: Replicate notes (TYPE_NOTE, and the two auth notes in full sessions).
    #: None = the Tomcat line's default: always on 10.1+, `persistAuthenticationNotes=false` on 9.0.
    persist_authentication_notes: bool | None = None
    #: Record `ISNEW=false` when a request joins an existing session (Request.doGetSession,
    #: BZ 69814). None = the Tomcat line's behaviour: 10.1.60 does, 9.0.70 does not.
    join_marks_not_new: bool | None = None
    #: Engine jvmRoute: appended to new ids as ".route"; with it, `find_session` rebinds ids
    #: of another route like JvmRouteBinderValve (EVT_CHANGE_SESSION_ID).
    jvm_route: str | None = None
    #: ManagerBase `maxActiveSessions` (-1 = unlimited).
    max_active_sessions: int = -1
    #: StandardSession ACTIVITY_CHECK / `sessionActivityCheck`: a session in use never expires.
    activity_check: bool = False
    #: Ours: keep a DELTA / CHANGE_SESSION_ID for a session not (yet) known this long, and
    #: apply it once the session's CREATED (or state) arrives; EXPIRED ids are remembered as
    #: long, so a late CREATED cannot resurrect them. 0 = Tomcat's behaviour (drop at once).
    orphan_window_ms: int = 5000
    #: Ours: at most this many buffered orphan messages per manager.
    max_orphans: int = 10_000
    #: Ours: after a catch-up with a rejoining member (`SessionManager.catch_up`), send it our
    #: copies that are newer than its own, and the sessions created while it was away, as an
    #: unsolicited EVT_ALL_SESSION_DATA (Tomcat applies it; pytribes merges it).
    catch_up_push: bool = True
    #: Ours: how long (ms) the id of a session that expired, was invalidated or changed its id
    #: here is remembered, so that a catch-up merge does not bring it back from a member that
    #: missed it (and tells that member with EVT_SESSION_EXPIRED). None = the session timeout.
    expired_id_memory_ms: int | None = None

    def __post_init__(self) -> None:
        if self.send_all_sessions_size <= 0:
            raise ValueError("send_all_sessions_size must be > 0")
        if self.session_timeout * 60 > (1 << 31) - 1:
            raise ValueError("session_timeout too large")
        if self.orphan_window_ms < 0 or self.max_orphans < 0:
            raise ValueError("orphan_window_ms and max_orphans must be >= 0")
        if self.expired_id_memory_ms is not None and self.expired_id_memory_ms < 0:
            raise ValueError("expired_id_memory_ms must be >= 0")

    @property
    def expired_id_memory(self) -> int:
        """`expired_id_memory_ms`, or the session timeout (30 min when it never times out)."""
        if self.expired_id_memory_ms is not None:
            return self.expired_id_memory_ms
        minutes = self.session_timeout if self.session_timeout > 0 else 30
        return minutes * 60_000

    @property
    def catch_up_timeout_ms(self) -> int:
        """How long a catch-up waits for TRANSFERCOMPLETE: `state_transfer_timeout`, or 60 s
        when that is 0, negative or -1 (a catch-up never waits for ever)."""
        timeout = self.state_transfer_timeout
        return (timeout if timeout > 0 else 60) * 1000
