"""DeltaManager's messages: SessionMessageImpl and the payloads it carries (TRIBES.md §8).

- `SessionMessage` <-> `org.apache.catalina.ha.session.SessionMessageImpl`
- `DeltaRequest`: the `mSession` of EVT_SESSION_DELTA (top-level block data + values)
- `SessionState`: one DeltaSession record of EVT_ALL_SESSION_DATA (9.0 and 10.1 layouts)
- `encode_new_id` / `decode_new_id`: the EVT_CHANGE_SESSION_ID payload
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from ..errors import ProtocolError
from ..jserial import (
    DEFAULT_LIMITS,
    BlockReader,
    BlockWriter,
    ClassData,
    JavaException,
    JavaObject,
    JInteger,
    JLong,
    Limits,
    read_stream,
    write_stream,
)
from .classes import CLUSTER_MESSAGE_BASE, SERIALIZABLE_PRINCIPAL, SESSION_MESSAGE_IMPL
from .fast import decode_delta, encode_delta


class Event(IntEnum):
    """`SessionMessage.EVT_*`."""

    EVT_SESSION_CREATED = 1
    EVT_SESSION_EXPIRED = 2
    EVT_SESSION_ACCESSED = 3
    EVT_GET_ALL_SESSIONS = 4
    EVT_ALL_SESSION_DATA = 12
    EVT_SESSION_DELTA = 13
    EVT_ALL_SESSION_TRANSFERCOMPLETE = 14
    EVT_CHANGE_SESSION_ID = 15
    EVT_ALL_SESSION_NOCONTEXTMANAGER = 16


#: `getEventTypeString()`, what Tomcat's logs print.
EVENT_STRINGS = {
    Event.EVT_SESSION_CREATED: "SESSION-MODIFIED",
    Event.EVT_SESSION_EXPIRED: "SESSION-EXPIRED",
    Event.EVT_SESSION_ACCESSED: "SESSION-ACCESSED",
    Event.EVT_GET_ALL_SESSIONS: "SESSION-GET-ALL",
    Event.EVT_ALL_SESSION_DATA: "ALL-SESSION-DATA",
    Event.EVT_SESSION_DELTA: "SESSION-DELTA",
    Event.EVT_ALL_SESSION_TRANSFERCOMPLETE: "SESSION-STATE-TRANSFERRED",
    Event.EVT_CHANGE_SESSION_ID: "SESSION-ID-CHANGED",
    Event.EVT_ALL_SESSION_NOCONTEXTMANAGER: "NO-CONTEXT-MANAGER",
}


def event_name(event: int) -> str:
    try:
        return Event(event).name
    except ValueError:
        return f"EVT_UNKNOWN_{event}"


@dataclass(slots=True)
class SessionMessage:
    """SessionMessageImpl. `timestamp` is `serializationTimestamp` (write-once in Java)."""

    event: int
    context_name: str | None
    session_id: str | None
    unique_id: str | None
    timestamp: int = 0
    timestamp_set: bool = False
    payload: bytes | None = None
    #: ClusterMessageBase.timestamp: never set by Tomcat, always 0 on the wire.
    base_timestamp: int = 0

    @property
    def event_name(self) -> str:
        return event_name(self.event)


def session_message_to_java(m: SessionMessage) -> JavaObject:
    return JavaObject(
        SESSION_MESSAGE_IMPL,
        [
            ClassData(CLUSTER_MESSAGE_BASE, {"timestamp": m.base_timestamp}, None),
            ClassData(
                SESSION_MESSAGE_IMPL,
                {
                    "mEvtType": m.event,
                    "serializationTimestamp": m.timestamp,
                    "timestampSet": m.timestamp_set,
                    "mContextName": m.context_name,
                    "mSession": m.payload,
                    "mSessionID": m.session_id,
                    "uniqueId": m.unique_id,
                },
                None,
            ),
        ],
        None,
    )


def session_message_from_java(obj: JavaObject) -> SessionMessage:
    if obj.class_name != SESSION_MESSAGE_IMPL.name:
        raise ProtocolError(f"not a SessionMessageImpl: {obj.class_name}")
    f = obj.field
    try:
        event, ts, ts_set, base = (
            f("mEvtType"),
            f("serializationTimestamp"),
            f("timestampSet"),
            f("timestamp", 0),
        )
        ctx, payload, sid, uid = f("mContextName"), f("mSession"), f("mSessionID"), f("uniqueId")
    except KeyError as e:  # a descriptor of that name with other fields: a protocol violation
        raise ProtocolError(str(e.args[0])) from None
    if not (isinstance(event, int) and isinstance(ts, int) and isinstance(base, int)):
        raise ProtocolError("SessionMessageImpl primitive fields have the wrong types")
    for name, v in (("mContextName", ctx), ("mSessionID", sid), ("uniqueId", uid)):
        if v is not None and not isinstance(v, str):
            raise ProtocolError(f"SessionMessageImpl.{name} is not a String")
    if payload is not None and not isinstance(payload, bytes):
        raise ProtocolError("SessionMessageImpl.mSession is not a byte[]")
    return SessionMessage(event, ctx, sid, uid, ts, bool(ts_set), payload, base)  # type: ignore[arg-type]


# --- DeltaRequest -------------------------------------------------------------------------------

TYPE_ATTRIBUTE = 0
TYPE_PRINCIPAL = 1
TYPE_ISNEW = 2
TYPE_MAXINTERVAL = 3
TYPE_AUTHTYPE = 4
TYPE_LISTENER = 5
TYPE_NOTE = 6
ACTION_SET = 0
ACTION_REMOVE = 1

TYPE_NAMES = {
    TYPE_ATTRIBUTE: "ATTRIBUTE",
    TYPE_PRINCIPAL: "PRINCIPAL",
    TYPE_ISNEW: "ISNEW",
    TYPE_MAXINTERVAL: "MAXINTERVAL",
    TYPE_AUTHTYPE: "AUTHTYPE",
    TYPE_LISTENER: "LISTENER",
    TYPE_NOTE: "NOTE",
}
ACTION_NAMES = {ACTION_SET: "SET", ACTION_REMOVE: "REMOVE"}

NAME_PRINCIPAL = "__SET__PRINCIPAL__"
NAME_ISNEW = "__SET__ISNEW__"
NAME_MAXINTERVAL = "__SET__MAXINTERVAL__"
NAME_AUTHTYPE = "__SET__AUTHTYPE__"
NAME_LISTENER = "__SET__LISTENER__"

#: Cap on the number of actions a received DeltaRequest may claim.
MAX_ACTIONS = 100_000


@dataclass(slots=True)
class DeltaAction:
    type: int
    action: int
    name: str
    value: object = None

    @property
    def has_value(self) -> bool:
        return self.value is not None


@dataclass(slots=True)
class DeltaRequest:
    """The changes of one request to one session, in order; last action per name wins."""

    session_id: str
    record_all_actions: bool = False
    actions: list[DeltaAction] = field(default_factory=list)

    def add(self, type_: int, action: int, name: str, value: object = None) -> None:
        """Record an action as DeltaRequest.addAction does (same name, any type: replaced)."""
        if not self.record_all_actions:
            self.actions = [a for a in self.actions if a.name != name]
        self.actions.append(DeltaAction(type_, action, name, value))

    def set_attribute(self, name: str, value: object) -> None:
        self.add(TYPE_ATTRIBUTE, ACTION_SET, name, value)

    def remove_attribute(self, name: str) -> None:
        self.add(TYPE_ATTRIBUTE, ACTION_REMOVE, name)

    def set_new(self, is_new: bool) -> None:
        self.add(TYPE_ISNEW, ACTION_SET, NAME_ISNEW, is_new)

    def set_max_inactive_interval(self, seconds: int) -> None:
        self.add(TYPE_MAXINTERVAL, ACTION_SET, NAME_MAXINTERVAL, JInteger(seconds))

    def set_auth_type(self, auth_type: str | None) -> None:
        if auth_type is None:
            self.add(TYPE_AUTHTYPE, ACTION_REMOVE, NAME_AUTHTYPE)
        else:
            self.add(TYPE_AUTHTYPE, ACTION_SET, NAME_AUTHTYPE, auth_type)

    def set_principal(self, principal: object) -> None:
        if principal is None:
            self.add(TYPE_PRINCIPAL, ACTION_REMOVE, NAME_PRINCIPAL)
        else:
            self.add(TYPE_PRINCIPAL, ACTION_SET, NAME_PRINCIPAL, principal)

    def set_note(self, name: str, value: object) -> None:
        if value is None:
            self.add(TYPE_NOTE, ACTION_REMOVE, name)
        else:
            self.add(TYPE_NOTE, ACTION_SET, name, value)

    def encode(self) -> bytes:
        """`DeltaRequest.serialize()`: a fresh stream of block data and values, no object."""
        data = encode_delta(self.session_id, self.record_all_actions, self.actions)
        return data if data is not None else self.encode_generic()

    def encode_generic(self) -> bytes:
        """`encode` without the fast path (the reference the fast path is tested against)."""
        w = BlockWriter()
        w.write_utf(self.session_id)
        w.write_bool(self.record_all_actions)
        w.write_int(len(self.actions))
        for a in self.actions:
            w.write_int(a.type)
            w.write_int(a.action)
            w.write_utf(a.name)
            w.write_bool(a.value is not None)
            if a.value is not None:
                w.write_object(a.value)
        return write_stream(w.items())

    @classmethod
    def decode(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> DeltaRequest:
        got = decode_delta(data, limits, MAX_ACTIONS, DeltaAction)
        if got is not None:
            return cls(*got)
        return cls.decode_generic(data, limits=limits)

    @classmethod
    def decode_generic(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> DeltaRequest:
        """`decode` without the fast path (the reference the fast path is tested against)."""
        r = BlockReader(read_stream(data, limits=limits))
        req = cls(r.read_utf(), r.read_bool())
        n = r.read_int()
        if not 0 <= n <= MAX_ACTIONS:
            raise ProtocolError(f"DeltaRequest claims {n} actions")
        for _ in range(n):
            type_, action, name, has = r.read_int(), r.read_int(), r.read_utf(), r.read_bool()
            value = r.read_object() if has else None
            req.actions.append(DeltaAction(type_, action, name, value))
        if not r.at_end():
            raise ProtocolError("trailing data after the DeltaRequest actions")
        return req


# --- CHANGE_SESSION_ID --------------------------------------------------------------------------


def encode_new_id(new_id: str) -> bytes:
    """`ObjectOutputStream.writeUTF(newId)` in a fresh stream."""
    w = BlockWriter()
    w.write_utf(new_id)
    return write_stream(w.items())


def decode_new_id(data: bytes) -> str:
    r = BlockReader(read_stream(data))
    new_id = r.read_utf()
    if not r.at_end():
        raise ProtocolError("trailing data after the new session id")
    return new_id


# --- Full sessions (ALL_SESSION_DATA) -----------------------------------------------------------

NOTE_SESSION_ID = "org.apache.catalina.authenticator.SESSION_ID"
NOTE_REQUEST = "org.apache.catalina.authenticator.REQUEST"
#: Cap on sessions / attributes / listeners a received state-transfer page may claim.
MAX_SESSIONS = 1_000_000
MAX_ATTRIBUTES = 100_000


@dataclass(slots=True)
class Principal:
    """GenericPrincipal as it travels (`GenericPrincipal$SerializablePrincipal`)."""

    name: str
    roles: tuple[str, ...] = ()
    password: str | None = None
    user_principal: object = None
    attributes: object = None

    def to_java(self, tomcat_version: int) -> JavaObject:
        desc = SERIALIZABLE_PRINCIPAL[tomcat_version]
        values: dict[str, object] = {
            "attributes": self.attributes,
            "name": self.name,
            "principal": self.user_principal,
            "roles": tuple(sorted(self.roles)),
        }
        if tomcat_version == 9:
            values["password"] = self.password
        return JavaObject(desc, [ClassData(desc, values, None)], None)

    @classmethod
    def from_java(cls, obj: object) -> Principal | None:
        """A Principal for a SerializablePrincipal object; None for any other class."""
        if not isinstance(obj, JavaObject) or obj.class_name != SERIALIZABLE_PRINCIPAL[9].name:
            return None
        name = obj.field("name", None)
        roles = obj.field("roles", None)
        password = obj.field("password", None)
        return cls(
            name if isinstance(name, str) else "",
            tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, tuple) else (),
            password if isinstance(password, str) else None,
            obj.field("principal", None),
            obj.field("attributes", None),
        )


@dataclass(slots=True)
class SessionState:
    """One DeltaSession as `writeObjectData` writes it."""

    id: str
    creation_time: int
    last_accessed_time: int
    max_inactive_interval: int
    is_new: bool
    is_valid: bool
    this_accessed_time: int
    version: int = 0
    #: The principal object as read (a SerializablePrincipal JavaObject, or any Serializable).
    principal: object = None
    #: 10.1 always writes the two authentication notes; None = the 9.0 layout (no notes).
    notes: tuple[object, object] | None = None
    attributes: dict[str, object] = field(default_factory=dict)
    listeners: list[object] = field(default_factory=list)
    #: Attribute names whose value the sender could not serialize (TC_EXCEPTION); not applied.
    skipped: list[str] = field(default_factory=list)


def encode_sessions(sessions: Sequence[SessionState], tomcat_version: int = 10) -> bytes:
    """An ALL_SESSION_DATA payload: Integer count, then each record, one handle table."""
    w = BlockWriter()
    w.write_object(JInteger(len(sessions)))
    for s in sessions:
        for v in (
            JLong(s.creation_time),
            JLong(s.last_accessed_time),
            JInteger(s.max_inactive_interval),
            s.is_new,
            s.is_valid,
            JLong(s.this_accessed_time),
            JLong(s.version),
        ):
            w.write_object(v)
        w.write_bool(s.principal is not None)
        if s.principal is not None:
            w.write_object(s.principal)
        w.write_object(s.id)
        if tomcat_version >= 10:
            notes = s.notes or (None, None)
            w.write_object(notes[0])
            w.write_object(notes[1])
        elif s.notes is not None:
            w.write_object(s.notes[0])
            w.write_object(s.notes[1])
        w.write_object(JInteger(len(s.attributes)))
        for name, value in s.attributes.items():
            w.write_object(name)
            w.write_object(value)
        w.write_object(JInteger(len(s.listeners)))
        for listener in s.listeners:
            w.write_object(listener)
    return write_stream(w.items())


def decode_sessions(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> list[SessionState]:
    r = BlockReader(read_stream(data, limits=limits))
    count = _int(r.read_object(), "session count", MAX_SESSIONS)
    sessions = []
    for _ in range(count):
        values = [r.read_object() for _ in range(7)]
        for i in (0, 1, 5, 6):
            if not isinstance(values[i], int) or isinstance(values[i], bool):
                raise ProtocolError("DeltaSession time fields are not Longs")
        if not isinstance(values[3], bool) or not isinstance(values[4], bool):
            raise ProtocolError("DeltaSession isNew/isValid are not Booleans")
        principal = r.read_object() if r.read_bool() else None
        sid = r.read_object()
        if not isinstance(sid, str):
            raise ProtocolError("DeltaSession id is not a String")
        nxt = r.read_object()
        notes: tuple[object, object] | None = None
        if not isinstance(nxt, JInteger):
            notes = (nxt, r.read_object())
            nxt = r.read_object()
        n = _int(nxt, "attribute count", MAX_ATTRIBUTES)
        s = SessionState(
            sid,
            values[0],  # type: ignore[arg-type]
            values[1],  # type: ignore[arg-type]
            _int(values[2], "maxInactiveInterval", None),
            values[3],
            values[4],
            values[5],  # type: ignore[arg-type]
            values[6],  # type: ignore[arg-type]
            principal,
            notes,
        )
        for _ in range(n):
            name = r.read_object()
            value = r.read_object()
            if not isinstance(name, str):
                raise ProtocolError("DeltaSession attribute name is not a String")
            if isinstance(value, JavaException):
                s.skipped.append(name)
            else:
                s.attributes[name] = value
        m = _int(r.read_object(), "listener count", MAX_ATTRIBUTES)
        s.listeners = [r.read_object() for _ in range(m)]
        sessions.append(s)
    if not r.at_end():
        raise ProtocolError("trailing data after the last session")
    return sessions


def _int(v: object, what: str, cap: int | None) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ProtocolError(f"DeltaSession {what} is not an Integer")
    if cap is not None and not 0 <= v <= cap:
        raise ProtocolError(f"DeltaSession {what} {v} out of range")
    return v


def iter_actions(req: DeltaRequest) -> Iterable[tuple[str, str, str, object]]:
    """(type name, action name, name, value) for display."""
    for a in req.actions:
        yield (
            TYPE_NAMES.get(a.type, str(a.type)),
            ACTION_NAMES.get(a.action, str(a.action)),
            a.name,
            a.value,
        )
