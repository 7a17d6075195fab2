"""Python values -> the Java values a Tomcat node expects in a session attribute.

The natural mapping (what `Session.set(name, value)` does without `java_type`):

=================  ==========================================
Python             Java
=================  ==========================================
``str``            ``java.lang.String``
``bool``           ``java.lang.Boolean``
``int``            ``java.lang.Integer`` when it fits 32 bits, else ``java.lang.Long``
``float``          ``java.lang.Double``
``bytes``          ``byte[]``
``list``           ``java.util.ArrayList`` (elements mapped the same way)
``dict``           ``java.util.HashMap`` (keys and values mapped the same way)
``datetime``       ``java.util.Date``
``tuple`` of str   ``String[]``
``set``            ``java.util.HashSet`` (elements mapped the same way)
=================  ==========================================

A ``datetime`` must be timezone-aware (Java's Date is an instant).

Values that already carry a Java type (``JInteger``, ``JLong``, ..., ``JHashMap``, an opaque
``JavaObject``, anything received from Tomcat) are kept exactly as they are, so a value read
from a Tomcat node is re-sent byte-identically.

`to_java(value, java_type)` forces a type: short names (``"Long"``), qualified names
(``"java.lang.Long"``) and ``"byte[]"`` / ``"String[]"`` are accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..jserial import (
    JavaArray,
    JavaEnum,
    JavaObject,
    JBoolean,
    JByte,
    JCharacter,
    JDouble,
    JFloat,
    JHashMap,
    JHashSet,
    JInteger,
    JLinkedList,
    JLong,
    JShort,
    JTreeMap,
)

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1

#: Classes whose Python representation already says which Java type they are.
_TYPED: tuple[type, ...] = (
    JInteger,
    JLong,
    JShort,
    JByte,
    JFloat,
    JDouble,
    JCharacter,
    JBoolean,
    JHashMap,
    JHashSet,
    JTreeMap,
    JLinkedList,
    JavaObject,
    JavaArray,
    JavaEnum,
)
#: Kept as they are by `to_java` (one tuple, not built per call).
_KEPT: tuple[type, ...] = (*_TYPED, bool, str)


def _ranged(
    cls: Callable[[int], object], lo: int, hi: int, java: str
) -> Callable[[object], object]:
    def convert(value: object) -> object:
        if isinstance(value, bool | JBoolean) or not isinstance(value, int):
            raise TypeError(f"a {java} needs an int, not {type(value).__name__}")
        if not lo <= value <= hi:
            raise ValueError(f"{value} does not fit a {java}")
        return cls(value)

    return convert


def _floating(cls: Callable[[float], object], java: str) -> Callable[[object], object]:
    def convert(value: object) -> object:
        if isinstance(value, bool | JBoolean) or not isinstance(value, int | float):
            raise TypeError(f"a {java} needs a number, not {type(value).__name__}")
        return cls(float(value))

    return convert


def _string(value: object) -> object:
    if not isinstance(value, str) or isinstance(value, JCharacter):
        raise TypeError(f"a java.lang.String needs a str, not {type(value).__name__}")
    return value


def _boolean(value: object) -> object:
    if not isinstance(value, bool | JBoolean):
        raise TypeError(f"a java.lang.Boolean needs a bool, not {type(value).__name__}")
    return value


def _date(value: object) -> object:
    if not isinstance(value, datetime):
        raise TypeError(f"a java.util.Date needs a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a java.util.Date needs a timezone-aware datetime")
    return value


def _hash_set(value: object) -> object:
    if isinstance(value, JHashSet):
        return value
    if not isinstance(value, set | frozenset | list | tuple):
        raise TypeError(f"a HashSet needs a set, not {type(value).__name__}")
    return {to_java(v) for v in value}


def _character(value: object) -> object:
    if not isinstance(value, str) or len(value) != 1 or ord(value) > 0xFFFF:
        raise TypeError("a java.lang.Character needs a one-character str (BMP)")
    return JCharacter(value)


def _byte_array(value: object) -> object:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"a byte[] needs bytes, not {type(value).__name__}")
    return bytes(value)


def _string_array(value: object) -> object:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError("a String[] needs a sequence of str")
    return tuple(value)


def _array_list(value: object) -> object:
    if not isinstance(value, list | tuple):
        raise TypeError(f"an ArrayList needs a list, not {type(value).__name__}")
    return [to_java(v) for v in value]


def _hash_map(value: object) -> object:
    if isinstance(value, JHashMap):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"a HashMap needs a dict, not {type(value).__name__}")
    return {to_java(k): to_java(v) for k, v in value.items()}


_CONVERTERS: dict[str, Callable[[object], object]] = {
    "java.lang.String": _string,
    "java.lang.Boolean": _boolean,
    "java.lang.Integer": _ranged(JInteger, INT_MIN, INT_MAX, "java.lang.Integer"),
    "java.lang.Long": _ranged(JLong, LONG_MIN, LONG_MAX, "java.lang.Long"),
    "java.lang.Short": _ranged(JShort, -(1 << 15), (1 << 15) - 1, "java.lang.Short"),
    "java.lang.Byte": _ranged(JByte, -128, 127, "java.lang.Byte"),
    "java.lang.Float": _floating(JFloat, "java.lang.Float"),
    "java.lang.Double": _floating(JDouble, "java.lang.Double"),
    "java.lang.Character": _character,
    "java.util.Date": _date,
    "java.util.ArrayList": _array_list,
    "java.util.HashMap": _hash_map,
    "java.util.HashSet": _hash_set,
    "byte[]": _byte_array,
    "String[]": _string_array,
}
_ALIASES = {name.rsplit(".", 1)[-1]: name for name in _CONVERTERS if "." in name}
_ALIASES.update({"[B": "byte[]", "java.lang.String[]": "String[]"})

#: The Java type names `to_java` accepts (qualified form).
JAVA_TYPES = frozenset(_CONVERTERS)


def to_java(value: object, java_type: str | None = None) -> object:
    """`value` as the Java value it should travel as (see the module docstring)."""
    if java_type is not None:
        name = _ALIASES.get(java_type, java_type)
        try:
            convert = _CONVERTERS[name]
        except KeyError:
            raise ValueError(f"unsupported Java type {java_type!r}") from None
        return convert(value)
    if type(value) is str or isinstance(value, _KEPT):  # (str: the usual attribute value)
        return value
    if value is None:
        raise TypeError("None has no Java value here (remove the attribute instead)")
    if isinstance(value, datetime):
        return _date(value)
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return JInteger(value)
        if LONG_MIN <= value <= LONG_MAX:
            return JLong(value)
        raise ValueError(f"{value} does not fit a java.lang.Long")
    if isinstance(value, float):
        return JDouble(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list):
        return _array_list(value)
    if isinstance(value, dict):
        return _hash_map(value)
    if isinstance(value, tuple):
        return _string_array(value)
    if isinstance(value, set | frozenset):
        return _hash_set(value)
    raise TypeError(f"no Java mapping for a {type(value).__name__}; name a java_type")
