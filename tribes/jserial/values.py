"""Natural Python values for common Java types, and helpers around them.

Mapping (reader output / writer input):

=============================  ==============================================================
Java                           Python
=============================  ==============================================================
null                           None
java.lang.String               str
java.lang.Boolean              bool (a second, *distinct* Boolean object of the same value
                               in one stream reads as `JBoolean`, so it writes back as a
                               distinct object)
Integer/Long/Short/Byte        `JInteger`/`JLong`/`JShort`/`JByte` (int subclasses); a plain
                               int writes as Integer when it fits 32 bits, else as Long
Float/Double                   `JFloat`/`JDouble` (float subclasses); a plain float writes as
                               Double
Character                      `JCharacter` (1-char str subclass)
byte[]                         bytes (bytearray also writes as byte[])
String[]                       tuple of str / None
java.util.Date                 aware datetime in UTC, millisecond precision
ArrayList / LinkedList         list / `JLinkedList`
HashMap / LinkedHashMap        dict or `JHashMap` / `JLinkedHashMap`
TreeMap                        `JTreeMap`
HashSet / LinkedHashSet        set, frozenset or `JHashSet` / `JLinkedHashSet`
=============================  ==============================================================

Everything else stays an opaque `JavaObject` / `JavaArray` / `JavaEnum`.

**Identity.**  Java writes a back reference when it meets the *same instance* again, and
`Integer.valueOf` & co. return shared instances for -128..127 (Character: 0..127; Byte: all;
Boolean.TRUE/FALSE).  Constructing a box in Python behaves like ``valueOf``: ``JInteger(5) is
JInteger(5)``, so writing it twice gives one object and a back reference, exactly like Java
autoboxing.  The reader, on the other hand, creates a fresh instance for every object in the
stream (as Java's ObjectInputStream does), so a stream re-serializes byte for byte.  For the same
reason the reader returns 0- and 1-character strings, 0- and 1-byte byte arrays and empty
String[] as private subclasses of str/bytes/tuple (CPython would otherwise share them).

**Collections** read from a stream remember the Java metadata that is written along with them
(HashMap load factor, threshold and bucket count, HashSet capacity, TreeMap comparator...), and
keep the stream's element order, so they write back byte for byte as long as their size has not
changed.  Collections created in Python use Java's defaults (``new HashMap<>()`` followed by the
puts in iteration order), and hash-based ones are written in the order Java's HashMap would
iterate them, computed from the Java ``hashCode`` of the keys when every key is a string, box,
bool, date or None (otherwise in Python iteration order).

**to_json** turns any value into JSON-able data for display: bytes become lowercase hex strings,
dates ISO-8601 strings, non-finite floats the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``,
maps a JSON object when all keys are strings (else a list of ``[key, value]`` pairs), sets and
arrays lists, opaque objects ``{"class": name, "fields": {...}}`` (plus ``"data"`` for custom
``writeObject`` data and ``"external"`` for Externalizable data), enums ``{"enum": class,
"constant": name}``, and a reference back to an object that is being converted (a cycle)
``{"cycle": class}``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, MutableSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Self, SupportsIndex, SupportsInt

from .model import (
    BlockData,
    ClassDesc,
    JavaArray,
    JavaClass,
    JavaEnum,
    JavaException,
    JavaObject,
    ProxyClassDesc,
)

__all__ = [
    "EPOCH",
    "HashMeta",
    "JBoolean",
    "JByte",
    "JCharacter",
    "JDouble",
    "JFloat",
    "JHashMap",
    "JHashSet",
    "JInteger",
    "JLinkedHashMap",
    "JLinkedHashSet",
    "JLinkedList",
    "JLong",
    "JShort",
    "JTreeMap",
    "SetMeta",
    "date_to_millis",
    "java_hash",
    "java_type_name",
    "millis_to_date",
    "to_json",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)

# --------------------------------------------------------------------------------------------
# Boxed numbers


class _JavaInt(int):
    """Base of the integral boxes; constructing one behaves like Java's ``valueOf``."""

    __slots__ = ()
    java_name: ClassVar[str] = ""
    bits: ClassVar[int] = 32
    _cache: ClassVar[list[Any]] = []

    def __new__(cls, value: SupportsInt | SupportsIndex | str | bytes = 0) -> Self:
        v = int(value)
        if -128 <= v <= 127 and cls._cache:
            cached: Self = cls._cache[v + 128]
            return cached
        lim = 1 << (cls.bits - 1)
        if not -lim <= v < lim:
            raise OverflowError(f"{v} is out of range for {cls.java_name}")
        return int.__new__(cls, v)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (int(self),))


class JInteger(_JavaInt):
    """``java.lang.Integer``."""

    __slots__ = ()
    java_name = "java.lang.Integer"
    bits = 32


class JLong(_JavaInt):
    """``java.lang.Long``."""

    __slots__ = ()
    java_name = "java.lang.Long"
    bits = 64


class JShort(_JavaInt):
    """``java.lang.Short``."""

    __slots__ = ()
    java_name = "java.lang.Short"
    bits = 16


class JByte(_JavaInt):
    """``java.lang.Byte`` (every value is cached, as in Java)."""

    __slots__ = ()
    java_name = "java.lang.Byte"
    bits = 8


for _cls in (JInteger, JLong, JShort, JByte):
    _cls._cache = [int.__new__(_cls, _v) for _v in range(-128, 128)]


def _to_float32(v: float) -> float:
    try:
        r: float = struct.unpack(">f", struct.pack(">f", v))[0]
        return r
    except OverflowError:  # Java's (float) cast overflows to infinity
        return math.copysign(math.inf, v)


class JFloat(float):
    """``java.lang.Float``; the value is rounded to single precision."""

    __slots__ = ()
    java_name: ClassVar[str] = "java.lang.Float"

    def __new__(cls, value: SupportsIndex | SupportsInt | str | float = 0.0) -> Self:
        return float.__new__(cls, _to_float32(float(value)))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"JFloat({float(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (float(self),))


class JDouble(float):
    """``java.lang.Double``."""

    __slots__ = ()
    java_name: ClassVar[str] = "java.lang.Double"

    def __repr__(self) -> str:
        return f"JDouble({float(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (float(self),))


class JCharacter(str):
    """``java.lang.Character``: one UTF-16 code unit (may be a lone surrogate)."""

    __slots__ = ()
    java_name: ClassVar[str] = "java.lang.Character"
    _cache: ClassVar[list[JCharacter]] = []

    def __new__(cls, value: str | int = "\x00") -> Self:
        c = chr(value) if isinstance(value, int) else value
        if len(c) != 1 or ord(c) > 0xFFFF:
            raise ValueError(f"a Java char is one UTF-16 code unit, not {c!r}")
        if ord(c) < 128 and cls._cache:
            cached: Self = cls._cache[ord(c)]  # type: ignore[assignment]
            return cached
        return str.__new__(cls, c)

    def __repr__(self) -> str:
        return f"JCharacter({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self),))


JCharacter._cache = [str.__new__(JCharacter, chr(_c)) for _c in range(128)]


class JBoolean(int):
    """A ``java.lang.Boolean`` that is a *distinct instance* from Boolean.TRUE/FALSE.

    Plain ``True``/``False`` stand for Java's shared Boolean.TRUE/FALSE.  The reader returns a
    JBoolean only for a second, distinct Boolean object of the same value in one stream (e.g. one
    that was itself deserialized before being written), so that it re-serializes as a distinct
    object.  It compares equal to the corresponding bool.
    """

    __slots__ = ()
    java_name: ClassVar[str] = "java.lang.Boolean"

    def __new__(cls, value: object = False) -> Self:
        return int.__new__(cls, 1 if value else 0)

    def __repr__(self) -> str:
        return f"JBoolean({bool(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (bool(self),))


# Private subclasses the reader uses where CPython would share instances.
class _JStr(str):
    __slots__ = ()


class _JBytes(bytes):
    __slots__ = ()


class _JTuple(tuple[str | None, ...]):
    __slots__ = ()


# --------------------------------------------------------------------------------------------
# Collections


@dataclass(frozen=True, slots=True)
class HashMeta:
    """What a ``java.util.HashMap`` (or LinkedHashMap) stream carries besides the entries."""

    load_factor: float
    threshold: int
    buckets: int
    size: int
    access_order: bool = False


@dataclass(frozen=True, slots=True)
class SetMeta:
    """What a ``java.util.HashSet`` (or LinkedHashSet) stream carries besides the elements."""

    capacity: int
    load_factor: float
    size: int


class JHashMap(dict[Any, Any]):
    """A ``java.util.HashMap``; a plain dict writes as a HashMap as well.

    ``java_meta`` is set by the reader (None for maps made in Python) and is used by the writer
    while the map still has the size it had when read.
    """

    __slots__ = ("java_meta",)
    java_name: ClassVar[str] = "java.util.HashMap"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.java_meta: HashMeta | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class JLinkedHashMap(JHashMap):
    """A ``java.util.LinkedHashMap`` (written in insertion order)."""

    __slots__ = ()
    java_name = "java.util.LinkedHashMap"


class JTreeMap(dict[Any, Any]):
    """A ``java.util.TreeMap``.  Made in Python, it is written sorted by key the way Java's
    natural ordering sorts strings (UTF-16 code units) and numbers; read from a stream, it keeps
    the stream's order and its ``comparator`` (None for natural ordering)."""

    __slots__ = ("comparator",)
    java_name: ClassVar[str] = "java.util.TreeMap"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.comparator: object = None

    def __repr__(self) -> str:
        return f"JTreeMap({dict.__repr__(self)})"


class JLinkedList(list[Any]):
    """A ``java.util.LinkedList``."""

    __slots__ = ()
    java_name: ClassVar[str] = "java.util.LinkedList"

    def __repr__(self) -> str:
        return f"JLinkedList({list.__repr__(self)})"


class JHashSet(MutableSet[Any]):
    """A ``java.util.HashSet`` that keeps the order its elements were read (or added) in."""

    __slots__ = ("_items", "java_meta")
    java_name: ClassVar[str] = "java.util.HashSet"

    def __init__(self, iterable: Iterable[Any] = ()) -> None:
        self._items: dict[Any, None] = dict.fromkeys(iterable)
        self.java_meta: SetMeta | None = None

    def __contains__(self, x: object) -> bool:
        return x in self._items

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, value: Any) -> None:
        self._items[value] = None

    def discard(self, value: Any) -> None:
        self._items.pop(value, None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._items)!r})"


class JLinkedHashSet(JHashSet):
    """A ``java.util.LinkedHashSet`` (written in insertion order)."""

    __slots__ = ()
    java_name = "java.util.LinkedHashSet"


# --------------------------------------------------------------------------------------------
# Dates


def millis_to_date(ms: int) -> datetime:
    """``java.util.Date`` milliseconds → aware UTC datetime (OverflowError outside year 1..9999)."""
    return EPOCH + timedelta(milliseconds=ms)


def date_to_millis(dt: datetime) -> int:
    """Aware datetime → epoch milliseconds, truncated towards minus infinity like Java's floor."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("a naive datetime has no defined instant; use an aware datetime")
    return (dt - EPOCH) // _MS


# --------------------------------------------------------------------------------------------
# Java hashCode, for writing hash-based collections in Java's iteration order


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x1_0000_0000 if v & 0x8000_0000 else v


def _long_hash(v: int) -> int:
    u = v & 0xFFFF_FFFF_FFFF_FFFF
    return _s32(u ^ (u >> 32))


def string_hash(s: str) -> int:
    """``String.hashCode()`` (over UTF-16 code units)."""
    h = 0
    if s.isascii():
        for c in s.encode("ascii"):
            h = (31 * h + c) & 0xFFFFFFFF
    else:
        data = s.encode("utf-16-be", "surrogatepass")
        for (u,) in struct.iter_unpack(">H", data):
            h = (31 * h + u) & 0xFFFFFFFF
    return _s32(h)


def _double_hash(v: float) -> int:
    bits = 0x7FF8000000000000 if math.isnan(v) else struct.unpack(">q", struct.pack(">d", v))[0]
    return _long_hash(bits)


def _float_hash(v: float) -> int:
    if math.isnan(v):
        return 0x7FC00000
    r: int = struct.unpack(">i", struct.pack(">f", v))[0]
    return r


def java_hash(value: object) -> int | None:
    """The Java ``hashCode()`` of what `value` writes as, or None if it cannot be known
    (identity hash codes of arrays, enums and other objects)."""
    if value is None:
        return 0
    if isinstance(value, bool | JBoolean):
        return 1231 if value else 1237
    if isinstance(value, str):
        if isinstance(value, JCharacter):
            return ord(value)
        return string_hash(value)
    if isinstance(value, int):
        if isinstance(value, JLong):
            return _long_hash(value)
        if isinstance(value, _JavaInt) or -0x8000_0000 <= value <= 0x7FFF_FFFF:
            return int(value)
        return _long_hash(value)
    if isinstance(value, float):
        if isinstance(value, JFloat):
            return _float_hash(value)
        return _double_hash(value)
    if isinstance(value, datetime):
        try:
            return _long_hash(date_to_millis(value))
        except ValueError:
            return None
    return None


def hashmap_layout(
    keys: list[object],
) -> tuple[list[int], int, int] | None:
    """Emulate ``new HashMap<>()`` followed by ``put`` of `keys` (distinct) in this order.

    Returns (iteration order as indexes into `keys`, table capacity, threshold), or None when
    some key's Java hash code is unknown.  Bins that Java would turn into red-black trees (9+
    colliding keys in a table of 64+) keep insertion order, which may differ from Java's.
    """
    hashes: list[int] = []
    for k in keys:
        h = java_hash(k)
        if h is None:
            return None
        u = h & 0xFFFFFFFF
        hashes.append(u ^ (u >> 16))
    cap = 0
    thr = 0
    table: list[list[int]] = []

    def resize() -> None:
        nonlocal cap, thr, table
        if cap == 0:
            cap, thr = 16, 12
        else:
            cap, thr = cap * 2, thr * 2
        new: list[list[int]] = [[] for _ in range(cap)]
        for b in table:
            for i in b:
                new[hashes[i] & (cap - 1)].append(i)
        table = new

    for i in range(len(keys)):
        if cap == 0:
            resize()
        b = table[hashes[i] & (cap - 1)]
        b.append(i)
        if len(b) >= 9 and cap < 64:  # treeifyBin on a small table resizes instead
            resize()
        if i + 1 > thr:
            resize()
    order = [i for b in table for i in b]
    return order, (cap or 16), thr


# --------------------------------------------------------------------------------------------
# Type names and display


_NATURAL_NAMES: Final[dict[type, str]] = {
    str: "java.lang.String",
    bool: "java.lang.Boolean",
    float: "java.lang.Double",
    bytes: "[B",
    bytearray: "[B",
    memoryview: "[B",
    list: "java.util.ArrayList",
    dict: "java.util.HashMap",
    set: "java.util.HashSet",
    frozenset: "java.util.HashSet",
    datetime: "java.util.Date",
}


def java_type_name(value: object) -> str:
    """The Java class name (``Class.getName()`` form) `value` reads from / writes as."""
    if value is None:
        return "null"
    jn = getattr(type(value), "java_name", None)
    if isinstance(jn, str) and jn:
        return jn
    if isinstance(value, JavaObject | JavaArray | JavaEnum):
        return value.desc.name
    if isinstance(value, JavaClass):
        return "java.lang.Class"
    if isinstance(value, ClassDesc | ProxyClassDesc):
        return "java.io.ObjectStreamClass"
    if isinstance(value, JavaException):
        return java_type_name(value.throwable)
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer" if -0x8000_0000 <= value <= 0x7FFF_FFFF else "java.lang.Long"
    if isinstance(value, datetime):
        return "java.util.Date"
    if isinstance(value, tuple):
        if all(v is None or isinstance(v, str) for v in value):
            return "[Ljava.lang.String;"
        return "[Ljava.lang.Object;"
    for t, name in _NATURAL_NAMES.items():
        if isinstance(value, t):
            return name
    raise TypeError(f"{type(value).__name__} has no Java serialization mapping")


def _json_float(v: float) -> object:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return float(v)


def to_json(value: object) -> object:
    """JSON-able plain data (dict/list/str/int/float/bool/None) for display; see module doc."""
    return _to_json(value, set(), 0)


def _to_json(value: object, active: set[int], depth: int) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, JBoolean):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, BlockData):
        return {"block": value.data.hex()}
    if isinstance(value, JavaEnum):
        return {"enum": value.desc.name, "constant": value.constant}
    if isinstance(value, JavaClass):
        return {"class": "java.lang.Class", "name": value.desc.name}
    if isinstance(value, ClassDesc | ProxyClassDesc):
        return {"class": "java.io.ObjectStreamClass", "name": value.name}
    if id(value) in active or depth > 200:
        try:
            name = java_type_name(value)
        except TypeError:
            name = type(value).__name__
        return {"cycle": name}
    active.add(id(value))
    try:
        return _to_json_container(value, active, depth + 1)
    finally:
        active.discard(id(value))


def _to_json_container(value: object, active: set[int], depth: int) -> object:
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {str(k): _to_json(v, active, depth) for k, v in value.items()}
        return [[_to_json(k, active, depth), _to_json(v, active, depth)] for k, v in value.items()]
    if isinstance(value, list | tuple | set | frozenset | JHashSet):
        return [_to_json(v, active, depth) for v in value]
    if isinstance(value, JavaArray):
        if isinstance(value.items, bytes):
            return value.items.hex()
        return [_to_json(v, active, depth) for v in value.items]
    if isinstance(value, JavaObject):
        out: dict[str, object] = {"class": value.desc.name}
        fields: dict[str, object] = {}
        data: list[object] = []
        for cd in value.class_data:
            for k, v in cd.values.items():
                key = k if k not in fields else f"{cd.desc.name}.{k}"
                fields[key] = _to_json(v, active, depth)
            if cd.annotations:
                data.extend(_to_json(v, active, depth) for v in cd.annotations)
        out["fields"] = fields
        if data:
            out["data"] = data
        if value.external is not None:
            out["external"] = [_to_json(v, active, depth) for v in value.external]
        return out
    if isinstance(value, JavaException):
        return {"exception": _to_json(value.throwable, active, depth)}
    return {"unknown": type(value).__name__, "repr": repr(value)}
