"""Class descriptors of the JDK classes the natural values map to (JDK 17, verified with
``ObjectStreamClass.lookup`` and against streams written by ObjectOutputStream).

The writer uses these for natural values; the reader turns an object into a natural value only
when its descriptor chain is structurally identical to the one here (so it writes back
identically).
"""

from __future__ import annotations

from typing import Final

from .constants import SC_SERIALIZABLE, SC_WRITE_METHOD
from .model import AnyClassDesc, ClassDesc, FieldDesc

__all__ = [
    "ARRAY_DESCS",
    "JDK_DESCS",
    "array_desc",
    "jdk_desc",
    "same_desc",
    "signed_suid",
]

_S: Final = SC_SERIALIZABLE
_SW: Final = SC_SERIALIZABLE | SC_WRITE_METHOD


def signed_suid(suid: int) -> int:
    """A serialVersionUID given as its 8 unsigned wire bytes → the signed Java long."""
    suid &= 0xFFFF_FFFF_FFFF_FFFF
    return suid - (1 << 64) if suid >= 1 << 63 else suid


def _d(
    name: str,
    suid: int,
    flags: int,
    fields: tuple[FieldDesc, ...] = (),
    superclass: ClassDesc | None = None,
) -> ClassDesc:
    return ClassDesc(name, signed_suid(suid), flags, fields, superclass, [])


NUMBER: Final = _d("java.lang.Number", 0x86AC951D0B94E08B, _S)
INTEGER: Final = _d("java.lang.Integer", 0x12E2A0A4F7818738, _S, (FieldDesc("I", "value"),), NUMBER)
LONG: Final = _d("java.lang.Long", 0x3B8BE490CC8F23DF, _S, (FieldDesc("J", "value"),), NUMBER)
SHORT: Final = _d("java.lang.Short", 0x684D37133460DA52, _S, (FieldDesc("S", "value"),), NUMBER)
BYTE: Final = _d("java.lang.Byte", 0x9C4E6084EE50F51C, _S, (FieldDesc("B", "value"),), NUMBER)
FLOAT: Final = _d("java.lang.Float", 0xDAEDC9A2DB3CF0EC, _S, (FieldDesc("F", "value"),), NUMBER)
DOUBLE: Final = _d("java.lang.Double", 0x80B3C24A296BFB04, _S, (FieldDesc("D", "value"),), NUMBER)
CHARACTER: Final = _d("java.lang.Character", 0x348B47D96B1A2678, _S, (FieldDesc("C", "value"),))
BOOLEAN: Final = _d("java.lang.Boolean", 0xCD207280D59CFAEE, _S, (FieldDesc("Z", "value"),))

ARRAY_LIST: Final = _d("java.util.ArrayList", 0x7881D21D99C7619D, _SW, (FieldDesc("I", "size"),))
LINKED_LIST: Final = _d("java.util.LinkedList", 0x0C29535D4A608822, _SW)
HASH_MAP: Final = _d(
    "java.util.HashMap",
    0x0507DAC1C31660D1,
    _SW,
    (FieldDesc("F", "loadFactor"), FieldDesc("I", "threshold")),
)
LINKED_HASH_MAP: Final = _d(
    "java.util.LinkedHashMap",
    0x34C04E5C106CC0FB,
    _S,
    (FieldDesc("Z", "accessOrder"),),
    HASH_MAP,
)
TREE_MAP: Final = _d(
    "java.util.TreeMap",
    0x0CC1F63E2D256AE6,
    _SW,
    (FieldDesc("L", "comparator", "Ljava/util/Comparator;"),),
)
HASH_SET: Final = _d("java.util.HashSet", 0xBA44859596B8B734, _SW)
LINKED_HASH_SET: Final = _d("java.util.LinkedHashSet", 0xD86CD75A95DD2A1E, _S, (), HASH_SET)
DATE: Final = _d("java.util.Date", 0x686A81014B597419, _SW)
ENUM: Final = _d("java.lang.Enum", 0, _S | 0x10)

#: Array descriptors of the JDK (serialVersionUIDs of array classes are not checked by readers,
#: but Java computes and writes these).
ARRAY_DESCS: Final[dict[str, ClassDesc]] = {
    d.name: d
    for d in (
        _d("[B", 0xACF317F8060854E0, _S),
        _d("[C", 0xB02666B0E25D84AC, _S),
        _d("[D", 0x3EA68C14AB635A1E, _S),
        _d("[F", 0x0B9C818922E00C42, _S),
        _d("[I", 0x4DBA602676EAB2A5, _S),
        _d("[J", 0x782004B512B17593, _S),
        _d("[S", 0xEF832E06E55DB0FA, _S),
        _d("[Z", 0x578F203914B85DE2, _S),
        _d("[Ljava.lang.String;", 0xADD256E7E91D7B47, _S),
        _d("[Ljava.lang.Object;", 0x90CE589F1073296C, _S),
    )
}
BYTE_ARRAY: Final = ARRAY_DESCS["[B"]
STRING_ARRAY: Final = ARRAY_DESCS["[Ljava.lang.String;"]
OBJECT_ARRAY: Final = ARRAY_DESCS["[Ljava.lang.Object;"]

JDK_DESCS: Final[dict[str, ClassDesc]] = {
    d.name: d
    for d in (
        NUMBER,
        INTEGER,
        LONG,
        SHORT,
        BYTE,
        FLOAT,
        DOUBLE,
        CHARACTER,
        BOOLEAN,
        ARRAY_LIST,
        LINKED_LIST,
        HASH_MAP,
        LINKED_HASH_MAP,
        TREE_MAP,
        HASH_SET,
        LINKED_HASH_SET,
        DATE,
        ENUM,
        *ARRAY_DESCS.values(),
    )
}


def jdk_desc(name: str) -> ClassDesc:
    """The descriptor of a JDK class this package knows (KeyError otherwise)."""
    return JDK_DESCS[name]


def array_desc(name: str) -> ClassDesc:
    """The descriptor of a JDK array class such as ``"[I"`` or ``"[Ljava.lang.String;"``."""
    return ARRAY_DESCS[name]


def same_desc(a: AnyClassDesc | None, b: AnyClassDesc | None) -> bool:
    """Whether two descriptor chains would be written identically (ignoring handles)."""
    seen = 0
    while True:
        if a is b:
            return True
        if a is None or b is None:
            return False
        if isinstance(a, ClassDesc) and isinstance(b, ClassDesc):
            if a.name != b.name or a.suid != b.suid or a.flags != b.flags or a.fields != b.fields:
                return False
        elif isinstance(a, ClassDesc) or isinstance(b, ClassDesc) or a.interfaces != b.interfaces:
            return False
        # Annotations can hold arbitrary objects; only identical lists are "the same".
        if (a.annotations or b.annotations) and a.annotations is not b.annotations:
            return False
        a, b = a.superclass, b.superclass
        seen += 1
        if seen > 10_000:  # a cyclic chain (only malformed input builds one)
            return False
