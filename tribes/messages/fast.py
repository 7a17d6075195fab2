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
- DeltaRequest, written: the block data is built in one buffer and cut into records like Java's
  BlockDataOutputStream; the values are written by one `ObjectWriter` (Strings inline).
- DeltaRequest, read: block records are walked directly and the values are read by the generic
  reader's content parser on the same handle table, without building the top-level item list
  and a `BlockReader` over it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from ..jserial import DEFAULT_LIMITS, ClassData, JavaObject, Limits, ObjectWriter, mutf8
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
    """The stream of a SessionMessageImpl up to its field values, and the ids of the objects the
    generic writer has handles for at that point (field signature strings): a field value that
    is one of them is written as a back reference, which the fast writer leaves to it."""
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


# --------------------------------------------------------------------------------------------
# SessionMessageImpl, written


def _string_bytes(s: object) -> bytes:
    """TC_STRING / TC_LONGSTRING for a plain string (a fresh handle)."""
    b = mutf8.encode(s)  # type: ignore[arg-type]
    n = len(b)
    if n <= 0xFFFF:
        return b"t" + _U2.pack(n) + b
    return b"|" + _I8.pack(n) + b


def encode_session_message(m: Any) -> bytes | None:
    """`dumps(session_message_to_java(m))`, or None when the generic writer must do it."""
    try:
        ctx = m.context_name
        sid = m.session_id
        uid = m.unique_id
        payload = m.payload
        known = _SMI_KNOWN
        parts = [
            SMI_PREFIX,
            _SMI_PRIMS.pack(m.base_timestamp, m.event, m.timestamp, m.timestamp_set),
        ]
        if ctx is None:
            parts.append(b"p")
        elif (type(ctx) is _STR or type(ctx) is _JStr) and id(ctx) not in known:
            parts.append(_string_bytes(ctx))
        else:
            return None
        if payload is None:
            parts.append(b"p")
        elif type(payload) is _BYTES or type(payload) is _JBytes:
            parts.append(_BYTE_ARRAY_HEAD)
            parts.append(_I4.pack(len(payload)))
            parts.append(payload)
        else:
            return None
        if sid is None:
            parts.append(b"p")
        elif (type(sid) is _STR or type(sid) is _JStr) and id(sid) not in known and sid is not ctx:
            parts.append(_string_bytes(sid))
        else:
            return None
        if uid is None:
            parts.append(b"p")
        elif (
            (type(uid) is _STR or type(uid) is _JStr)
            and id(uid) not in known
            and uid is not ctx
            and uid is not sid
        ):
            parts.append(_string_bytes(uid))
        else:
            return None
        return b"".join(parts)
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
        if type(data) is not bytes or not data.startswith(SMI_PREFIX) or not _roomy(limits):
            return None
        end = len(data)
        if end > limits.max_total_bytes:
            return None
        pos = _SMI_PREFIX_LEN
        base, event, ts, ts_set = _SMI_PRIMS.unpack_from(data, pos)
        max_len = limits.max_string_length
        ctx, pos = _read_string(data, pos + _SMI_PRIMS.size, max_len)
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
        sid, pos = _read_string(data, pos, max_len)
        uid, pos = _read_string(data, pos, max_len)
        if pos != end:
            return None
        return make(event, ctx, sid, uid, ts, ts_set, payload, base)
    except Exception:
        return None


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


def _utf(s: str) -> bytes:
    b = mutf8.encode(s)
    if len(b) > 0xFFFF:
        raise _Miss
    return _U2.pack(len(b)) + b


def encode_delta(session_id: str, record_all: bool, actions: list[Any]) -> bytes | None:
    """`DeltaRequest.encode()` of these fields, or None."""
    try:
        w = ObjectWriter()
        out = w._out
        handles = w._handles
        objs = w._objs
        buf = bytearray(_utf(session_id))
        buf.append(1 if record_all else 0)
        buf += _I4.pack(len(actions))
        pack2 = _I4I4.pack
        for a in actions:
            value = a.value
            buf += pack2(a.type, a.action)
            buf += _utf(a.name)
            if value is None:
                buf.append(0)
                continue
            buf.append(1)
            _flush(out, buf)
            if type(value) is _STR:
                h = handles.get(id(value))
                if h is not None:
                    out += _REF.pack(0x71, h + BASE_WIRE_HANDLE)
                else:
                    handles[id(value)] = len(objs)
                    objs.append(value)
                    out += _string_bytes(value)
            else:
                w.write_object(value)
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


def _read_utf(run: bytes, p: int) -> tuple[str, int]:
    """`readUTF` from block data (plain str, never a stream object)."""
    n = (run[p] << 8) | run[p + 1]
    q = p + 2 + n
    if q > len(run):
        raise _Miss
    b = run[p + 2 : q]
    return (b.decode("ascii") if b.isascii() else mutf8.decode(b)), q


#: Type codes that may not start a value at the top level of a DeltaRequest stream (block
#: records where a value is due are an error; reset and exception go to the generic reader).
_NOT_A_VALUE: Final = frozenset(
    (TC_BLOCKDATA, TC_BLOCKDATALONG, TC_ENDBLOCKDATA, TC_RESET, TC_EXCEPTION)
)


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
        run, pos = _block_run(buf, 4, end, max_block)
        sid, p = _read_utf(run, 0)
        record_all = run[p] != 0
        count = _I4.unpack_from(run, p + 1)[0]
        p += 5
        if not 0 <= count <= max_actions:
            return None
        actions: list[A] = []
        reader: _Reader | None = None
        unpack2 = _I4I4.unpack_from
        for _ in range(count):
            type_, action = unpack2(run, p)
            name, p = _read_utf(run, p + 8)
            has = run[p] != 0
            p += 1
            value: object = None
            if has:
                if p != len(run):
                    return None
                if reader is None:
                    reader = _Reader(buf, limits, None, True)
                tc = buf[pos]
                if tc == TC_STRING:
                    reader.pos = pos + 1
                    value = reader.string_body(False)
                elif tc in _NOT_A_VALUE:
                    return None
                else:
                    reader.pos = pos
                    value = reader.content()
                run, pos = _block_run(buf, reader.pos, end, max_block)
                p = 0
            actions.append(make(type_, action, name, value))
        if p != len(run) or pos != end:
            return None
        return sid, record_all, actions
    except Exception:
        return None
