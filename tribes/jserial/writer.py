"""Writer of Java serialization streams (protocol version 2), the mirror of `reader`.

Handles are assigned like ``java.io.ObjectOutputStream`` does.  A back reference is written
when the *same Python object* is written again (an id-keyed table that keeps the objects alive),
with three refinements that mirror Java:

* a class descriptor structurally identical to one already written is referenced (the JVM has
  one ObjectStreamClass per class), so a catalog descriptor and an identical one read from a
  stream share one handle;
* field type signature strings are interned (as in the JVM): an identical signature already
  written as a signature is referenced;
* plain ints are boxed through ``JInteger(v)``/``JLong(v)``, which return shared instances for
  -128..127 like ``valueOf``; ``True``/``False`` are Boolean.TRUE/FALSE.

A value that cannot be written raises `SerializationError`; an `ObjectWriter` then rolls back to
where it was before that ``write`` call.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

from ..errors import SerializationError
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
from .model import (
    AnyClassDesc,
    BlockData,
    ClassData,
    ClassDesc,
    JavaArray,
    JavaClass,
    JavaEnum,
    JavaException,
    JavaObject,
    ProxyClassDesc,
)
from .values import (
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
    _JBytes,
    _JStr,
    _JTuple,
    date_to_millis,
    hashmap_layout,
)

__all__ = ["ObjectWriter", "dumps", "write_stream"]

_U2: Final = struct.Struct(">H")
_I4: Final = struct.Struct(">i")
_I8: Final = struct.Struct(">q")
_REF: Final = struct.Struct(">Bi")
_OBJ_REF: Final = struct.Struct(">BBi")
_DESC_TAIL: Final = struct.Struct(">qBH")
_F4I4: Final = struct.Struct(">fi")
_I4I4: Final = struct.Struct(">ii")
_SET_HEAD: Final = struct.Struct(">ifi")
_BLOCK4: Final = b"\x77\x04"
_BLOCK8: Final = b"\x77\x08"

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

# A class level for writing: (desc, primitive Struct or None, primitive names, char indexes,
# object names, has custom data)
_WLevel = tuple[
    AnyClassDesc, struct.Struct | None, tuple[str, ...], tuple[int, ...], tuple[str, ...], bool
]


def _layout(desc: AnyClassDesc) -> list[_WLevel]:
    levels: list[_WLevel] = []
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


def _block_header(n: int) -> bytes:
    return bytes((TC_BLOCKDATA, n)) if n <= 0xFF else bytes((TC_BLOCKDATALONG,)) + _I4.pack(n)


class ObjectWriter:
    """One serialization stream: ``AC ED 00 05`` and then whatever is written, sharing one
    handle table (as one ObjectOutputStream does across several ``writeObject`` calls)."""

    def __init__(self) -> None:
        self._out = bytearray(STREAM_HEADER)
        self._handles: dict[int, int] = {}
        self._objs: list[object] = []  # handle → object (keeps them alive, so ids stay unique)
        self._sigs: dict[str, int] = {}
        self._descs: dict[str, list[tuple[AnyClassDesc, int]]] = {}
        self._aliases: list[object] = []

    # ----------------------------------------------------------------------------- API

    def getvalue(self) -> bytes:
        return bytes(self._out)

    def write(self, item: object) -> None:
        """A `BlockData` as a block record, anything else as an object."""
        if type(item) is BlockData:
            self.write_block(item.data)
        else:
            self.write_object(item)

    def write_all(self, items: Iterable[object]) -> None:
        for item in items:
            self.write(item)

    def write_block(self, data: bytes | bytearray | memoryview) -> None:
        """One block-data record (77 or 7A) holding exactly `data`."""
        b = bytes(data)
        self._out += _block_header(len(b))
        self._out += b

    def write_boxed_int(self, v: int) -> None:
        """``writeObject(Integer.valueOf(v))``: the bytes of ``write_object(JInteger(v))``
        without making the box (bulk writers box every count and time field)."""
        self._plain_box(JInteger, catalog.INTEGER, _I4, v)

    def write_boxed_long(self, v: int) -> None:
        """``writeObject(Long.valueOf(v))``, as `write_boxed_int`."""
        self._plain_box(JLong, catalog.LONG, _I8, v)

    def write_object(self, obj: object) -> None:
        """One object (or null, string, array, ...) at the top level of the stream."""
        mark = len(self._out)
        nhandles = len(self._objs)
        try:
            if type(obj) is JavaException:
                self._exception(obj)
            else:
                self._content(obj)
        except SerializationError:
            self._rollback(mark, nhandles)
            raise
        except RecursionError:
            self._rollback(mark, nhandles)
            raise SerializationError("value nested too deeply to serialize") from None
        except (struct.error, OverflowError, ValueError, TypeError) as e:
            self._rollback(mark, nhandles)
            raise SerializationError(f"cannot serialize: {e}") from None

    def reset(self) -> None:
        """Write TC_RESET and forget every handle (ObjectOutputStream.reset)."""
        self._out.append(TC_RESET)
        self._clear()

    # ----------------------------------------------------------------------------- internals

    def _clear(self) -> None:
        self._handles.clear()
        self._objs.clear()
        self._sigs.clear()
        self._descs.clear()
        self._aliases.clear()

    def _rollback(self, mark: int, nhandles: int) -> None:
        del self._out[mark:]
        if len(self._objs) < nhandles:  # a reset happened inside: cannot restore, start over
            self._clear()
            return
        self._handles = {k: h for k, h in self._handles.items() if h < nhandles}
        del self._objs[nhandles:]
        self._sigs = {k: h for k, h in self._sigs.items() if h < nhandles}
        for name in list(self._descs):
            kept = [(d, h) for d, h in self._descs[name] if h < nhandles]
            if kept:
                self._descs[name] = kept
            else:
                del self._descs[name]

    def _assign(self, obj: object) -> None:
        self._handles[id(obj)] = len(self._objs)
        self._objs.append(obj)

    def _ref(self, h: int) -> None:
        self._out += _REF.pack(TC_REFERENCE, h + BASE_WIRE_HANDLE)

    def _exception(self, exc: JavaException) -> None:
        self._out += exc.partial
        self._clear()
        self._out.append(TC_EXCEPTION)
        self._content(exc.throwable)
        self._clear()

    def _content(self, obj: object) -> None:
        if obj is None:
            self._out.append(TC_NULL)
            return
        h = self._handles.get(id(obj))
        if h is not None:
            self._ref(h)
            return
        fn = _DISPATCH.get(type(obj))
        if fn is None:
            fn = _fallback(obj)
        fn(self, obj)

    # strings ---------------------------------------------------------------------------

    def _string(self, s: str) -> None:
        b = mutf8.encode(s)
        self._assign(s)
        n = len(b)
        if n <= 0xFFFF:
            self._out += bytes((TC_STRING, n >> 8, n & 0xFF))
        else:
            self._out.append(TC_LONGSTRING)
            self._out += _I8.pack(n)
        self._out += b

    def _string_or_ref(self, s: str) -> None:
        h = self._handles.get(id(s))
        if h is not None:
            self._ref(h)
        else:
            self._string(s)

    def _utf(self, s: str) -> None:
        b = mutf8.encode(s)
        if len(b) > 0xFFFF:
            raise SerializationError(f"name of {len(b)} encoded bytes is longer than 65535")
        self._out += _U2.pack(len(b))
        self._out += b

    # class descriptors -------------------------------------------------------------------

    def _desc(self, desc: AnyClassDesc | None) -> None:
        if desc is None:
            self._out.append(TC_NULL)
            return
        h = self._handles.get(id(desc))
        if h is not None:
            self._ref(h)
            return
        if not self._objs:
            # A fresh stream: the encoding of a descriptor chain depends on nothing else.
            enc = desc._wenc
            if enc is not None:
                self._take_encoding(enc)
                return
            mark = len(self._out)
            self._new_desc(desc)
            desc._wenc = (
                bytes(self._out[mark:]),
                list(self._objs),
                dict(self._handles),
                dict(self._sigs),
                {k: list(v) for k, v in self._descs.items()},
                list(self._aliases),
            )
            return
        same = self._descs.get(desc.name)
        if same:
            for other, oh in same:
                if catalog.same_desc(other, desc):
                    # The JVM has one ObjectStreamClass per class: share the handle.  Keep the
                    # alias alive so that its id cannot be reused by another object.
                    self._handles[id(desc)] = oh
                    self._aliases.append(desc)
                    self._ref(oh)
                    return
        self._new_desc(desc)

    def _take_encoding(self, enc: Any) -> None:
        data, objs, handles, sigs, descs, aliases = enc
        self._out += data
        self._objs.extend(objs)
        self._handles.update(handles)
        self._sigs.update(sigs)
        for k, v in descs.items():
            self._descs[k] = list(v)
        self._aliases.extend(aliases)

    def _new_desc(self, desc: AnyClassDesc) -> None:
        if not isinstance(desc, ClassDesc | ProxyClassDesc):
            raise SerializationError(f"{type(desc).__name__} is not a class descriptor")
        h = len(self._objs)
        self._descs.setdefault(desc.name, []).append((desc, h))
        if isinstance(desc, ProxyClassDesc):
            self._out.append(TC_PROXYCLASSDESC)
            self._assign(desc)
            self._out += _I4.pack(len(desc.interfaces))
            for name in desc.interfaces:
                self._utf(name)
        else:
            self._out.append(TC_CLASSDESC)
            self._assign(desc)
            self._utf(desc.name)
            self._out += _DESC_TAIL.pack(desc.suid, desc.flags, len(desc.fields))
            for f in desc.fields:
                self._out.append(ord(f.typecode))
                self._utf(f.name)
                if f.typecode == "L" or f.typecode == "[":
                    if not f.class_name:
                        raise SerializationError(
                            f"field {f.name!r} of {desc.name} has no type signature"
                        )
                    self._type_string(f.class_name)
                elif f.typecode not in _PRIM:
                    raise SerializationError(f"invalid field type code {f.typecode!r}")
        self._items(desc.annotations)
        self._desc(desc.superclass)

    def _type_string(self, sig: str) -> None:
        h = self._handles.get(id(sig))
        if h is None:
            h = self._sigs.get(sig)
        if h is not None:
            self._ref(h)
            return
        self._sigs[sig] = len(self._objs)
        self._string(sig)

    def _items(self, items: Iterable[object] | None) -> None:
        """Custom data / external data / class annotations, then TC_ENDBLOCKDATA."""
        if items is not None:
            out = self._out
            for item in items:
                if type(item) is BlockData:
                    out += _block_header(len(item.data))
                    out += item.data
                else:
                    if type(item) is JavaException:
                        raise SerializationError(
                            "a JavaException can only be written at the top level"
                        )
                    self._content(item)
        self._out.append(TC_ENDBLOCKDATA)

    # objects -----------------------------------------------------------------------------

    def _object(self, obj: JavaObject) -> None:
        desc = obj.desc
        if desc is None:
            raise SerializationError("JavaObject without a class descriptor")
        self._out.append(TC_OBJECT)
        self._desc(desc)
        self._assign(obj)
        flags = desc.flags
        if flags & SC_EXTERNALIZABLE:
            if not flags & SC_BLOCK_DATA:
                raise SerializationError(
                    f"{desc.name}: externalizable without SC_BLOCK_DATA "
                    "(protocol version 1) is not supported"
                )
            self._items(obj.external or ())
        elif flags & SC_SERIALIZABLE:
            levels = desc._wlayout
            if levels is None:
                levels = desc._wlayout = _layout(desc)
            cds = obj.class_data
            if len(cds) != len(levels):
                raise SerializationError(
                    f"{desc.name}: {len(cds)} ClassData for {len(levels)} serializable classes"
                )
            for (d, st, pnames, chars, onames, custom), cd in zip(levels, cds, strict=True):
                self._class_data(d, st, pnames, chars, onames, custom, cd)
        else:
            raise SerializationError(f"{desc.name} is neither serializable nor externalizable")

    def _class_data(
        self,
        d: AnyClassDesc,
        st: struct.Struct | None,
        pnames: tuple[str, ...],
        chars: tuple[int, ...],
        onames: tuple[str, ...],
        custom: bool,
        cd: ClassData,
    ) -> None:
        if cd.desc is not d and not catalog.same_desc(cd.desc, d):
            raise SerializationError(f"ClassData for {cd.desc.name} where {d.name} was expected")
        values = cd.values
        try:
            if st is not None:
                vals: list[Any] = [values[n] for n in pnames]
                for i in chars:
                    c = vals[i]
                    vals[i] = ord(c) if isinstance(c, str) else c
                self._out += st.pack(*vals)
            for n in onames:
                self._content(values[n])
        except KeyError as e:
            raise SerializationError(f"no value for field {e.args[0]!r} of {d.name}") from None
        except struct.error as e:
            raise SerializationError(f"bad primitive field value in {d.name}: {e}") from None
        if custom:
            self._items(cd.annotations or ())
        elif cd.annotations:
            raise SerializationError(f"{d.name} has no writeObject method but custom data")

    def _array(self, arr: JavaArray) -> None:
        desc = arr.desc
        if not isinstance(desc, ClassDesc) or len(desc.name) < 2 or desc.name[0] != "[":
            raise SerializationError("JavaArray whose descriptor is not an array class")
        self._out.append(TC_ARRAY)
        self._desc(desc)
        self._assign(arr)
        items = arr.items
        et = desc.name[1]
        self._out += _I4.pack(len(items))
        if et == "B":
            self._out += (
                items if isinstance(items, bytes) else struct.pack(f">{len(items)}b", *items)
            )
        elif et == "L" or et == "[":
            for item in items:
                self._content(item)
        else:
            spec = _PRIM.get(et)
            if spec is None:
                raise SerializationError(f"invalid array class {desc.name!r}")
            vals: list[Any] = list(items)
            if et == "C":
                vals = [ord(c) if isinstance(c, str) else c for c in vals]
            self._out += struct.pack(f">{len(vals)}{spec[0]}", *vals)

    def _enum(self, e: JavaEnum) -> None:
        if not e.desc.flags & SC_ENUM:
            raise SerializationError(f"{e.desc.name} is not an enum class")
        self._out.append(TC_ENUM)
        self._desc(e.desc)
        self._assign(e)
        self._string_or_ref(e.constant)

    def _class(self, c: JavaClass) -> None:
        self._out.append(TC_CLASS)
        self._desc(c.desc)
        self._assign(c)

    def _class_desc_value(self, d: AnyClassDesc) -> None:
        self._desc(d)

    # natural values ----------------------------------------------------------------------

    def _plain_box(
        self, cls: type[JInteger] | type[JLong], desc: ClassDesc, st: struct.Struct, v: int
    ) -> None:
        if -128 <= v <= 127:  # valueOf's shared instance: a back reference after the first
            self.write_object(cls(v))
            return
        try:
            data = st.pack(v)
        except struct.error:
            raise SerializationError(f"{v!r} does not fit a {cls.java_name}") from None
        h = self._handles.get(id(desc))
        if h is None:
            self._out.append(TC_OBJECT)
            self._desc(desc)
        else:
            self._out += _OBJ_REF.pack(TC_OBJECT, TC_REFERENCE, h + BASE_WIRE_HANDLE)
        self._objs.append(None)  # the fresh box's handle: nothing can refer to it again
        self._out += data

    def _box(self, obj: object, desc: ClassDesc, data: bytes) -> None:
        self._out.append(TC_OBJECT)
        self._desc(desc)
        self._assign(obj)
        self._out += data

    def _plain_int(self, v: int) -> None:
        box: int
        if -0x8000_0000 <= v <= 0x7FFF_FFFF:
            box = JInteger(v)
        elif -0x8000_0000_0000_0000 <= v <= 0x7FFF_FFFF_FFFF_FFFF:
            box = JLong(v)
        else:
            raise SerializationError(f"integer {v} does not fit a Java long")
        self._content(box)

    def _bytes(self, b: bytes | bytearray) -> None:
        self._out.append(TC_ARRAY)
        self._desc(catalog.BYTE_ARRAY)
        self._assign(b)
        self._out += _I4.pack(len(b))
        self._out += b

    def _tuple(self, t: tuple[object, ...]) -> None:
        self._out.append(TC_ARRAY)
        strings = all(x is None or (isinstance(x, str) and type(x) is not JCharacter) for x in t)
        self._desc(catalog.STRING_ARRAY if strings else catalog.OBJECT_ARRAY)
        self._assign(t)
        self._out += _I4.pack(len(t))
        for x in t:
            self._content(x)

    def _date(self, d: datetime) -> None:
        try:
            ms = date_to_millis(d)
        except ValueError as e:
            raise SerializationError(str(e)) from None
        self._out.append(TC_OBJECT)
        self._desc(catalog.DATE)
        self._assign(d)
        self._out += _BLOCK8
        self._out += _I8.pack(ms)
        self._out.append(TC_ENDBLOCKDATA)

    def _list(self, lst: list[object]) -> None:
        out = self._out
        out.append(TC_OBJECT)
        linked = isinstance(lst, JLinkedList)
        self._desc(catalog.LINKED_LIST if linked else catalog.ARRAY_LIST)
        self._assign(lst)
        n = _I4.pack(len(lst))
        if not linked:
            out += n  # the ArrayList "size" field
        out += _BLOCK4
        out += n
        for x in lst:
            self._content(x)
        self._out.append(TC_ENDBLOCKDATA)

    def _map(self, m: dict[object, object]) -> None:
        if isinstance(m, JTreeMap):
            self._tree_map(m)
            return
        linked = isinstance(m, JLinkedHashMap)
        meta = m.java_meta if isinstance(m, JHashMap) else None
        keys = list(m)
        if meta is not None and meta.size == len(m):
            lf, thr, buckets, access = (
                meta.load_factor,
                meta.threshold,
                meta.buckets,
                meta.access_order,
            )
        else:
            lay = hashmap_layout(keys)
            if lay is None:
                cap, thr = _capacity(len(keys))
            else:
                order, cap, thr = lay
                if not linked:
                    keys = [keys[i] for i in order]
            lf, buckets, access = 0.75, cap, False
            if not keys:
                thr = 0  # new HashMap<>() allocates its table on the first put
        out = self._out
        out.append(TC_OBJECT)
        self._desc(catalog.LINKED_HASH_MAP if linked else catalog.HASH_MAP)
        self._assign(m)
        out += _F4I4.pack(lf, thr)
        out += _BLOCK8
        out += _I4I4.pack(buckets, len(keys))
        for k in keys:
            self._content(k)
            self._content(m[k])
        self._out.append(TC_ENDBLOCKDATA)
        if linked:
            self._out.append(1 if access else 0)

    def _tree_map(self, m: JTreeMap) -> None:
        keys = list(m)
        if m.comparator is None and not _is_sorted_java(keys):
            keys = _java_sorted(keys)
        out = self._out
        out.append(TC_OBJECT)
        self._desc(catalog.TREE_MAP)
        self._assign(m)
        self._content(m.comparator)
        out += _BLOCK4
        out += _I4.pack(len(keys))
        for k in keys:
            self._content(k)
            self._content(m[k])
        self._out.append(TC_ENDBLOCKDATA)

    def _set(self, s: JHashSet | set[object] | frozenset[object]) -> None:
        linked = isinstance(s, JLinkedHashSet)
        meta = s.java_meta if isinstance(s, JHashSet) else None
        elems = list(s)
        if meta is not None and meta.size == len(elems):
            cap, lf = meta.capacity, meta.load_factor
        else:
            lay = hashmap_layout(elems)
            if lay is None:
                cap, _ = _capacity(len(elems))
            else:
                order, cap, _ = lay
                if not linked:
                    elems = [elems[i] for i in order]
            lf = 0.75
        out = self._out
        out.append(TC_OBJECT)
        self._desc(catalog.LINKED_HASH_SET if linked else catalog.HASH_SET)
        self._assign(s)
        out += b"\x77\x0c"
        out += _SET_HEAD.pack(cap, lf, len(elems))
        for e in elems:
            self._content(e)
        self._out.append(TC_ENDBLOCKDATA)


def _capacity(n: int) -> tuple[int, int]:
    """Table capacity and threshold of ``new HashMap<>()`` after `n` puts (no collisions)."""
    cap, thr = 16, 12
    while n > thr:
        cap, thr = cap * 2, thr * 2
    return cap, thr


def _java_key(k: object) -> tuple[int, Any]:
    if isinstance(k, str):
        return (0, k.encode("utf-16-be", "surrogatepass"))
    if isinstance(k, int | float) and not isinstance(k, bool):
        return (1, k)
    if isinstance(k, datetime):
        return (2, date_to_millis(k))
    if isinstance(k, bool):
        return (3, k)
    raise TypeError


def _java_sorted(keys: list[object]) -> list[object]:
    """Keys in the order of Java's natural ordering (String.compareTo is UTF-16 order)."""
    try:
        return sorted(keys, key=_java_key)
    except (TypeError, ValueError):
        return keys


def _is_sorted_java(keys: list[object]) -> bool:
    return _java_sorted(keys) == keys


_Writer = Callable[[ObjectWriter, Any], None]


def _box_writer(desc: ClassDesc, pack: Callable[[Any], bytes]) -> _Writer:
    def write(w: ObjectWriter, obj: Any) -> None:
        w._box(obj, desc, pack(obj))

    return write


def _pack_char(c: str) -> bytes:
    return _U2.pack(ord(c))


_DISPATCH: Final[dict[type, _Writer]] = {
    str: ObjectWriter._string,
    _JStr: ObjectWriter._string,
    JInteger: _box_writer(catalog.INTEGER, _I4.pack),
    JLong: _box_writer(catalog.LONG, _I8.pack),
    JShort: _box_writer(catalog.SHORT, struct.Struct(">h").pack),
    JByte: _box_writer(catalog.BYTE, struct.Struct(">b").pack),
    JFloat: _box_writer(catalog.FLOAT, struct.Struct(">f").pack),
    JDouble: _box_writer(catalog.DOUBLE, struct.Struct(">d").pack),
    JCharacter: _box_writer(catalog.CHARACTER, _pack_char),
    bool: _box_writer(catalog.BOOLEAN, lambda v: b"\x01" if v else b"\x00"),
    JBoolean: _box_writer(catalog.BOOLEAN, lambda v: b"\x01" if v else b"\x00"),
    int: ObjectWriter._plain_int,
    float: lambda w, v: w._content(float.__new__(JDouble, v)),
    bytes: ObjectWriter._bytes,
    _JBytes: ObjectWriter._bytes,
    bytearray: ObjectWriter._bytes,
    memoryview: lambda w, v: w._content(bytes(v)),
    tuple: ObjectWriter._tuple,
    _JTuple: ObjectWriter._tuple,
    list: ObjectWriter._list,
    JLinkedList: ObjectWriter._list,
    dict: ObjectWriter._map,
    JHashMap: ObjectWriter._map,
    JLinkedHashMap: ObjectWriter._map,
    JTreeMap: ObjectWriter._map,
    set: ObjectWriter._set,
    frozenset: ObjectWriter._set,
    JHashSet: ObjectWriter._set,
    JLinkedHashSet: ObjectWriter._set,
    datetime: ObjectWriter._date,
    JavaObject: ObjectWriter._object,
    JavaArray: ObjectWriter._array,
    JavaEnum: ObjectWriter._enum,
    JavaClass: ObjectWriter._class,
    ClassDesc: ObjectWriter._class_desc_value,
    ProxyClassDesc: ObjectWriter._class_desc_value,
}


def _fallback(obj: object) -> _Writer:
    """Writers for subclasses of the natural types (checked in a meaningful order)."""
    if isinstance(obj, BlockData):
        raise SerializationError("BlockData can only appear at the top level or in custom data")
    if isinstance(obj, JavaException):
        raise SerializationError("a JavaException can only be written at the top level")
    for t in (
        JCharacter,
        JInteger,
        JLong,
        JShort,
        JByte,
        JBoolean,
        bool,
        JFloat,
        JDouble,
        str,
        int,
        float,
        bytes,
        bytearray,
        tuple,
        JLinkedList,
        list,
        JTreeMap,
        JLinkedHashMap,
        dict,
        JLinkedHashSet,
        JHashSet,
        set,
        frozenset,
        datetime,
        JavaObject,
        JavaArray,
        JavaEnum,
        JavaClass,
        ClassDesc,
        ProxyClassDesc,
    ):
        if isinstance(obj, t):
            return _DISPATCH[t]
    raise SerializationError(f"cannot serialize a {type(obj).__module__}.{type(obj).__qualname__}")


def write_stream(items: Iterable[object]) -> bytes:
    """``AC ED 00 05`` followed by each item: `BlockData` as a block record, anything else as an
    object (`JavaException` as its partial bytes + TC_EXCEPTION + the throwable).  One handle
    table for the whole stream."""
    w = ObjectWriter()
    for item in items:
        w.write(item)
    return w.getvalue()


def dumps(obj: object) -> bytes:
    """A stream holding exactly one object (what ``XByteBuffer.serialize`` produces)."""
    w = ObjectWriter()
    w.write_object(obj)
    return w.getvalue()
