"""One replicated HTTP session: StandardSession + DeltaSession semantics.

A `Session` belongs to one `SessionManager`. The web layer reads and changes it between
`SessionManager.find_session` / `create_session` and `SessionManager.request_completed`;
every change is recorded in the session's pending DeltaRequest (last action per name), which
`request_completed` turns into one EVT_SESSION_DELTA.

Times are epoch milliseconds; `max_inactive_interval` is in seconds (<= 0: never times out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..errors import TribesError
from ..jserial import JavaObject, java_type_name
from ..messages.session import (
    ACTION_SET,
    NAME_PRINCIPAL,
    NOTE_REQUEST,
    NOTE_SESSION_ID,
    TYPE_PRINCIPAL,
    DeltaAction,
    DeltaRequest,
    Principal,
    SessionState,
)
from .values import INT_MAX, INT_MIN, to_java

if TYPE_CHECKING:
    from .manager import SessionManager

#: `org.apache.catalina.session.Constants.excludedAttributeNames`: kept locally, never replicated.
EXCLUDED_ATTRIBUTES = frozenset(
    {"javax.security.auth.subject", "org.apache.catalina.valves.CrawlerSessionManagerValve"}
)


class InvalidSessionError(TribesError):
    """The session was invalidated or expired (Java's IllegalStateException)."""


class Session:
    """A session of one context; see the module docstring."""

    def __init__(self, manager: SessionManager, now: int) -> None:
        self._manager = manager
        self._id = ""
        self._creation_time = now
        self._last_accessed_time = now
        self._this_accessed_time = now
        self._max_inactive_interval = -1
        self._new = False
        self._valid = False
        self._expiring = False
        #: A `Principal`, or the Java object as received (re-sent as it came).
        self._principal: object = None
        self._auth_type: str | None = None
        #: Never holds None (setting None removes).
        self._attributes: dict[str, object] = {}
        # Created on first use (most sessions, backups above all, never need them):
        self._notes: dict[str, object] | None = None
        #: Replicated session listeners (ReplicatedSessionListener objects from Tomcat).
        self._listeners: list[object] | None = None
        #: The pending DeltaRequest (DeltaSession.deltaRequest); None: no changes yet.
        self._delta: DeltaRequest | None = None
        self._version = 0
        self._primary = True
        self._last_time_replicated = now
        self._access_count = 0
        #: When the session got its current id here (creation, id change; a received copy:
        #: its creation time): which sessions a catch-up pushes to a member that was away.
        self._id_time = now

    def __repr__(self) -> str:
        state = "valid" if self._valid else "invalid"
        role = "primary" if self._primary else "backup"
        return f"<Session {self._id} {state} {role} {len(self._attributes)} attributes>"

    # --- read-only metadata -------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    @property
    def manager(self) -> SessionManager:
        return self._manager

    @property
    def creation_time(self) -> int:
        return self._creation_time

    @property
    def last_accessed_time(self) -> int:
        return self._last_accessed_time

    @property
    def this_accessed_time(self) -> int:
        return self._this_accessed_time

    @property
    def max_inactive_interval(self) -> int:
        return self._max_inactive_interval

    @property
    def is_new(self) -> bool:
        return self._new

    @property
    def is_valid(self) -> bool:
        """The flag only; `SessionManager.find_session` applies the idle-time check."""
        return self._valid

    @property
    def is_primary(self) -> bool:
        """True when this node served the session last (DeltaSession.isPrimarySession)."""
        return self._primary

    @property
    def version(self) -> int:
        return self._version

    @property
    def last_time_replicated(self) -> int:
        return self._last_time_replicated

    @property
    def auth_type(self) -> str | None:
        return self._auth_type

    @property
    def principal(self) -> Principal | None:
        """The GenericPrincipal, or None (also for a principal of another class)."""
        if isinstance(self._principal, Principal):
            return self._principal
        return Principal.from_java(self._principal)

    @property
    def principal_object(self) -> object:
        """The principal as held: a `Principal` or the Java object received."""
        return self._principal

    @property
    def attributes(self) -> Mapping[str, object]:
        return MappingProxyType(self._attributes)

    @property
    def notes(self) -> Mapping[str, object]:
        return MappingProxyType(self._notes if self._notes is not None else {})

    @property
    def replicated_listeners(self) -> tuple[object, ...]:
        return tuple(self._listeners or ())

    @property
    def dirty(self) -> bool:
        """There are changes not replicated yet."""
        return self._delta is not None and bool(self._delta.actions)

    @property
    def pending_actions(self) -> tuple[DeltaAction, ...]:
        return tuple(self._delta.actions) if self._delta is not None else ()

    def idle_time(self, now: int) -> int:
        """Milliseconds since the last access ended (or began, during a request)."""
        return now - self._this_accessed_time

    # --- attributes ----------------------------------------------------------------------------

    def get(self, name: str, default: object = None) -> object:
        return self._attributes.get(name, default)

    def __getitem__(self, name: str) -> object:
        return self._attributes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._attributes

    def names(self) -> list[str]:
        return list(self._attributes)

    def java_type(self, name: str) -> str:
        """The Java class an attribute travels as ("java.lang.Long", "lab.Pojo", ...)."""
        return java_type_name(self._attributes[name])

    def set(self, name: str, value: object, *, java_type: str | None = None) -> None:
        """`setAttribute`: store (as a Java value, see `values.to_java`) and record a SET.
        None removes the attribute."""
        if not isinstance(name, str):
            raise TypeError("attribute names are str")
        if value is None:
            self.remove(name)
            return
        self._check_valid("set an attribute of")
        self._set_attribute(name, to_java(value, java_type), notify=True, record=True)

    def remove(self, name: str) -> None:
        """`removeAttribute`: records a REMOVE if the attribute existed."""
        self._check_valid("remove an attribute of")
        self._remove_attribute(name, notify=True, record=True)

    # --- other replicated state ----------------------------------------------------------------

    def set_max_inactive_interval(self, seconds: int) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise TypeError("max_inactive_interval is an int (seconds)")
        if not INT_MIN <= seconds <= INT_MAX:
            raise ValueError("max_inactive_interval does not fit a Java int")
        self._set_max_inactive_interval(seconds, record=True)

    def set_principal(self, principal: Principal | JavaObject | None) -> None:
        """Only a GenericPrincipal travels; any other principal is replicated as "none"."""
        self._set_principal(principal, record=True)

    def set_auth_type(self, auth_type: str | None) -> None:
        self._set_auth_type(auth_type, record=True)

    def get_note(self, name: str, default: object = None) -> object:
        return self._notes.get(name, default) if self._notes is not None else default

    def set_note(self, name: str, value: object) -> None:
        """Notes are local unless the Tomcat line replicates them (10.1: always, as TYPE_NOTE;
        9.0: only with persistAuthenticationNotes); replicated notes must map to Java."""
        if value is None:
            self.remove_note(name)
            return
        if self._manager.replicate_notes:
            value = to_java(value)
        self._set_note(name, value, record=True)

    def remove_note(self, name: str) -> None:
        self._remove_note(name, record=True)

    def invalidate(self, now: int | None = None) -> None:
        """`invalidate()`: flush the pending delta, expire locally, EVT_SESSION_EXPIRED."""
        self._check_valid("invalidate")
        self._manager.expire(self, now)

    # --- internals used by the manager ---------------------------------------------------------

    def _check_valid(self, what: str) -> None:
        if not self._valid:
            raise InvalidSessionError(f"cannot {what} an invalidated session {self._id}")

    def _set_id(self, session_id: str) -> None:
        self._id = session_id
        if self._delta is not None:
            self._delta.session_id = session_id

    @property
    def _pending(self) -> DeltaRequest:
        """The pending DeltaRequest, created on the first change recorded."""
        if self._delta is None:
            self._delta = DeltaRequest(self._id, self._manager.config.record_all_actions)
        return self._delta

    def _set_creation_time(self, t: int) -> None:
        self._creation_time = self._last_accessed_time = self._this_accessed_time = t

    def _access(self, now: int) -> None:
        self._this_accessed_time = now
        if self._manager.config.activity_check:
            self._access_count += 1

    def _end_access(self, now: int) -> None:
        self._new = False
        self._this_accessed_time = now
        self._last_accessed_time = now
        if self._manager.config.activity_check and self._access_count > 0:
            self._access_count -= 1

    def _reset_delta(self) -> None:
        """Drop the pending changes (the next one recorded starts a new DeltaRequest)."""
        self._delta = None

    def _take_delta(self) -> DeltaRequest | None:
        """The pending changes, leaving none behind (DeltaSession.getDiff); None if there are
        none (`dirty` is False)."""
        delta = self._delta
        if delta is None or not delta.actions:
            return None
        self._delta = None
        return delta

    def _set_attribute(self, name: str, value: object, *, notify: bool, record: bool) -> None:
        old = self._attributes.get(name)
        self._attributes[name] = value
        if record and name not in EXCLUDED_ATTRIBUTES:
            self._pending.set_attribute(name, value)
        if not notify:
            return
        if old is None:
            self._manager.fire("attribute_added", self, name, value)
        elif old is not value or self._manager.config.notify_attribute_listener_on_unchanged_value:
            self._manager.fire("attribute_replaced", self, name, old, value)

    def _remove_attribute(self, name: str, *, notify: bool, record: bool) -> None:
        if name not in self._attributes:
            return
        value = self._attributes.pop(name)
        if record and name not in EXCLUDED_ATTRIBUTES:
            self._pending.remove_attribute(name)
        if notify:
            self._manager.fire("attribute_removed", self, name, value)

    def _set_new(self, is_new: bool, *, record: bool) -> None:
        self._new = is_new
        if record:
            self._pending.set_new(is_new)

    def _set_max_inactive_interval(self, seconds: int, *, record: bool) -> None:
        self._max_inactive_interval = seconds
        if record:
            self._pending.set_max_inactive_interval(seconds)

    def _set_principal(self, principal: object, *, record: bool) -> None:
        self._principal = principal
        if not record:
            return
        if principal is None:
            self._pending.set_principal(None)
            return
        wire = self._principal_java()
        if Principal.from_java(wire) is None:
            # DeltaRequest.setPrincipal: not a GenericPrincipal -> SET without a value.
            self._pending.add(TYPE_PRINCIPAL, ACTION_SET, NAME_PRINCIPAL, None)
        else:
            self._pending.set_principal(wire)

    def _set_auth_type(self, auth_type: str | None, *, record: bool) -> None:
        self._auth_type = auth_type
        if record:
            self._pending.set_auth_type(auth_type)

    def _set_note(self, name: str, value: object, *, record: bool) -> None:
        if self._notes is None:
            self._notes = {}
        self._notes[name] = value
        if record and self._manager.replicate_notes:
            self._pending.set_note(name, value)

    def _remove_note(self, name: str, *, record: bool) -> None:
        if self._notes is not None:
            self._notes.pop(name, None)
        if record and self._manager.replicate_notes:
            self._pending.set_note(name, None)

    def _principal_java(self, wire_version: int | None = None) -> object:
        if isinstance(self._principal, Principal):
            return self._principal.to_java(wire_version or self._manager.wire_version)
        return self._principal

    def _wire_record(
        self, wire_version: int
    ) -> tuple[object, tuple[object, object] | None, Mapping[str, object], Sequence[object]]:
        """(principal, notes, attributes, listeners) of this session's DeltaSession record
        (writeObjectData) in a Tomcat line's layout; the attributes are ours unless some are
        excluded (no copy: the encoder writes them at once)."""
        notes: tuple[object, object] | None = None
        if wire_version >= 10 or self._manager.config.persist_authentication_notes:
            notes = (self._wire_note(NOTE_SESSION_ID), self._wire_note(NOTE_REQUEST))
        attributes = self._attributes
        if not EXCLUDED_ATTRIBUTES.isdisjoint(attributes):
            attributes = {k: v for k, v in attributes.items() if k not in EXCLUDED_ATTRIBUTES}
        return self._principal_java(wire_version), notes, attributes, self._listeners or ()

    def _to_state(self, wire_version: int) -> SessionState:
        """This session as one DeltaSession record (writeObjectData) of a Tomcat line."""
        principal, notes, attributes, listeners = self._wire_record(wire_version)
        return SessionState(
            id=self._id,
            creation_time=self._creation_time,
            last_accessed_time=self._last_accessed_time,
            max_inactive_interval=self._max_inactive_interval,
            is_new=self._new,
            is_valid=self._valid,
            this_accessed_time=self._this_accessed_time,
            version=self._version,
            principal=principal,
            notes=notes,
            attributes=dict(attributes),
            listeners=list(listeners),
        )

    def _wire_note(self, name: str) -> object:
        value = self._notes.get(name) if self._notes is not None else None
        if value is None:
            return None
        try:
            return to_java(value)
        except (TypeError, ValueError):
            return None  # a local-only note with no Java form: written as null

    def _load_state(self, state: SessionState) -> None:
        """DeltaSession.readObjectData (authType is not transferred)."""
        self._creation_time = state.creation_time
        self._last_accessed_time = state.last_accessed_time
        self._max_inactive_interval = state.max_inactive_interval
        self._new = state.is_new
        self._valid = state.is_valid
        self._this_accessed_time = state.this_accessed_time
        self._version = state.version
        self._principal = state.principal
        self._auth_type = None
        self._set_id(state.id)
        if state.notes is not None:
            self._load_notes(state.notes)
        self._attributes = {
            k: v
            for k, v in state.attributes.items()
            if v is not None and k not in EXCLUDED_ATTRIBUTES
        }
        self._listeners = list(state.listeners) if state.listeners else None

    def _load_notes(self, notes: tuple[object, object]) -> None:
        """The two authentication notes of a received record (null: left as they are)."""
        session_id, request = notes
        if session_id is not None:
            self._set_note(NOTE_SESSION_ID, session_id, record=False)
        if request is not None:
            self._set_note(NOTE_REQUEST, request, record=False)

    def _add_listener(self, listener: object) -> None:
        if self._listeners is None:
            self._listeners = []
        self._listeners.append(listener)

    def _remove_listener(self, listener: object) -> None:
        if self._listeners is not None and listener in self._listeners:
            self._listeners.remove(listener)
