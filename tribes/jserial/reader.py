"""Sans-io reader of Java serialization streams (protocol version 2).

`read_stream` returns every top-level content of a stream; `loads` exactly one object.  Handles
are assigned exactly like ``java.io.ObjectInputStream`` does, so TC_REFERENCE resolves to the
same Python object the referenced content produced.  Any malformed input raises a
`~tribes.errors.ProtocolError` subclass carrying the byte offset: `SerializationError` for
grammar violations and truncation, `LimitExceeded` when a `Limits` bound is crossed (checked
before allocating), `ClassNotAllowed` when the `allow` callback rejects a class name.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from ..errors import ClassNotAllowed, LimitExceeded, SerializationError
from . import catalog, mutf8
from .constants import (
    BASE_WIRE_HANDLE,
    SC_BLOCK_DATA,
    SC_ENUM,
    SC_EXTERNALIZABLE,
    SC_SERIALIZABLE,
    SC_WRITE_METHOD,
    STREAM_HEADER,
    TC_ARRAY,
    TC_BLOCKDATA,
    TC_BLOCKDATALONG,
    TC_CLASS,
    TC_CLASSDESC,
    TC_ENDBLOCKDATA,
    TC_ENUM,
    TC_EXCEPTION,
    TC_LONGSTRING,
    TC_NULL,
    TC_OBJECT,
    TC_PROXYCLASSDESC,
    TC_REFERENCE,
    TC_RESET,
    TC_STRING,
)
from .limits import DEFAULT_LIMITS, Limits
from .model import (
    AnyClassDesc,
    BlockData,
    ClassData,
    ClassDesc,
    FieldDesc,
    JavaArray,
    JavaClass,
    JavaEnum,
    JavaException,
    JavaObject,
    ProxyClassDesc,
)
from .values import (
    HashMeta,
    JBoolean,
    JByte,
    JCharacter,
    JDouble,
    JFloat,
    JHashMap,
    JHashSet,
    JInteger,
    JLinkedHashMap,
    JLinkedHashSet,
    JLinkedList,
    JLong,
    JShort,
    JTreeMap,
    SetMeta,
    _JBytes,
    _JStr,
    _JTuple,
    millis_to_date,
)

__all__ = ["loads", "read_stream"]

_U2: Final = struct.Struct(">H")
_I4: Final = struct.Struct(">i")
_I8: Final = struct.Struct(">q")
_DESC_TAIL: Final = struct.Struct(">qBH")
_I4I4: Final = struct.Struct(">ii")
_SET_HEAD: Final = struct.Struct(">ifi")

#: typecode → (struct code, element size)
_PRIM: Final[dict[str, tuple[str, int]]] = {
    "B": ("b", 1),
    "C": ("H", 2),
    "D": ("d", 8),
    "F": ("f", 4),
    "I": ("i", 4),
    "J": ("q", 8),
    "S": ("h", 2),
    "Z": ("?", 1),
}
_STRUCTS: dict[str, struct.Struct] = {}

_new_int = int.__new__
_new_float = float.__new__
_new_str = str.__new__


class _Abort(Exception):
    """TC_EXCEPTION met while reading a top-level content."""

    def __init__(self, throwable: object, offset: int) -> None:
        self.throwable = throwable
        self.offset = offset


# A class level of an object's layout:
# (desc, primitive Struct or None, primitive names, char field indexes, object names,
#  has custom data)
_Level = tuple[
    AnyClassDesc, struct.Struct | None, tuple[str, ...], tuple[int, ...], tuple[str, ...], bool
]
_Fast = Callable[["_Reader"], object]
_Conv = Callable[[JavaObject], object]


class _Reader:
    __slots__ = (
        "allow",
        "bool_used",
        "building",
        "data",
        "depth",
        "end",
        "handles",
        "in_exception",
        "limits",
        "natural",
        "nocache",
        "pending",
        "pos",
        "refs",
    )

    def __init__(
        self,
        data: bytes,
        limits: Limits,
        allow: Callable[[str], bool] | None,
        natural: bool,
    ) -> None:
        self.data = data
        self.end = len(data)
        self.pos = 0
        self.limits = limits
        self.allow = allow
        self.natural = natural
        self.handles: list[object] = []
        self.depth = 0
        self.pending: dict[int, bool] = {}
        # While class descriptors are being read (`building` of them): the references they
        # make (handle, object), and whether something in them (annotations, a proxy) makes
        # them uncacheable.
        self.building = 0
        self.refs: list[tuple[int, object]] = []
        self.nocache = False
        self.bool_used = [False, False]
        self.in_exception = False

    # ----------------------------------------------------------------------------- helpers

    def fail(self, message: str, offset: int | None = None) -> SerializationError:
        return SerializationError(message, self.pos if offset is None else offset)

    def truncated(self, offset: int | None = None) -> SerializationError:
        return SerializationError("truncated stream", self.pos if offset is None else offset)

    def reset(self) -> None:
        self.handles.clear()
        self.pending.clear()
        self.bool_used = [False, False]

    def new_handle(self) -> int:
        h = len(self.handles)
        if h >= self.limits.max_handles:
            raise LimitExceeded(f"more than {self.limits.max_handles} handles", self.pos)
        self.handles.append(None)
        return h

    def read_utf(self) -> str:
        """u2 length + modified UTF-8 (class names, field names, interface names)."""
        data = self.data
        pos = self.pos
        if pos + 2 > self.end:
            raise self.truncated()
        n = (data[pos] << 8) | data[pos + 1]
        start = pos + 2
        stop = start + n
        if stop > self.end:
            raise self.truncated()
        self.pos = stop
        b = data[start:stop]
        if b.isascii():
            return b.decode("ascii")
        try:
            return mutf8.decode(b)
        except mutf8.MUTF8Error as e:
            raise self.fail(f"bad modified UTF-8: {e}", start + e.position) from None

    def string_body(self, long: bool) -> str:
        """The part of TC_STRING / TC_LONGSTRING after the type code; assigns the handle."""
        data = self.data
        pos = self.pos
        if long:
            if pos + 8 > self.end:
                raise self.truncated()
            n = _I8.unpack_from(data, pos)[0]
            start = pos + 8
            if n < 0:
                raise self.fail(f"negative string length {n}")
        else:
            if pos + 2 > self.end:
                raise self.truncated()
            n = (data[pos] << 8) | data[pos + 1]
            start = pos + 2
        if n > self.limits.max_string_length:
            raise LimitExceeded(f"string of {n} bytes exceeds the limit", pos)
        stop = start + n
        if stop > self.end:
            raise self.truncated()
        b = data[start:stop]
        if b.isascii():
            s = b.decode("ascii")
        else:
            try:
                s = mutf8.decode(b)
            except mutf8.MUTF8Error as e:
                raise self.fail(f"bad modified UTF-8: {e}", start + e.position) from None
        if len(s) <= 1:
            s = _new_str(_JStr, s)
        self.pos = stop
        handles = self.handles
        if len(handles) >= self.limits.max_handles:
            raise LimitExceeded(f"more than {self.limits.max_handles} handles", pos)
        handles.append(s)
        return s

    def reference(self) -> object:
        """TC_REFERENCE (type code already consumed)."""
        pos = self.pos
        if pos + 4 > self.end:
            raise self.truncated()
        h = _I4.unpack_from(self.data, pos)[0] - BASE_WIRE_HANDLE
        handles = self.handles
        if not 0 <= h < len(handles):
            raise self.fail(f"invalid handle {h + BASE_WIRE_HANDLE:#x}", pos)
        obj = handles[h]
        if obj is None:
            raise self.fail("reference to an object that is still being read", pos)
        if self.pending and h in self.pending:
            self.pending[h] = True
        self.pos = pos + 4
        return obj

    def string_or_ref(self, what: str) -> str:
        data = self.data
        pos = self.pos
        if pos >= self.end:
            raise self.truncated()
        tc = data[pos]
        self.pos = pos + 1
        if tc == TC_STRING:
            return self.string_body(False)
        if tc == TC_REFERENCE:
            s = self.reference()
            if not isinstance(s, str):
                raise self.fail(f"{what} refers to a {type(s).__name__}, not a string", pos)
            if self.building:
                self.refs.append((_I4.unpack_from(data, pos + 1)[0] - BASE_WIRE_HANDLE, s))
            return s
        if tc == TC_LONGSTRING:
            return self.string_body(True)
        raise self.fail(f"expected a string for {what}, found type code {tc:#04x}", pos)

    def enter(self) -> None:
        d = self.depth + 1
        if d > self.limits.max_depth:
            raise LimitExceeded(f"nesting deeper than {self.limits.max_depth}", self.pos)
        self.depth = d

    # ----------------------------------------------------------------------------- contents

    def content(self) -> object:
        """Any content in an object position."""
        data = self.data
        pos = self.pos
        if pos >= self.end:
            raise self.truncated()
        tc = data[pos]
        self.pos = pos + 1
        if tc == TC_STRING:
            return self.string_body(False)
        if tc == TC_NULL:
            return None
        if tc == TC_REFERENCE:
            return self.reference()
        if tc == TC_OBJECT:
            return self.read_object()
        if tc == TC_ARRAY:
            return self.read_array()
        if tc == TC_ENUM:
            return self.read_enum()
        if tc == TC_LONGSTRING:
            return self.string_body(True)
        if tc == TC_CLASS:
            return self.read_class()
        if tc == TC_CLASSDESC:
            return self.new_class_desc()
        if tc == TC_PROXYCLASSDESC:
            return self.new_proxy_desc()
        if tc == TC_EXCEPTION:
            self.exception(pos)
        if tc in (TC_BLOCKDATA, TC_BLOCKDATALONG):
            raise self.fail("block data where an object was expected", pos)
        if tc == TC_ENDBLOCKDATA:
            raise self.fail("TC_ENDBLOCKDATA where an object was expected", pos)
        if tc == TC_RESET:
            raise self.fail("TC_RESET inside an object", pos)
        raise self.fail(f"invalid type code {tc:#04x}", pos)

    def exception(self, pos: int) -> None:
        if self.in_exception:
            raise self.fail("TC_EXCEPTION while reading an exception", pos)
        self.reset()
        self.in_exception = True
        throwable = self.content()
        self.in_exception = False
        self.reset()
        raise _Abort(throwable, pos)

    def block(self, tc: int) -> BlockData:
        """A block record whose type code (at self.pos) is TC_BLOCKDATA or TC_BLOCKDATALONG."""
        data = self.data
        pos = self.pos
        if tc == TC_BLOCKDATA:
            if pos + 2 > self.end:
                raise self.truncated()
            n = data[pos + 1]
            start = pos + 2
        else:
            if pos + 5 > self.end:
                raise self.truncated()
            n = _I4.unpack_from(data, pos + 1)[0]
            start = pos + 5
            if n < 0:
                raise self.fail(f"negative block length {n}", pos)
            if n > self.limits.max_block_bytes:
                raise LimitExceeded(f"block of {n} bytes exceeds the limit", pos)
        stop = start + n
        if stop > self.end:
            raise self.truncated(pos)
        self.pos = stop
        return BlockData(data[start:stop])

    def annotations(self) -> list[object]:
        """Contents up to TC_ENDBLOCKDATA: block records and objects."""
        items: list[object] = []
        data = self.data
        while True:
            pos = self.pos
            if pos >= self.end:
                raise self.truncated()
            tc = data[pos]
            if tc == TC_ENDBLOCKDATA:
                self.pos = pos + 1
                return items
            if tc in (TC_BLOCKDATA, TC_BLOCKDATALONG):
                items.append(self.block(tc))
            else:
                items.append(self.content())

    # ----------------------------------------------------------------------------- descriptors

    def class_desc(self) -> AnyClassDesc | None:
        """A content in a class descriptor position."""
        data = self.data
        pos = self.pos
        if pos >= self.end:
            raise self.truncated()
        tc = data[pos]
        self.pos = pos + 1
        if tc == TC_REFERENCE:
            d = self.reference()
            if not isinstance(d, ClassDesc | ProxyClassDesc):
                raise self.fail(
                    f"reference to a {type(d).__name__} where a class descriptor was expected", pos
                )
            if self.building:
                self.refs.append((_I4.unpack_from(data, pos + 1)[0] - BASE_WIRE_HANDLE, d))
            return d
        if tc == TC_CLASSDESC:
            return self.new_class_desc()
        if tc == TC_NULL:
            return None
        if tc == TC_PROXYCLASSDESC:
            return self.new_proxy_desc()
        raise self.fail(f"expected a class descriptor, found type code {tc:#04x}", pos)

    def check_allowed(self, name: str, offset: int) -> None:
        allow = self.allow
        if allow is not None and not allow(name):
            raise ClassNotAllowed(f"class {name!r} is not allowed", offset)

    def set_superclass(self, desc: AnyClassDesc, sup: AnyClassDesc | None, pos: int) -> None:
        d = sup
        while d is not None:
            if d is desc:
                raise self.fail("cyclic superclass chain", pos)
            d = d.superclass
        desc.superclass = sup

    def new_class_desc(self) -> ClassDesc:
        """TC_CLASSDESC (type code already consumed)."""
        start = self.pos
        hbase = len(self.handles)
        data = self.data
        # Keyed by the handle base and the class name bytes (u2 length + name): every span is at
        # least that long, so the key of a span is the same whatever follows it in the stream.
        entries = (
            _DESC_CACHE.get(
                (hbase, data[start : start + 2 + ((data[start] << 8) | data[start + 1])])
            )
            if start + 2 <= self.end
            else None
        )
        if entries is not None:
            for entry in entries:
                if data.startswith(entry.span, start) and self.cached_desc(entry):
                    return entry.desc
        saved_nocache = self.nocache
        self.nocache = False
        mark = len(self.refs)
        self.building += 1
        desc = self.parse_class_desc()
        self.building -= 1
        if not self.nocache:
            # References to handles assigned before this descriptor: cacheable only when they
            # point at class descriptors, checked by identity when the entry is used.
            ext = tuple((h, o) for h, o in self.refs[mark:] if h < hbase)
            if all(isinstance(o, ClassDesc) for _, o in ext):
                _remember(hbase, data[start : self.pos], self.handles[hbase:], desc, ext)
        if not self.building:
            self.refs.clear()
        self.nocache = self.nocache or saved_nocache
        return desc

    def cached_desc(self, e: _DescEntry) -> bool:
        """Take a cached descriptor chain if the current limits allow it (else parse it, which
        raises the right error at the right offset)."""
        lim = self.limits
        if (
            e.max_fields > lim.max_fields
            or e.max_string > lim.max_string_length
            or self.depth + e.depth > lim.max_depth
            or len(self.handles) + len(e.objs) > lim.max_handles
        ):
            return False
        handles = self.handles
        for h, o in e.ext:
            if handles[h] is not o:
                return False
        allow = self.allow
        if allow is not None:
            for name in e.names:
                if not allow(name):
                    return False  # the parse raises ClassNotAllowed with the exact offset
        if self.building:
            self.refs.extend(e.ext)
        handles.extend(e.objs)
        self.pos += len(e.span)
        return True

    def parse_class_desc(self) -> ClassDesc:
        self.enter()
        start = self.pos
        h = self.new_handle()
        name = self.read_utf()
        data = self.data
        pos = self.pos
        if pos + 11 > self.end:
            raise self.truncated()
        suid, flags, nfields = _DESC_TAIL.unpack_from(data, pos)
        pos += 11
        if nfields > self.limits.max_fields:
            raise LimitExceeded(f"class {name!r} declares {nfields} fields", pos - 2)
        if nfields * 3 > self.end - pos:
            raise self.truncated()
        self.check_allowed(name, start)
        self.pos = pos
        fields: list[FieldDesc] = []
        names: set[str] = set()
        seen_object = False
        for _ in range(nfields):
            fpos = self.pos
            if fpos >= self.end:
                raise self.truncated()
            tcode = chr(data[fpos])
            self.pos = fpos + 1
            fname = self.read_utf()
            if fname in names:
                raise self.fail(f"duplicate field {fname!r} in class {name!r}", fpos)
            names.add(fname)
            if tcode == "L" or tcode == "[":
                sig = self.string_or_ref("a field type signature")
                if not sig or sig[0] not in "L[":
                    raise self.fail(f"invalid type signature {sig!r} of field {fname!r}", fpos)
                fields.append(FieldDesc(tcode, fname, sig))
                seen_object = True
            elif tcode in _PRIM:
                if seen_object:
                    raise self.fail(f"illegal field order in class {name!r}", fpos)
                fields.append(FieldDesc(tcode, fname, None))
            else:
                raise self.fail(f"invalid field type code {tcode!r}", fpos)
        if flags & SC_SERIALIZABLE and flags & SC_EXTERNALIZABLE:
            raise self.fail(
                f"class {name!r} is flagged both serializable and externalizable", start
            )
        if flags & SC_ENUM and (fields or suid != 0):
            raise self.fail(f"enum class {name!r} with fields or a serialVersionUID", start)
        desc = ClassDesc(name, suid, flags, tuple(fields), None, [])
        self.handles[h] = desc
        if data[self.pos : self.pos + 1] == b"\x78":
            self.pos += 1
        else:
            self.nocache = True  # annotations may hold anything: never cache
            desc.annotations = self.annotations()
        spos = self.pos
        self.set_superclass(desc, self.class_desc(), spos)
        spec = _NATURAL.get(name)
        if spec is not None and catalog.same_desc(desc, spec[0]):
            desc._nat = spec
        self.depth -= 1
        return desc

    def new_proxy_desc(self) -> ProxyClassDesc:
        """TC_PROXYCLASSDESC (type code already consumed)."""
        self.enter()
        h = self.new_handle()
        pos = self.pos
        if pos + 4 > self.end:
            raise self.truncated()
        n = _I4.unpack_from(self.data, pos)[0]
        if n < 0:
            raise self.fail(f"negative interface count {n}", pos)
        if n > self.limits.max_fields:
            raise LimitExceeded(f"proxy class with {n} interfaces", pos)
        if n * 2 > self.end - pos - 4:
            raise self.truncated()
        self.pos = pos + 4
        names: list[str] = []
        for _ in range(n):
            npos = self.pos
            iname = self.read_utf()
            self.check_allowed(iname, npos)
            names.append(iname)
        desc = ProxyClassDesc(tuple(names), None, [])
        self.handles[h] = desc
        self.nocache = True
        self.building += 1
        desc.annotations = self.annotations()
        spos = self.pos
        self.set_superclass(desc, self.class_desc(), spos)
        self.building -= 1
        self.depth -= 1
        return desc

    def layout(self, desc: AnyClassDesc) -> list[_Level]:
        levels: list[_Level] = []
        for d in desc.hierarchy():
            if isinstance(d, ProxyClassDesc):
                levels.append((d, None, (), (), (), False))
                continue
            if not d.flags & SC_SERIALIZABLE:
                continue
            fmt = ">"
            pnames: list[str] = []
            chars: list[int] = []
            onames: list[str] = []
            for f in d.fields:
                spec = _PRIM.get(f.typecode)
                if spec is None:
                    onames.append(f.name)
                else:
                    if f.typecode == "C":
                        chars.append(len(pnames))
                    pnames.append(f.name)
                    fmt += spec[0]
            st: struct.Struct | None = None
            if pnames:
                st = _STRUCTS.get(fmt)
                if st is None:
                    st = _STRUCTS[fmt] = struct.Struct(fmt)
            levels.append(
                (d, st, tuple(pnames), tuple(chars), tuple(onames), bool(d.flags & SC_WRITE_METHOD))
            )
        return levels

    # ----------------------------------------------------------------------------- objects

    def read_object(self) -> object:
        """TC_OBJECT (type code already consumed)."""
        self.enter()
        dpos = self.pos
        desc = self.class_desc()
        if desc is None:
            raise self.fail("object with a null class descriptor", dpos)
        handles = self.handles
        nat = desc._nat if self.natural else None
        conv = None
        if nat is not None:
            fast = nat[1]
            if fast is not None:
                h = self.new_handle()
                value = fast(self)
                handles[h] = value
                self.depth -= 1
                return value
            conv = nat[2]
        flags = desc.flags
        obj = JavaObject(desc, [], None)
        h = len(handles)
        if h >= self.limits.max_handles:
            raise LimitExceeded(f"more than {self.limits.max_handles} handles", self.pos)
        handles.append(obj)
        if conv is not None:
            self.pending[h] = False
        if flags & SC_EXTERNALIZABLE:
            if not flags & SC_BLOCK_DATA:
                raise self.fail(
                    f"{desc.name}: externalizable data in stream protocol version 1 "
                    "is not supported",
                    dpos,
                )
            obj.external = self.annotations()
        elif flags & SC_SERIALIZABLE:
            levels = desc._rlayout
            if levels is None:
                levels = self.layout(desc)
                if not self.building:  # a descriptor being read may still change
                    desc._rlayout = levels
            class_data = obj.class_data
            data = self.data
            for d, st, pnames, chars, onames, custom in levels:
                if st is not None:
                    pos = self.pos
                    if pos + st.size > self.end:
                        raise self.truncated()
                    values: dict[str, object] = dict(
                        zip(pnames, st.unpack_from(data, pos), strict=True)
                    )
                    self.pos = pos + st.size
                    for i in chars:
                        values[pnames[i]] = chr(values[pnames[i]])  # type: ignore[arg-type]
                else:
                    values = {}
                for name in onames:
                    values[name] = self.content()
                class_data.append(ClassData(d, values, self.annotations() if custom else None))
        else:
            raise self.fail(f"{desc.name} is neither serializable nor externalizable", dpos)
        result: object = obj
        if conv is not None and not self.pending.pop(h, True):
            value = conv(obj)
            if value is not _KEEP:
                handles[h] = result = value
        self.depth -= 1
        return result

    def read_array(self) -> object:
        """TC_ARRAY (type code already consumed)."""
        self.enter()
        dpos = self.pos
        desc = self.class_desc()
        if not isinstance(desc, ClassDesc) or len(desc.name) < 2 or desc.name[0] != "[":
            raise self.fail("array with a class descriptor that is not an array class", dpos)
        pos = self.pos
        if pos + 4 > self.end:
            raise self.truncated()
        n = _I4.unpack_from(self.data, pos)[0]
        if n < 0:
            raise self.fail(f"negative array length {n}", pos)
        if n > self.limits.max_array_length:
            raise LimitExceeded(f"array of {n} elements exceeds the limit", pos)
        pos += 4
        self.pos = pos
        left = self.end - pos
        et = desc.name[1]
        h = self.new_handle()
        result: object
        if et == "B":
            if n > left:
                raise self.truncated()
            b = self.data[pos : pos + n]
            self.pos = pos + n
            if self.natural and desc._nat is not None and desc._nat[3] == "B":
                result = _JBytes(b) if n <= 1 else b
            else:
                result = JavaArray(desc, b)
        elif et == "L" or et == "[":
            if n > left:
                raise self.truncated()
            arr = JavaArray(desc, [])
            self.handles[h] = arr
            kind = desc._nat[3] if self.natural and desc._nat is not None else None
            if kind is not None:
                self.pending[h] = False
            items: list[object] = arr.items  # type: ignore[assignment]
            content = self.content
            for _ in range(n):
                items.append(content())
            result = arr
            if (
                kind is not None
                and not self.pending.pop(h, True)
                and all(x is None or isinstance(x, str) for x in items)
            ):
                result = _JTuple(items) if n == 0 else tuple(items)  # type: ignore[arg-type]
        else:
            spec = _PRIM.get(et)
            if spec is None or len(desc.name) != 2:
                raise self.fail(f"invalid array class {desc.name!r}", dpos)
            code, size = spec
            if n * size > left:
                raise self.truncated()
            values: list[Any] = list(struct.unpack_from(f">{n}{code}", self.data, pos))
            if et == "C":
                values = [chr(c) for c in values]
            self.pos = pos + n * size
            result = JavaArray(desc, values)
        self.handles[h] = result
        self.depth -= 1
        return result

    def read_enum(self) -> JavaEnum:
        """TC_ENUM (type code already consumed)."""
        self.enter()
        dpos = self.pos
        desc = self.class_desc()
        if not isinstance(desc, ClassDesc) or not desc.flags & SC_ENUM:
            raise self.fail("enum constant whose class descriptor is not an enum", dpos)
        h = self.new_handle()
        constant = self.string_or_ref("an enum constant name")
        e = JavaEnum(desc, constant)
        self.handles[h] = e
        self.depth -= 1
        return e

    def read_class(self) -> JavaClass:
        """TC_CLASS (type code already consumed)."""
        dpos = self.pos
        desc = self.class_desc()
        if desc is None:
            raise self.fail("class object with a null descriptor", dpos)
        c = JavaClass(desc)
        h = self.new_handle()
        self.handles[h] = c
        return c

    # ----------------------------------------------------------------------------- stream

    def header(self) -> None:
        if self.data[:4] != STREAM_HEADER:
            if self.data[:2] != STREAM_HEADER[:2]:
                raise SerializationError("not a Java serialization stream (bad magic)", 0)
            raise SerializationError("unsupported serialization stream version", 2)
        self.pos = 4

    def top_level(self) -> list[object]:
        items: list[object] = []
        data = self.data
        end = self.end
        while self.pos < end:
            start = self.pos
            tc = data[start]
            if tc in (TC_BLOCKDATA, TC_BLOCKDATALONG):
                items.append(self.block(tc))
            elif tc == TC_RESET:
                self.pos = start + 1
                self.reset()
            elif tc == TC_ENDBLOCKDATA:
                raise self.fail("TC_ENDBLOCKDATA at the top level", start)
            else:
                try:
                    items.append(self.content())
                except _Abort as a:
                    items.append(JavaException(a.throwable, data[start : a.offset]))
                    self.depth = 0
                    self.building = 0
                    self.refs.clear()
                    self.nocache = False
        return items


# --------------------------------------------------------------------------------------------
# Cache of class descriptor chains
#
# The hot path reads the same descriptors (SessionMessageImpl, Integer, ...) at the same handle
# numbers in every message.  A descriptor chain whose bytes hold no annotations and no proxy is
# fully determined by those bytes, the handle number it starts at and the objects its references
# to earlier handles resolve to.  So its parse (descriptor objects, field signature strings) is
# shared by every stream that has the same bytes at the same handle number, as long as those
# earlier handles hold the very same descriptor objects (true when they came from this cache,
# e.g. java.lang.Number referenced by java.lang.Long after java.lang.Integer).

_DESC_CACHE_MAX: Final = 512
_PER_KEY_MAX: Final = 8


class _DescEntry:
    __slots__ = ("depth", "desc", "ext", "max_fields", "max_string", "names", "objs", "span")

    def __init__(
        self,
        span: bytes,
        objs: list[object],
        desc: ClassDesc,
        ext: tuple[tuple[int, object], ...],
    ) -> None:
        self.span = span
        self.objs = objs
        self.desc = desc
        self.ext = ext
        descs = [o for o in objs if isinstance(o, ClassDesc)]
        self.names = tuple(d.name for d in descs)
        self.depth = len(descs)
        self.max_fields = max(len(d.fields) for d in descs)
        self.max_string = max((len(mutf8.encode(o)) for o in objs if isinstance(o, str)), default=0)


_DESC_CACHE: dict[tuple[int, bytes], list[_DescEntry]] = {}
_desc_cache_size = 0


def _remember(
    hbase: int,
    span: bytes,
    objs: list[object],
    desc: ClassDesc,
    ext: tuple[tuple[int, object], ...],
) -> None:
    """Cache a freshly parsed descriptor chain (bounded: wholly cleared when full, so a peer
    sending endless new descriptors cannot grow it)."""
    global _desc_cache_size
    if _desc_cache_size >= _DESC_CACHE_MAX:
        _DESC_CACHE.clear()
        _desc_cache_size = 0
    entries = _DESC_CACHE.setdefault((hbase, span[: 2 + ((span[0] << 8) | span[1])]), [])
    if len(entries) < _PER_KEY_MAX:
        entries.append(_DescEntry(span, objs, desc, ext))
        _desc_cache_size += 1


# --------------------------------------------------------------------------------------------
# Natural values

_KEEP: Final = object()


def _fast_integer(r: _Reader) -> object:
    pos = r.pos
    if pos + 4 > r.end:
        raise r.truncated()
    r.pos = pos + 4
    return _new_int(JInteger, _I4.unpack_from(r.data, pos)[0])


def _fast_long(r: _Reader) -> object:
    pos = r.pos
    if pos + 8 > r.end:
        raise r.truncated()
    r.pos = pos + 8
    return _new_int(JLong, _I8.unpack_from(r.data, pos)[0])


_H2: Final = struct.Struct(">h")
_F4: Final = struct.Struct(">f")
_D8: Final = struct.Struct(">d")


def _fast_short(r: _Reader) -> object:
    pos = r.pos
    if pos + 2 > r.end:
        raise r.truncated()
    r.pos = pos + 2
    return _new_int(JShort, _H2.unpack_from(r.data, pos)[0])


def _fast_byte(r: _Reader) -> object:
    pos = r.pos
    if pos + 1 > r.end:
        raise r.truncated()
    r.pos = pos + 1
    b = r.data[pos]
    return _new_int(JByte, b - 256 if b > 127 else b)


def _fast_float(r: _Reader) -> object:
    pos = r.pos
    if pos + 4 > r.end:
        raise r.truncated()
    r.pos = pos + 4
    return _new_float(JFloat, _F4.unpack_from(r.data, pos)[0])


def _fast_double(r: _Reader) -> object:
    pos = r.pos
    if pos + 8 > r.end:
        raise r.truncated()
    r.pos = pos + 8
    return _new_float(JDouble, _D8.unpack_from(r.data, pos)[0])


def _fast_character(r: _Reader) -> object:
    pos = r.pos
    if pos + 2 > r.end:
        raise r.truncated()
    r.pos = pos + 2
    return _new_str(JCharacter, chr(_U2.unpack_from(r.data, pos)[0]))


def _fast_boolean(r: _Reader) -> object:
    pos = r.pos
    if pos + 1 > r.end:
        raise r.truncated()
    r.pos = pos + 1
    v = r.data[pos] != 0
    used = r.bool_used
    if used[v]:
        return JBoolean(v)  # a distinct Boolean instance of the same value
    used[v] = True
    return v


def _level(obj: JavaObject, count: int) -> list[ClassData] | None:
    cds = obj.class_data
    return cds if len(cds) == count else None


def _counted(
    ann: list[object] | None, head: struct.Struct
) -> tuple[tuple[Any, ...], list[object]] | None:
    """Custom data of the shape [BlockData(head), objects...] → (head values, objects)."""
    if not ann:
        return None
    first = ann[0]
    if type(first) is not BlockData or len(first.data) != head.size:
        return None
    rest = ann[1:]
    for x in rest:
        if type(x) is BlockData:
            return None
    return head.unpack(first.data), rest


def _conv_array_list(obj: JavaObject) -> object:
    cds = _level(obj, 1)
    if cds is None:
        return _KEEP
    got = _counted(cds[0].annotations, _I4)
    if got is None:
        return _KEEP
    (n,), items = got
    if n != len(items) or cds[0].values.get("size") != n:
        return _KEEP
    return items


def _conv_linked_list(obj: JavaObject) -> object:
    cds = _level(obj, 1)
    if cds is None:
        return _KEEP
    got = _counted(cds[0].annotations, _I4)
    if got is None:
        return _KEEP
    (n,), items = got
    if n != len(items):
        return _KEEP
    return JLinkedList(items)


def _fill_map(m: dict[object, object], items: list[object], n: int) -> bool:
    if len(items) != 2 * n:
        return False
    try:
        for i in range(0, len(items), 2):
            dict.__setitem__(m, items[i], items[i + 1])
    except TypeError:  # an unhashable key (a list, a map...)
        return False
    return len(m) == n  # keys Python considers equal (Integer 1 and Long 1) stay opaque


def _hash_map_from(cd: ClassData, m: JHashMap) -> bool:
    got = _counted(cd.annotations, _I4I4)
    if got is None:
        return False
    (buckets, n), items = got
    if not _fill_map(m, items, n):
        return False
    lf = cd.values["loadFactor"]
    thr = cd.values["threshold"]
    assert isinstance(lf, float) and isinstance(thr, int)
    m.java_meta = HashMeta(lf, thr, buckets, n)
    return True


def _conv_hash_map(obj: JavaObject) -> object:
    cds = _level(obj, 1)
    m = JHashMap()
    if cds is None or not _hash_map_from(cds[0], m):
        return _KEEP
    return m


def _conv_linked_hash_map(obj: JavaObject) -> object:
    cds = _level(obj, 2)
    m = JLinkedHashMap()
    if cds is None or not _hash_map_from(cds[0], m) or cds[1].annotations is not None:
        return _KEEP
    meta = m.java_meta
    assert meta is not None
    m.java_meta = HashMeta(
        meta.load_factor,
        meta.threshold,
        meta.buckets,
        meta.size,
        bool(cds[1].values["accessOrder"]),
    )
    return m


def _conv_tree_map(obj: JavaObject) -> object:
    cds = _level(obj, 1)
    if cds is None:
        return _KEEP
    got = _counted(cds[0].annotations, _I4)
    if got is None:
        return _KEEP
    (n,), items = got
    m = JTreeMap()
    if not _fill_map(m, items, n):
        return _KEEP
    m.comparator = cds[0].values["comparator"]
    return m


def _set_from(cd: ClassData, s: JHashSet) -> bool:
    got = _counted(cd.annotations, _SET_HEAD)
    if got is None:
        return False
    (cap, lf, n), items = got
    if len(items) != n:
        return False
    try:
        s._items = dict.fromkeys(items)
    except TypeError:
        return False
    if len(s._items) != n:
        return False
    s.java_meta = SetMeta(cap, lf, n)
    return True


def _conv_hash_set(obj: JavaObject) -> object:
    cds = _level(obj, 1)
    s = JHashSet()
    if cds is None or not _set_from(cds[0], s):
        return _KEEP
    return s


def _conv_linked_hash_set(obj: JavaObject) -> object:
    cds = _level(obj, 2)
    s = JLinkedHashSet()
    if cds is None or not _set_from(cds[0], s) or cds[1].annotations is not None:
        return _KEEP
    return s


def _conv_date(obj: JavaObject) -> object:
    cds = _level(obj, 1)
    if cds is None:
        return _KEEP
    got = _counted(cds[0].annotations, _I8)
    if got is None or got[1]:
        return _KEEP
    ms = got[0][0]
    assert isinstance(ms, int)
    try:
        d: datetime = millis_to_date(ms)
    except OverflowError:
        return _KEEP
    return d


# class name → (catalog descriptor, fast reader, converter, array kind)
_NATURAL: Final[dict[str, tuple[ClassDesc, _Fast | None, _Conv | None, str | None]]] = {
    "java.lang.Integer": (catalog.INTEGER, _fast_integer, None, None),
    "java.lang.Long": (catalog.LONG, _fast_long, None, None),
    "java.lang.Short": (catalog.SHORT, _fast_short, None, None),
    "java.lang.Byte": (catalog.BYTE, _fast_byte, None, None),
    "java.lang.Float": (catalog.FLOAT, _fast_float, None, None),
    "java.lang.Double": (catalog.DOUBLE, _fast_double, None, None),
    "java.lang.Character": (catalog.CHARACTER, _fast_character, None, None),
    "java.lang.Boolean": (catalog.BOOLEAN, _fast_boolean, None, None),
    "java.util.ArrayList": (catalog.ARRAY_LIST, None, _conv_array_list, None),
    "java.util.LinkedList": (catalog.LINKED_LIST, None, _conv_linked_list, None),
    "java.util.HashMap": (catalog.HASH_MAP, None, _conv_hash_map, None),
    "java.util.LinkedHashMap": (catalog.LINKED_HASH_MAP, None, _conv_linked_hash_map, None),
    "java.util.TreeMap": (catalog.TREE_MAP, None, _conv_tree_map, None),
    "java.util.HashSet": (catalog.HASH_SET, None, _conv_hash_set, None),
    "java.util.LinkedHashSet": (catalog.LINKED_HASH_SET, None, _conv_linked_hash_set, None),
    "java.util.Date": (catalog.DATE, None, _conv_date, None),
    "[B": (catalog.BYTE_ARRAY, None, None, "B"),
    "[Ljava.lang.String;": (catalog.STRING_ARRAY, None, None, "S"),
}


# --------------------------------------------------------------------------------------------
# API


def _run(
    data: bytes | bytearray | memoryview,
    limits: Limits,
    allow: Callable[[str], bool] | None,
    natural: bool,
    one: bool,
) -> list[object]:
    if len(data) > limits.max_total_bytes:
        raise LimitExceeded(f"stream of {len(data)} bytes exceeds the limit", 0)
    buf = data if type(data) is bytes else bytes(data)
    r = _Reader(buf, limits, allow, natural)
    try:
        r.header()
        if not one:
            return r.top_level()
        if r.pos >= r.end:
            raise r.fail("empty stream: no object")
        start = r.pos
        tc = buf[start]
        if tc in (TC_BLOCKDATA, TC_BLOCKDATALONG, TC_RESET, TC_ENDBLOCKDATA):
            raise r.fail(f"expected an object, found type code {tc:#04x}", start)
        try:
            item = r.content()
        except _Abort as a:
            item = JavaException(a.throwable, buf[start : a.offset])
        if r.pos != r.end:
            raise r.fail(f"{r.end - r.pos} bytes left after the object")
        return [item]
    except RecursionError:
        raise LimitExceeded("object graph nested too deeply for the Python stack", r.pos) from None
    except (struct.error, IndexError) as e:
        raise SerializationError(f"truncated or malformed stream ({e})", r.pos) from None
    except (UnicodeError, OverflowError, ValueError) as e:
        raise SerializationError(f"malformed stream ({e})", r.pos) from None


def read_stream(
    data: bytes | bytearray | memoryview,
    *,
    limits: Limits = DEFAULT_LIMITS,
    allow: Callable[[str], bool] | None = None,
    natural: bool = True,
) -> list[object]:
    """Every top-level content after ``AC ED 00 05``, in order: objects (natural values or
    opaque model objects), strings, None for nulls, `BlockData` records, and `JavaException`
    where the writer aborted an object.  TC_RESET records reset the handle table and yield
    nothing."""
    return _run(data, limits, allow, natural, False)


def loads(
    data: bytes | bytearray | memoryview,
    *,
    limits: Limits = DEFAULT_LIMITS,
    allow: Callable[[str], bool] | None = None,
    natural: bool = True,
) -> object:
    """Exactly one top-level object; anything after it is an error."""
    return _run(data, limits, allow, natural, True)[0]
