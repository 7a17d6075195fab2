"""Resource limits applied while reading a serialization stream.

Every length or count read from the wire is checked against these *before* anything is
allocated for it; independently of them the reader never allocates more than the remaining
input could back (an ``int[]`` of n elements needs 4n bytes left, an ``Object[]`` of n needs n).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    #: Nesting of objects, arrays and class descriptors (superclass chains count too).
    max_depth: int = 200
    #: Handles (objects, strings, class descriptors, ...) between two resets.
    max_handles: int = 1_000_000
    #: Elements of one array.
    max_array_length: int = 16 * 1024 * 1024
    #: Encoded (modified UTF-8) bytes of one string.
    max_string_length: int = 16 * 1024 * 1024
    #: Bytes of one block-data record (TC_BLOCKDATA / TC_BLOCKDATALONG).
    max_block_bytes: int = 16 * 1024 * 1024
    #: Size of the whole input.
    max_total_bytes: int = 256 * 1024 * 1024
    #: Fields of one class descriptor (and interfaces of one proxy descriptor).
    max_fields: int = 4096


DEFAULT_LIMITS = Limits()
