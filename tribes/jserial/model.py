"""The inert data model of a Java serialization stream.

Nothing here has behaviour: an object of an unknown class is read into a `JavaObject` holding
its class descriptor chain and its field values, and written back from the same data.  Graph
nodes (`ClassDesc`, `JavaObject`, `JavaArray`, ...) have identity semantics (``eq=False``):
Java back references point at *the same instance*, and the writer emits a back reference exactly
when it meets the same Python object again.

Treat a `ClassDesc` as immutable once it has been used for reading or writing: readers and
writers cache per-descriptor layouts and encodings on it, and the reader shares descriptor
objects between streams that contain byte-identical descriptors (as the JVM has one
ObjectStreamClass per class).
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any, Final

from .constants import (
    OBJECT_TYPECODES,
    SC_BLOCK_DATA,
    SC_ENUM,
    SC_EXTERNALIZABLE,
    SC_SERIALIZABLE,
    SC_WRITE_METHOD,
)

__all__ = [
    "SC_BLOCK_DATA",
    "SC_ENUM",
    "SC_EXTERNALIZABLE",
    "SC_SERIALIZABLE",
    "SC_WRITE_METHOD",
    "AnyClassDesc",
    "BlockData",
    "ClassData",
    "ClassDesc",
    "FieldDesc",
    "JavaArray",
    "JavaClass",
    "JavaEnum",
    "JavaException",
    "JavaObject",
    "ProxyClassDesc",
]


@dataclass(frozen=True, slots=True)
class FieldDesc:
    """One serializable field: type code (``B C D F I J S Z L [``), name, and for ``L``/``[``
    the JVM type signature (``"Ljava/lang/String;"``, ``"[B"``)."""

    typecode: str
    name: str
    class_name: str | None = None

    @property
    def is_primitive(self) -> bool:
        return self.typecode not in OBJECT_TYPECODES


class _DescMixin:
    """Properties shared by `ClassDesc` and `ProxyClassDesc`."""

    __slots__ = ()
    flags: int
    superclass: AnyClassDesc | None

    @property
    def serializable(self) -> bool:
        return bool(self.flags & SC_SERIALIZABLE)

    @property
    def externalizable(self) -> bool:
        return bool(self.flags & SC_EXTERNALIZABLE)

    @property
    def block_data(self) -> bool:
        return bool(self.flags & SC_BLOCK_DATA)

    @property
    def has_write_method(self) -> bool:
        return bool(self.flags & SC_WRITE_METHOD)

    @property
    def is_enum(self) -> bool:
        return bool(self.flags & SC_ENUM)

    def hierarchy(self) -> list[AnyClassDesc]:
        """This class and its serializable superclasses, topmost first."""
        chain: list[AnyClassDesc] = []
        seen: set[int] = set()
        d: AnyClassDesc | None = self  # type: ignore[assignment]
        while d is not None:
            if id(d) in seen:  # a malformed, cyclic chain: stop rather than loop for ever
                break
            seen.add(id(d))
            chain.append(d)
            d = d.superclass
        chain.reverse()
        return chain


@dataclass(slots=True, eq=False, weakref_slot=True)
class ClassDesc(_DescMixin):
    """A class descriptor (TC_CLASSDESC).  ``suid`` is the signed 64-bit serialVersionUID."""

    name: str
    suid: int
    flags: int
    fields: tuple[FieldDesc, ...] = ()
    superclass: AnyClassDesc | None = None
    annotations: list[object] = field(default_factory=list)
    # Private caches of the reader and writer (layouts, encodings): never part of the value.
    _nat: Any = field(default=None, init=False, repr=False, compare=False)
    _rlayout: Any = field(default=None, init=False, repr=False, compare=False)
    _wlayout: Any = field(default=None, init=False, repr=False, compare=False)
    _wenc: Any = field(default=None, init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"ClassDesc({self.name!r}, suid={self.suid:#x}, flags={self.flags:#04x})"


@dataclass(slots=True, eq=False, weakref_slot=True)
class ProxyClassDesc(_DescMixin):
    """A dynamic proxy class descriptor (TC_PROXYCLASSDESC): just the interface names.

    It quacks like a `ClassDesc` (serializable, no fields, serialVersionUID 0); its
    ``superclass`` is normally ``java.lang.reflect.Proxy``, whose field ``h`` holds the handler.
    """

    interfaces: tuple[str, ...]
    superclass: AnyClassDesc | None = None
    annotations: list[object] = field(default_factory=list)
    _nat: Any = field(default=None, init=False, repr=False, compare=False)
    _rlayout: Any = field(default=None, init=False, repr=False, compare=False)
    _wlayout: Any = field(default=None, init=False, repr=False, compare=False)
    _wenc: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return "$Proxy[" + ",".join(self.interfaces) + "]"

    @property
    def suid(self) -> int:
        return 0

    @property
    def flags(self) -> int:  # type: ignore[override]
        return SC_SERIALIZABLE

    @property
    def fields(self) -> tuple[FieldDesc, ...]:
        return ()

    def __repr__(self) -> str:
        return f"ProxyClassDesc({self.interfaces!r})"


AnyClassDesc = ClassDesc | ProxyClassDesc


@dataclass(slots=True, eq=False)
class ClassData:
    """The data one class of an object's hierarchy contributed.

    ``values`` maps field names to values in descriptor order; ``annotations`` is, for classes
    with a ``writeObject`` method (SC_WRITE_METHOD), the custom data up to TC_ENDBLOCKDATA:
    `BlockData` records and nested objects, in stream order.  It is None for other classes.
    """

    desc: AnyClassDesc
    values: dict[str, object]
    annotations: list[object] | None = None


_MISSING: Final = object()


@dataclass(slots=True, eq=False, weakref_slot=True)
class JavaObject:
    """An instance of a Serializable or Externalizable class, kept as inert data.

    ``class_data`` has one `ClassData` per serializable class of the hierarchy, topmost first
    (empty for Externalizable objects); ``external`` holds what ``writeExternal`` wrote, in block
    data mode: `BlockData` records and nested objects (None for Serializable objects).
    """

    desc: AnyClassDesc
    class_data: list[ClassData] = field(default_factory=list)
    external: list[object] | None = None

    @property
    def class_name(self) -> str:
        return self.desc.name

    def field(self, name: str, default: object = _MISSING) -> object:
        """The value of field `name`, looked up from the most-derived class upwards."""
        for cd in reversed(self.class_data):
            if name in cd.values:
                return cd.values[name]
        if default is _MISSING:
            raise KeyError(f"{self.desc.name} has no serialized field {name!r}")
        return default

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        fields = {k: v for cd in self.class_data for k, v in cd.values.items()}
        extra = "" if self.external is None else f", external={self.external!r}"
        return f"JavaObject({self.desc.name!r}, {fields!r}{extra})"


@dataclass(slots=True, eq=False, weakref_slot=True)
class JavaArray:
    """An array.  ``items`` is `bytes` for ``byte[]``, a list of ints / floats / bools / 1-char
    strings (``char[]``) for other primitive arrays, and a list of values for object arrays."""

    desc: ClassDesc
    items: list[object] | bytes

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"JavaArray({self.desc.name!r}, {self.items!r})"


@dataclass(slots=True, eq=False, weakref_slot=True)
class JavaEnum:
    """An enum constant.  Equal (and hashing alike) when class name and constant name are."""

    desc: ClassDesc
    constant: str

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JavaEnum):
            return NotImplemented
        return self.constant == other.constant and self.desc.name == other.desc.name

    def __hash__(self) -> int:
        return hash((self.desc.name, self.constant))

    def __repr__(self) -> str:
        return f"JavaEnum({self.desc.name!r}, {self.constant!r})"


@dataclass(slots=True, eq=False, weakref_slot=True)
class JavaClass:
    """A ``java.lang.Class`` object (TC_CLASS)."""

    desc: AnyClassDesc

    def __repr__(self) -> str:
        return f"JavaClass({self.desc.name!r})"


@dataclass(frozen=True, slots=True)
class BlockData:
    """One block-data record (TC_BLOCKDATA, or TC_BLOCKDATALONG when longer than 255 bytes)."""

    data: bytes

    def __repr__(self) -> str:
        return f"BlockData({self.data.hex()})"


@dataclass(slots=True, eq=False)
class JavaException:
    """What TC_EXCEPTION yields in place of the top-level object whose writing was aborted.

    ``throwable`` is the exception the writer serialized (usually a
    ``java.io.NotSerializableException``).  ``partial`` holds the raw bytes the writer had
    already emitted for the aborted object before the TC_EXCEPTION marker; Java readers discard
    them, and they are kept only so that the stream can be written back byte for byte.
    """

    throwable: object
    partial: bytes = b""
