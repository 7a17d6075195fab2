"""DeltaManager's messages: SessionMessageImpl and the payloads it carries (TRIBES.md §8).

- `SessionMessage` <-> `org.apache.catalina.ha.session.SessionMessageImpl`
- `DeltaRequest`: the `mSession` of EVT_SESSION_DELTA (top-level block data + values)
- `SessionState`: one DeltaSession record of EVT_ALL_SESSION_DATA (9.0 and 10.1 layouts)
- `encode_new_id` / `decode_new_id`: the EVT_CHANGE_SESSION_ID payload
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Protocol

from ..errors import ProtocolError
from ..jserial import (
    DEFAULT_LIMITS,
    BlockData,
    BlockReader,
    BlockWriter,
    ClassData,
    JavaException,
    JavaObject,
    JInteger,
    JLong,
    Limits,
    ObjectWriter,
    mutf8,
    read_stream,
    write_stream,
)
from ..jserial.constants import (
    BASE_WIRE_HANDLE,
    TC_BLOCKDATA,
    TC_BLOCKDATALONG,
    TC_ENDBLOCKDATA,
    TC_EXCEPTION,
    TC_NULL,
    TC_OBJECT,
    TC_REFERENCE,
    TC_RESET,
    TC_STRING,
)
from ..jserial.reader import _new_int, _new_str, _Reader
from ..jserial.values import _JStr
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


_EVENT_NAMES: Final = {int(e): e.name for e in Event}


def event_name(event: int) -> str:
    """The EVT_* name (a dict lookup: counters are keyed by it for every message)."""
    return _EVENT_NAMES.get(event) or f"EVT_UNKNOWN_{event}"


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
        if self.actions and not self.record_all_actions:
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


_I4: Final = struct.Struct(">i")
_I8: Final = struct.Struct(">q")


class SessionFields(Protocol):
    """The plain fields of one record, as a `SessionState` or a live session holds them."""

    @property
    def id(self) -> str: ...
    @property
    def creation_time(self) -> int: ...
    @property
    def last_accessed_time(self) -> int: ...
    @property
    def max_inactive_interval(self) -> int: ...
    @property
    def is_new(self) -> bool: ...
    @property
    def is_valid(self) -> bool: ...
    @property
    def this_accessed_time(self) -> int: ...
    @property
    def version(self) -> int: ...


class SessionsEncoder:
    """An ALL_SESSION_DATA payload written record by record into one stream (one handle table),
    straight from whatever holds the sessions: no intermediate copy per session."""

    __slots__ = ("_layout", "_w")

    def __init__(self, count: int, tomcat_version: int = 10) -> None:
        self._w = ObjectWriter()
        self._layout = tomcat_version
        self._w.write_boxed_int(count)

    def add(
        self,
        s: SessionFields,
        principal: object,
        notes: tuple[object, object] | None,
        attributes: Mapping[str, object],
        listeners: Sequence[object],
    ) -> None:
        """One `DeltaSession.writeObjectData` record. 10.1 always writes the two notes
        (None: two nulls); 9.0 writes them only when given (persistAuthenticationNotes)."""
        w = self._w
        w.write_boxed_long(s.creation_time)
        w.write_boxed_long(s.last_accessed_time)
        w.write_boxed_int(s.max_inactive_interval)
        w.write_object(s.is_new)
        w.write_object(s.is_valid)
        w.write_boxed_long(s.this_accessed_time)
        w.write_boxed_long(s.version)
        if principal is None:
            w.write_block(b"\x00")
        else:
            w.write_block(b"\x01")
            w.write_object(principal)
        w.write_object(s.id)
        if notes is None and self._layout >= 10:
            notes = (None, None)
        if notes is not None:
            w.write_object(notes[0])
            w.write_object(notes[1])
        w.write_boxed_int(len(attributes))
        for name, value in attributes.items():
            w.write_object(name)
            w.write_object(value)
        w.write_boxed_int(len(listeners))
        for listener in listeners:
            w.write_object(listener)

    def getvalue(self) -> bytes:
        return self._w.getvalue()


def encode_sessions(sessions: Sequence[SessionState], tomcat_version: int = 10) -> bytes:
    """An ALL_SESSION_DATA payload: Integer count, then each record, one handle table."""
    enc = SessionsEncoder(len(sessions), tomcat_version)
    for s in sessions:
        enc.add(s, s.principal, s.notes, s.attributes, s.listeners)
    return enc.getvalue()


def decode_sessions(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> list[SessionState]:
    items = _contents(data, limits)
    if items is None:
        items = read_stream(data, limits=limits)
    sessions = _decode_as_java_writes(items)
    return sessions if sessions is not None else _decode_generic(items)


#: A box read at top level, by its class: the struct of its value.
_BOXES: Final[dict[type[JLong] | type[JInteger], struct.Struct]] = {JLong: _I8, JInteger: _I4}


def _contents(data: bytes, limits: Limits) -> list[object] | None:
    """Exactly what `read_stream(data, limits=limits)` returns, or None (then that decides).

    A state transfer is a long run of small top-level contents: nulls, Strings, back
    references, short block records and Long / Integer boxes. Those are parsed here (a box
    once its class descriptor was read: it is then `73 71 <handle> <value>`); anything else by
    the generic reader's content parser on the same handle table. Resets, exceptions and
    errors are left to `read_stream`."""
    try:
        if type(data) is not bytes or len(data) > limits.max_total_bytes:
            return None
        r = _Reader(data, limits, None, True)
        r.header()
        handles = r.handles
        max_handles, max_string = limits.max_handles, limits.max_string_length
        #: The wire handle of a Long / Integer descriptor -> (box class, struct of the value).
        boxes: dict[int, tuple[type[JLong] | type[JInteger], struct.Struct]] = {}
        items: list[object] = []
        add = items.append
        pos, end = r.pos, len(data)
        while pos < end:
            tc = data[pos]
            if tc == TC_REFERENCE:
                h = _I4.unpack_from(data, pos + 1)[0] - BASE_WIRE_HANDLE
                v = handles[h] if 0 <= h < len(handles) else None
                if v is None:
                    return None
                pos += 5
            elif tc == TC_NULL:
                v = None
                pos += 1
            elif tc == TC_STRING:
                start = pos + 3
                n = (data[pos + 1] << 8) | data[pos + 2]
                pos = start + n
                if pos > end or n > max_string or len(handles) >= max_handles:
                    return None
                b = data[start:pos]
                v = b.decode("ascii") if b.isascii() else mutf8.decode(b)
                if len(v) <= 1:
                    v = _new_str(_JStr, v)
                handles.append(v)
            elif tc == TC_BLOCKDATA:
                start = pos + 2
                pos = start + data[pos + 1]
                if pos > end:
                    return None
                v = BlockData(data[start:pos])
            elif tc == TC_OBJECT and data[pos + 1] == TC_REFERENCE:
                desc = _I4.unpack_from(data, pos + 2)[0]
                box = boxes.get(desc)
                if box is not None:
                    cls, st = box
                    start = pos + 6
                    pos = start + st.size
                    if pos > end or len(handles) >= max_handles:
                        return None
                    v = _new_int(cls, st.unpack_from(data, start)[0])
                    handles.append(v)
                else:
                    r.pos = pos
                    v = r.content()
                    if isinstance(v, JLong | JInteger) and r.pos == pos + 6 + _BOXES[type(v)].size:
                        boxes[desc] = (type(v), _BOXES[type(v)])
                    pos = r.pos
            elif tc in _NOT_PLAIN:
                return None
            else:
                r.pos = pos
                v = r.content()
                pos = r.pos
            add(v)
        return items
    except Exception:  # whatever it is, read_stream says it properly
        return None


_NOT_PLAIN: Final = frozenset((TC_BLOCKDATALONG, TC_RESET, TC_ENDBLOCKDATA, TC_EXCEPTION))


def _decode_as_java_writes(items: list[object]) -> list[SessionState] | None:
    """`decode_sessions` for contents laid out as Java writes them (the principal flag alone in
    a one-byte block, boxes of the usual classes): a walk over the list, no `BlockReader`.
    None for anything else, which `_decode_generic` then reads or rejects."""
    count = items[0] if items else None
    if type(count) is not JInteger or not 0 <= count <= MAX_SESSIONS:
        return None
    sessions = []
    i = 1
    try:
        for _ in range(count):
            ct, lat, mii, new, valid, tat, ver, flag = items[i : i + 8]
            if (
                type(ct) is not JLong
                or type(lat) is not JLong
                or type(mii) is not JInteger
                or type(new) is not bool
                or type(valid) is not bool
                or type(tat) is not JLong
                or type(ver) is not JLong
                or type(flag) is not BlockData
                or len(flag.data) != 1
            ):
                return None
            i += 8
            principal = None
            if flag.data[0]:
                principal = items[i]
                i += 1
            sid, n = items[i], items[i + 1]
            i += 2
            notes: tuple[object, object] | None = None
            if type(n) is not JInteger:
                notes = (n, items[i])
                n = items[i + 1]
                i += 2
            if (
                not isinstance(sid, str)
                or type(n) is not JInteger
                or not 0 <= n <= MAX_ATTRIBUTES
                or type(principal) is BlockData
                or (notes is not None and BlockData in (type(notes[0]), type(notes[1])))
            ):
                return None
            attributes: dict[str, object] = {}
            skipped: list[str] = []
            for j in range(i, i + 2 * n, 2):
                name, value = items[j], items[j + 1]
                if not isinstance(name, str) or type(value) is BlockData:
                    return None
                if type(value) is JavaException:
                    skipped.append(name)
                else:
                    attributes[name] = value
            i += 2 * n
            n = items[i]
            if type(n) is not JInteger or not 0 <= n <= MAX_ATTRIBUTES:
                return None
            listeners = items[i + 1 : i + 1 + n]
            i += 1 + n
            if len(listeners) != n or any(type(x) is BlockData for x in listeners):
                return None
            state = SessionState(sid, ct, lat, mii, new, valid, tat, ver, principal, notes)
            state.attributes, state.listeners, state.skipped = attributes, listeners, skipped
            sessions.append(state)
    except (IndexError, ValueError):  # fewer contents than the counts claim
        return None
    return sessions if i == len(items) else None


def _decode_generic(items: list[object]) -> list[SessionState]:
    r = BlockReader(items)
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
