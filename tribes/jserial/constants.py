"""Constants of the Java Object Serialization stream protocol (java.io.ObjectStreamConstants)."""

from __future__ import annotations

from typing import Final

STREAM_MAGIC: Final = 0xACED
STREAM_VERSION: Final = 5
STREAM_HEADER: Final = b"\xac\xed\x00\x05"

TC_NULL: Final = 0x70
TC_REFERENCE: Final = 0x71
TC_CLASSDESC: Final = 0x72
TC_OBJECT: Final = 0x73
TC_STRING: Final = 0x74
TC_ARRAY: Final = 0x75
TC_CLASS: Final = 0x76
TC_BLOCKDATA: Final = 0x77
TC_ENDBLOCKDATA: Final = 0x78
TC_RESET: Final = 0x79
TC_BLOCKDATALONG: Final = 0x7A
TC_EXCEPTION: Final = 0x7B
TC_LONGSTRING: Final = 0x7C
TC_PROXYCLASSDESC: Final = 0x7D
TC_ENUM: Final = 0x7E

BASE_WIRE_HANDLE: Final = 0x7E0000

SC_WRITE_METHOD: Final = 0x01
SC_SERIALIZABLE: Final = 0x02
SC_EXTERNALIZABLE: Final = 0x04
SC_BLOCK_DATA: Final = 0x08
SC_ENUM: Final = 0x10

#: Java's BlockDataOutputStream buffers at most this many bytes per block record.
MAX_BLOCK_SIZE: Final = 1024

#: Field type codes: primitive ones, then the two reference ones.
PRIMITIVE_TYPECODES: Final = frozenset("BCDFIJSZ")
OBJECT_TYPECODES: Final = frozenset("L[")
