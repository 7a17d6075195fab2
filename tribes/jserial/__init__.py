"""Sans-io Java Object Serialization codec (stream protocol version 2).

Reading: `read_stream` (every top-level content) and `loads` (exactly one object).  Writing:
`write_stream`, `dumps` and `ObjectWriter` (several writes sharing one handle table).
`BlockReader`/`BlockWriter` give the DataInput/DataOutput view of block-data contents.
Common JDK types map to natural Python values (see `tribes.jserial.values`); anything else is
read as inert data (`JavaObject`, `JavaArray`, ...) that writes back byte for byte.
"""

from .blocks import BlockReader, BlockWriter
from .catalog import array_desc, jdk_desc, signed_suid
from .constants import (
    SC_BLOCK_DATA,
    SC_ENUM,
    SC_EXTERNALIZABLE,
    SC_SERIALIZABLE,
    SC_WRITE_METHOD,
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
from .mutf8 import decode as decode_mutf8
from .mutf8 import encode as encode_mutf8
from .reader import loads, read_stream
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
    java_hash,
    java_type_name,
    to_json,
)
from .writer import ObjectWriter, dumps, write_stream

__all__ = [
    "DEFAULT_LIMITS",
    "SC_BLOCK_DATA",
    "SC_ENUM",
    "SC_EXTERNALIZABLE",
    "SC_SERIALIZABLE",
    "SC_WRITE_METHOD",
    "AnyClassDesc",
    "BlockData",
    "BlockReader",
    "BlockWriter",
    "ClassData",
    "ClassDesc",
    "FieldDesc",
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
    "JavaArray",
    "JavaClass",
    "JavaEnum",
    "JavaException",
    "JavaObject",
    "Limits",
    "ObjectWriter",
    "ProxyClassDesc",
    "SetMeta",
    "array_desc",
    "decode_mutf8",
    "dumps",
    "encode_mutf8",
    "java_hash",
    "java_type_name",
    "jdk_desc",
    "loads",
    "read_stream",
    "signed_suid",
    "to_json",
    "write_stream",
]
