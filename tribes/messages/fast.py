"""Fast paths for the hot message: EVT_SESSION_DELTA (a SessionMessageImpl carrying a DeltaRequest).

Every function here either returns exactly what the generic codec (`tribes.jserial` driven by
`session.py` / `codec.py`) returns for the same input, or returns None, and the caller then runs
the generic code, which produces the result or the error.  A fast path never raises and never
accepts what the generic code rejects: it takes only the shapes it fully understands and gives
up ("misses") on anything else.  `tests/test_fastpath*.py` compare both paths on random and real
Tomcat messages.

- SessionMessageImpl, written: the stream up to the field values is the same for every message
  (descriptor chain, field signatures), so it is a precomputed template followed by `struct`-
  packed primitives and the four object fields (String / byte[] / null).  Back references
  between the fields (two of them the very same Python object) are left to the generic writer.
- SessionMessageImpl, read: a prefix match of the template bytes jumps straight to the values;
  strings and the byte[] are sliced out directly.
- DeltaRequest, written: the block data goes straight into the output in records cut like
  Java's BlockDataOutputStream cuts them (an action followed by a value is one short record,
  packed at once); String values and back references to them are written inline, any other
  value by an `ObjectWriter` that takes over the same handle table.
- DeltaRequest, read: block records are walked directly (the first in place, one holding
  exactly one action looked up whole, joined when primitives span records), Strings and back
  references are read inline, any other value by the generic reader's content parser on the
  same handle table; no top-level item list, no `BlockReader`.  TC_RESET / TC_EXCEPTION go to
  the generic reader.

What recurs in every message is cached, each cache bounded (cleared when full): the encoded
forms of short `writeUTF` strings (attribute names, session ids), of context-name / session-id
String fields, the block record of an action with a value (by name, checked against type and
action), and, read, what a single-action block record holds (by its bytes).  Values are never
cached: their identity decides back references.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from ..jserial import (
    DEFAULT_LIMITS,
    ClassData,
    ClassDesc,
    JavaObject,
    Limits,
    ObjectWriter,
    mutf8,
)
from ..jserial.constants import (
    BASE_WIRE_HANDLE,
    MAX_BLOCK_SIZE,
    STREAM_HEADER,
    TC_BLOCKDATA,
    TC_BLOCKDATALONG,
    TC_ENDBLOCKDATA,
    TC_EXCEPTION,
    TC_LONGSTRING,
    TC_NULL,
    TC_OBJECT,
    TC_REFERENCE,
    TC_RESET,
    TC_STRING,
)
from ..jserial.reader import _Reader
from ..jserial.values import _JBytes, _JStr
from .classes import CLUSTER_MESSAGE_BASE, SESSION_MESSAGE_IMPL

__all__ = [
    "SMI_PREFIX",
    "decode_delta",
    "decode_session_message",
    "encode_delta",
    "encode_session_message",
]


_U2: Final = struct.Struct(">H")
_I4: Final = struct.Struct(">i")
_I8: Final = struct.Struct(">q")
_I4I4: Final = struct.Struct(">ii")
_REF: Final = struct.Struct(">Bi")
_STRING_HEAD: Final = struct.Struct(">BH")
_LONG_STRING_HEAD: Final = struct.Struct(">Bq")
#: ClusterMessageBase.timestamp, then mEvtType, serializationTimestamp, timestampSet.
_SMI_PRIMS: Final = struct.Struct(">qiq?")
#: The byte[] class descriptor as the first array of a stream writes it (TC_ARRAY included).
_BYTE_ARRAY_HEAD: Final = b"ur\x00\x02[B\xac\xf3\x17\xf8\x06\x08T\xe0\x02\x00\x00xp"
_STR: Final = str
_BYTES: Final = bytes
_new_str = str.__new__


class _Miss(Exception):
    """The fast path does not handle this input: run the generic code."""


# --------------------------------------------------------------------------------------------
# SessionMessageImpl template


def _smi_template() -> tuple[bytes, tuple[object, ...]]:
    """The stream of a SessionMessageImpl up to its field values, and the objects the generic
    writer has handles for at that point (descriptors, field signature strings): a field value
    that is one of them is written as a back reference, which the fast writer leaves to it."""
    obj = JavaObject(
        SESSION_MESSAGE_IMPL,
        [
            ClassData(CLUSTER_MESSAGE_BASE, {"timestamp": 0}, None),
            ClassData(
                SESSION_MESSAGE_IMPL,
                {
                    "mEvtType": 0,
                    "serializationTimestamp": 0,
                    "timestampSet": False,
                    "mContextName": None,
                    "mSession": None,
                    "mSessionID": None,
                    "uniqueId": None,
                },
                None,
            ),
        ],
        None,
    )
    w = ObjectWriter()
    w.write_object(obj)
    data = w.getvalue()
    tail = _SMI_PRIMS.size + 4  # the primitives and four TC_NULLs
    assert data.endswith(b"p" * 4), data
    return data[:-tail], tuple(o for o in w._objs if o is not obj)


#: Every SessionMessageImpl stream (ours and Tomcat's) starts with these bytes.
SMI_PREFIX, _SMI_HANDLED = _smi_template()
#: Ids of those objects (kept alive by _SMI_HANDLED, so the ids cannot be reused).
_SMI_KNOWN: Final = frozenset(map(id, _SMI_HANDLED))
_SMI_PREFIX_LEN: Final = len(SMI_PREFIX)
#: The template, then the primitives.
_SMI_HEAD: Final = struct.Struct(f">{_SMI_PREFIX_LEN}sqiq?")
#: The primitives, then a TC_STRING's type code and length.
_SMI_VALUES: Final = struct.Struct(">qiq?BH")
#: The byte[] head with its length.
_BYTE_ARRAY: Final = struct.Struct(f">{len(_BYTE_ARRAY_HEAD)}si")


# --------------------------------------------------------------------------------------------
# SessionMessageImpl, written


def _string_bytes(s: object) -> bytes:
    """TC_STRING / TC_LONGSTRING for a plain string (a fresh handle)."""
    b = mutf8.encode(s)  # type: ignore[arg-type]
    n = len(b)
    if n <= 0xFFFF:
        return _STRING_HEAD.pack(TC_STRING, n) + b
    return _LONG_STRING_HEAD.pack(TC_LONGSTRING, n) + b


#: `_string_bytes` of context names and session ids: the same few recur in every message.
#: Bounded: cleared when full.
_STRING_CACHE: dict[str, bytes] = {}
_STRING_CACHE_MAX: Final = 4096


def _cached_string_bytes(s: str) -> bytes:
    b = _STRING_CACHE.get(s)
    if b is None:
        b = _string_bytes(s)
        if len(b) <= 259:
            if len(_STRING_CACHE) >= _STRING_CACHE_MAX:
                _STRING_CACHE.clear()
            _STRING_CACHE[s] = b
    return b


def encode_session_message(m: Any) -> bytes | None:
    """`dumps(session_message_to_java(m))`, or None when the generic writer must do it."""
    try:
        ctx = m.context_name
        sid = m.session_id
        uid = m.unique_id
        payload = m.payload
        known = _SMI_KNOWN
        # A String field that is another field's object, or one of the template's (a field
        # signature), is a back reference: left to the generic writer.
        if ctx is None:
            cb = b"p"
        elif (type(ctx) is _STR or type(ctx) is _JStr) and id(ctx) not in known:
            cb = _STRING_CACHE.get(ctx) or _cached_string_bytes(ctx)
        else:
            return None
        if sid is None:
            sb = b"p"
        elif (type(sid) is _STR or type(sid) is _JStr) and id(sid) not in known and sid is not ctx:
            sb = _STRING_CACHE.get(sid) or _cached_string_bytes(sid)
        else:
            return None
        if uid is None:
            ub = b"p"
        elif (
            (type(uid) is _STR or type(uid) is _JStr)
            and id(uid) not in known
            and uid is not ctx
            and uid is not sid
        ):
            ub = _string_bytes(uid)
        else:
            return None
        head = _SMI_HEAD.pack(SMI_PREFIX, m.base_timestamp, m.event, m.timestamp, m.timestamp_set)
        if payload is None:
            return b"".join((head, cb, b"p", sb, ub))
        if type(payload) is _BYTES or type(payload) is _JBytes:
            return b"".join(
                (head, cb, _BYTE_ARRAY.pack(_BYTE_ARRAY_HEAD, len(payload)), payload, sb, ub)
            )
        return None
    except Exception:
        return None


# --------------------------------------------------------------------------------------------
# SessionMessageImpl, read


def _roomy(limits: Limits) -> bool:
    """Whether `limits` let the generic reader read any SessionMessageImpl (10 handles, depth 3,
    7 fields, an 18-byte signature string); value lengths are checked one by one."""
    return limits is DEFAULT_LIMITS or (
        limits.max_depth >= 3
        and limits.max_handles >= 16
        and limits.max_fields >= 7
        and limits.max_string_length >= 18
    )


def _read_string(data: bytes, pos: int, max_len: int) -> tuple[str | None, int]:
    """A String field (TC_STRING, TC_LONGSTRING or TC_NULL) at `pos`."""
    tc = data[pos]
    if tc == TC_STRING:
        n = (data[pos + 1] << 8) | data[pos + 2]
        start = pos + 3
    elif tc == TC_NULL:
        return None, pos + 1
    elif tc == TC_LONGSTRING:
        n = _I8.unpack_from(data, pos + 1)[0]
        start = pos + 9
        if n < 0:
            raise _Miss
    else:
        raise _Miss
    stop = start + n
    if n > max_len or stop > len(data):
        raise _Miss
    b = data[start:stop]
    s = b.decode("ascii") if b.isascii() else mutf8.decode(b)
    if len(s) <= 1:
        s = _new_str(_JStr, s)
    return s, stop


def decode_session_message[A](data: bytes, limits: Limits, make: Callable[..., A]) -> A | None:
    """`session_message_from_java(loads(data))` (any allow-list that admits the
    SessionMessageImpl classes and byte[]), built with `make`; or None."""
    try:
        if type(data) is not bytes or not data.startswith(SMI_PREFIX):
            return None
        if limits is not DEFAULT_LIMITS and not _roomy(limits):
            return None
        end = len(data)
        if end > limits.max_total_bytes:
            return None
        max_len = limits.max_string_length
        # The primitives, and the head of mContextName if it is the usual short String.
        base, event, ts, ts_set, tc, n = _SMI_VALUES.unpack_from(data, _SMI_PREFIX_LEN)
        ctx: str | None
        if tc == TC_STRING and n <= max_len:
            pos = _SMI_VALUES.size + _SMI_PREFIX_LEN + n
            b = data[pos - n : pos]
            ctx = b.decode("ascii") if b.isascii() else mutf8.decode(b)
            if len(ctx) <= 1:
                ctx = _new_str(_JStr, ctx)
        else:
            ctx, pos = _read_string(data, _SMI_PREFIX_LEN + _SMI_PRIMS.size, max_len)
        tc = data[pos]
        payload: bytes | None
        if tc == TC_NULL:
            payload = None
            pos += 1
        elif data.startswith(_BYTE_ARRAY_HEAD, pos):
            pos += len(_BYTE_ARRAY_HEAD)
            n = _I4.unpack_from(data, pos)[0]
            pos += 4
            stop = pos + n
            if n < 0 or n > limits.max_array_length or stop > end:
                return None
            payload = data[pos:stop]
            if n <= 1:
                payload = _JBytes(payload)
            pos = stop
        else:
            return None
        sid: str | None
        sid, pos = _read_string(data, pos, max_len)
        uid: str | None
        uid, pos = _read_string(data, pos, max_len)
        if pos != end:
            return None
        return make(event, ctx, sid, uid, ts, ts_set, payload, base)
    except Exception:
        return None


# --------------------------------------------------------------------------------------------
# java.lang.Boolean (every Tomcat 10.1 request's delta carries ISNEW = false)


def _boolean_template() -> tuple[bytes, ClassDesc, object]:
    """A Boolean written with its class descriptor, without the value byte, and the descriptor
    objects the generic writer and reader hold in their handle tables for it.  The descriptor
    names no other object (a primitive field), so these bytes are the same wherever it comes."""
    w = ObjectWriter()
    w.write_object(False)
    data = w.getvalue()
    assert len(w._objs) == 2 and data.endswith(b"xp\x00"), data  # descriptor, then the object
    r = _Reader(data, DEFAULT_LIMITS, None, True)
    r.pos = len(STREAM_HEADER)
    assert r.content() is False and len(r.handles) == 2
    desc = w._objs[0]
    assert isinstance(desc, ClassDesc)
    return data[len(STREAM_HEADER) : -1], desc, r.handles[0]


#: TC_OBJECT and the Boolean descriptor, new in the stream (the value byte follows), and that
#: descriptor as the generic writer / reader have it.
_BOOLEAN_NEW, _BOOLEAN_WDESC, _BOOLEAN_RDESC = _boolean_template()
_BOOLEAN_NAME: Final = "java.lang.Boolean"
#: TC_OBJECT and a back reference to the Boolean descriptor: the value byte follows.
_BOOLEAN_AGAIN: Final = struct.Struct(">BBi")


# --------------------------------------------------------------------------------------------
# DeltaRequest, written


def _flush(out: bytearray, buf: bytearray) -> None:
    """Pending block data as Java's BlockDataOutputStream writes it (records of <= 1024)."""
    n = len(buf)
    if n <= 0xFF:
        out.append(TC_BLOCKDATA)
        out.append(n)
        out += buf
    else:
        for i in range(0, n, MAX_BLOCK_SIZE):
            chunk = buf[i : i + MAX_BLOCK_SIZE]
            k = len(chunk)
            if k <= 0xFF:
                out.append(TC_BLOCKDATA)
                out.append(k)
            else:
                out.append(TC_BLOCKDATALONG)
                out += _I4.pack(k)
            out += chunk
    buf.clear()


#: Modified UTF-8 with its u2 length of the short strings written with writeUTF (attribute
#: names, session ids): the same few recur in every message.  Bounded: cleared when full.
_UTF_CACHE: dict[str, bytes] = {}
_UTF_CACHE_MAX: Final = 2048
_UTF_CACHE_LEN: Final = 128


def _utf(s: str) -> bytes:
    """`writeUTF` bytes (u2 length + modified UTF-8); misses beyond 65535 encoded bytes."""
    b = _UTF_CACHE.get(s) if type(s) is _STR else None
    if b is not None:
        return b
    e = mutf8.encode(s)
    n = len(e)
    if n > 0xFFFF:
        raise _Miss
    b = _U2.pack(n) + e
    if type(s) is _STR and len(s) <= _UTF_CACHE_LEN:
        if len(_UTF_CACHE) >= _UTF_CACHE_MAX:
            _UTF_CACHE.clear()
        _UTF_CACHE[s] = b
    return b


#: The block data of an action with a value, written when nothing else is pending, by name:
#: (type, action, record).  The same few recur in every message.  Bounded: cleared when full.
_VALUE_RECORDS: dict[str, tuple[int, int, bytes]] = {}


def _value_record(type_: int, action: int, name: str) -> bytes:
    """The block record(s) of an action with a value, alone (cached)."""
    buf = bytearray(_I4I4.pack(type_, action))
    buf += _utf(name)
    buf.append(1)
    out = bytearray()
    _flush(out, buf)
    rec = bytes(out)
    if type(name) is _STR and len(name) <= _UTF_CACHE_LEN:
        if len(_VALUE_RECORDS) >= _UTF_CACHE_MAX:
            _VALUE_RECORDS.clear()
        _VALUE_RECORDS[name] = (type_, action, rec)
    return rec


def encode_delta(session_id: str, record_all: bool, actions: list[Any]) -> bytes | None:
    """`DeltaRequest.encode()` of these fields, or None."""
    try:
        out = bytearray(STREAM_HEADER)
        # The writer's handle table, kept here while only Strings are written; an ObjectWriter
        # takes it over at the first other value.
        handles: dict[int, int] = {}
        objs: list[object] = []
        w: ObjectWriter | None = None
        boolean_desc = -1  # the handle of the Boolean descriptor once written here
        # Block data not yet written: the stream head, then actions without a value.
        buf = bytearray(_utf(session_id))
        buf.append(1 if record_all else 0)
        buf += _I4.pack(len(actions))
        pack2 = _I4I4.pack
        records = _VALUE_RECORDS
        utf_cache = _UTF_CACHE
        for a in actions:
            value = a.value
            if value is not None and not buf:
                # The usual case: the action alone in one record (the value comes after it).
                # (`is`: small ints are shared; a float or a bool that equals one is not.)
                r = records.get(a.name)
                if r is not None and r[0] is a.type and r[1] is a.action:
                    out += r[2]
                else:
                    out += _value_record(a.type, a.action, a.name)
            else:
                buf += pack2(a.type, a.action)
                buf += utf_cache.get(a.name) or _utf(a.name)
                if value is None:
                    buf.append(0)
                    continue
                # The block data up to the value is flushed before it, as Java does.
                buf.append(1)
                _flush(out, buf)
            if type(value) is _STR:
                vid = id(value)
                h = handles.get(vid)
                if h is not None:
                    out += _REF.pack(TC_REFERENCE, h + BASE_WIRE_HANDLE)
                    continue
                handles[vid] = len(objs)
                objs.append(value)
                if value.isascii():  # mutf8.encode, inlined
                    vb = value.encode("ascii")
                    if 0 in vb:
                        vb = vb.replace(b"\x00", b"\xc0\x80")
                else:
                    vb = mutf8.encode(value)
                if len(vb) <= 0xFFFF:
                    out += _STRING_HEAD.pack(TC_STRING, len(vb))
                else:
                    out += _LONG_STRING_HEAD.pack(TC_LONGSTRING, len(vb))
                out += vb
            elif type(value) is bool and w is None:
                # Written here as the generic writer does (descriptor handle, then the
                # object's).  True and False are singletons: one handle each.
                vid = id(value)
                h = handles.get(vid)
                if h is not None:
                    out += _REF.pack(TC_REFERENCE, h + BASE_WIRE_HANDLE)
                    continue
                if boolean_desc < 0:
                    boolean_desc = len(objs)
                    handles[id(_BOOLEAN_WDESC)] = boolean_desc
                    objs.append(_BOOLEAN_WDESC)
                    out += _BOOLEAN_NEW
                else:
                    out += _BOOLEAN_AGAIN.pack(
                        TC_OBJECT, TC_REFERENCE, boolean_desc + BASE_WIRE_HANDLE
                    )
                handles[vid] = len(objs)
                objs.append(value)
                out.append(value)
            else:
                if w is None:
                    w = ObjectWriter()
                    w._out = out
                    w._handles = handles
                    w._objs = objs
                    if boolean_desc >= 0:
                        w._descs[_BOOLEAN_NAME] = [(_BOOLEAN_WDESC, boolean_desc)]
                w.write_object(value)
                handles = w._handles
                objs = w._objs
        if buf:
            _flush(out, buf)
        return bytes(out)
    except Exception:
        return None


# --------------------------------------------------------------------------------------------
# DeltaRequest, read


def _block_run(data: bytes, pos: int, end: int, max_block: int) -> tuple[bytes, int]:
    """The bytes of the consecutive block records at `pos` (maybe none), and where they end."""
    first = b""
    parts: list[bytes] | None = None
    while pos < end:
        tc = data[pos]
        if tc == TC_BLOCKDATA:
            start = pos + 2
            stop = start + data[pos + 1]
        elif tc == TC_BLOCKDATALONG:
            n = _I4.unpack_from(data, pos + 1)[0]
            if n < 0 or n > max_block:
                raise _Miss
            start = pos + 5
            stop = start + n
        else:
            break
        if stop > end:
            raise _Miss
        chunk = data[start:stop]
        if parts is not None:
            parts.append(chunk)
        elif first:
            parts = [first, chunk]
        else:
            first = chunk
        pos = stop
    return (first if parts is None else b"".join(parts)), pos


def _boolean_head(buf: bytes, pos: int, desc: int) -> int:
    """The length of a Boolean's head (TC_OBJECT and its descriptor: new if `desc` < 0, else
    a reference to handle `desc`) at `pos`, or 0 if something else is there."""
    if desc < 0:
        return len(_BOOLEAN_NEW) if buf.startswith(_BOOLEAN_NEW, pos) else 0
    head = _BOOLEAN_AGAIN.pack(TC_OBJECT, TC_REFERENCE, desc + BASE_WIRE_HANDLE)
    return len(head) if buf.startswith(head, pos) else 0


#: Type codes that may not start a value at the top level of a DeltaRequest stream (block
#: records where a value is due are an error; reset and exception go to the generic reader).
_NOT_A_VALUE: Final = frozenset(
    (TC_BLOCKDATA, TC_BLOCKDATALONG, TC_ENDBLOCKDATA, TC_RESET, TC_EXCEPTION)
)
#: type, action and the u2 length of the name of one action.
_ACTION_HEAD: Final = struct.Struct(">iiH")


#: Block records holding exactly one action (type, action, name, has-value flag), as they
#: recur in every message, with what they hold.  Bounded: cleared when full.
_RECORDS: dict[bytes, tuple[int, int, str, bool]] = {}
_RECORDS_MAX: Final = 2048


def _action_record(rec: bytes) -> tuple[int, int, str, bool] | None:
    """What the block record `rec` holds if that is exactly one action (then cached)."""
    n = len(rec)
    if n < 14 or rec[1] != n - 2:
        return None
    type_, action, k = _ACTION_HEAD.unpack_from(rec, 2)
    if k + 13 != n:
        return None
    b = rec[12:-1]
    hit = (type_, action, b.decode("ascii") if b.isascii() else mutf8.decode(b), rec[-1] != 0)
    if len(_RECORDS) >= _RECORDS_MAX:
        _RECORDS.clear()
    _RECORDS[rec] = hit
    return hit


def decode_delta[A](
    data: bytes | bytearray | memoryview,
    limits: Limits,
    max_actions: int,
    make: Callable[[int, int, str, object], A],
) -> tuple[str, bool, list[A]] | None:
    """(session id, recordAllActions, actions built with `make`) exactly as
    `DeltaRequest.decode` reads them, or None."""
    try:
        buf = data if type(data) is bytes else bytes(data)
        end = len(buf)
        if end > limits.max_total_bytes or not buf.startswith(STREAM_HEADER):
            return None
        max_block = limits.max_block_bytes
        max_string = limits.max_string_length
        max_handles = limits.max_handles
        # Block data is read from `rb`, positions p..rend: `buf` itself for a single short
        # record (no copy), else the records joined; `pos` is where the stream continues.
        pos = 6 + buf[5]
        if buf[4] == TC_BLOCKDATA and (
            pos == end or (pos < end and buf[pos] != TC_BLOCKDATA and buf[pos] != TC_BLOCKDATALONG)
        ):
            rb = buf
            p = 6
            rend = pos
        else:
            rb, pos = _block_run(buf, 4, end, max_block)
            p = 0
            rend = len(rb)
        n = (rb[p] << 8) | rb[p + 1]
        q = p + 2 + n
        if q + 5 > rend:
            return None
        b = rb[p + 2 : q]
        sid = b.decode("ascii") if b.isascii() else mutf8.decode(b)
        p = q
        record_all = rb[p] != 0
        count = _I4.unpack_from(rb, p + 1)[0]
        p += 5
        if not 0 <= count <= max_actions:
            return None
        actions: list[A] = []
        # The reader's handle table: Strings and references to them are read here; any other
        # value by a generic reader working on the same table.
        handles: list[object] = []
        reader: _Reader | None = None
        boolean_desc = -1  # the handle of the Boolean descriptor once read here
        head = _ACTION_HEAD.unpack_from
        records = _RECORDS
        for _ in range(count):
            if p == rend:
                # Block data used up: the usual next content is one short record holding
                # exactly this action, looked up whole (the same few recur in every message);
                # anything else is joined into `rb`.
                if buf[pos] == TC_BLOCKDATA:
                    stop = pos + 2 + buf[pos + 1]
                    rec = buf[pos:stop]
                    hit = records.get(rec) or _action_record(rec)
                    if hit is not None:
                        type_, action, name, has = hit
                        pos = stop
                        if not has:
                            actions.append(make(type_, action, name, None))
                            continue
                        rend = -1  # (marks the action as read)
                if rend != -1:
                    rb, pos = _block_run(buf, pos, end, max_block)
                    p = 0
                    rend = len(rb)
                    if not rend:
                        return None
            if rend != -1:
                type_, action, n = head(rb, p)
                q = p + 10 + n
                if q >= rend:  # the name and the has-value flag are within the block data
                    return None
                b = rb[p + 10 : q]
                name = b.decode("ascii") if b.isascii() else mutf8.decode(b)
                p = q + 1
                if not rb[q]:
                    actions.append(make(type_, action, name, None))
                    continue
                if p != rend:
                    return None
            else:
                p = rend = 0
            # The value, right after the block data.
            value: object
            tc = buf[pos]
            if tc == TC_STRING:
                n = (buf[pos + 1] << 8) | buf[pos + 2]
                start = pos + 3
                pos = start + n
                if pos > end or n > max_string or len(handles) >= max_handles:
                    return None
                b = buf[start:pos]
                sv = b.decode("ascii") if b.isascii() else mutf8.decode(b)
                value = sv if len(sv) > 1 else _new_str(_JStr, sv)
                handles.append(value)
            elif tc == TC_REFERENCE:
                h = _I4.unpack_from(buf, pos + 1)[0] - BASE_WIRE_HANDLE
                if not 0 <= h < len(handles):
                    return None
                value = handles[h]
                if value is None or value is _BOOLEAN_RDESC:
                    return None
                pos += 5
            elif (
                tc == TC_OBJECT
                and reader is None
                and limits is DEFAULT_LIMITS
                and (k := _boolean_head(buf, pos, boolean_desc))
            ):
                # A Boolean, its descriptor new (then at handle `boolean_desc`) or referenced.
                if boolean_desc < 0:
                    boolean_desc = len(handles)
                    handles.append(_BOOLEAN_RDESC)
                pos += k
                flag = buf[pos]
                if flag > 1 or len(handles) >= max_handles:
                    return None
                value = flag == 1
                handles.append(value)
                pos += 1
            else:
                if tc in (TC_BLOCKDATA, TC_BLOCKDATALONG):
                    # Empty records may separate the block data from the value.
                    more, pos = _block_run(buf, pos, end, max_block)
                    if more:
                        return None
                    tc = buf[pos]
                if tc in _NOT_A_VALUE:
                    return None
                if reader is None:
                    reader = _Reader(buf, limits, None, True)
                    reader.handles = handles
                reader.pos = pos
                value = reader.content()
                pos = reader.pos
            actions.append(make(type_, action, name, value))
        if p != rend:
            return None
        if pos != end:  # only empty block records may follow
            more, pos = _block_run(buf, pos, end, max_block)
            if more or pos != end:
                return None
        return sid, record_all, actions
    except Exception:
        return None
