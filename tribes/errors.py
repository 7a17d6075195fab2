"""The one exception family every codec raises on bad input.

A peer can send anything; callers catch `ProtocolError` (or `TribesError`) and nothing else,
so no malformed input can escape as an IndexError or struct.error.
"""

from __future__ import annotations


class TribesError(Exception):
    """Base of every error pytribes raises on purpose."""


class ProtocolError(TribesError):
    """Input that does not follow the protocol; `offset` says where, when known."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at offset {offset})")


class FramingError(ProtocolError):
    """A broken XByteBuffer package: bad start/end marker or impossible length."""


class SerializationError(ProtocolError):
    """A Java serialization stream we cannot read or a value we cannot write."""


class LimitExceeded(ProtocolError):
    """Input claims more than a configured limit allows; raised before allocating."""


class ClassNotAllowed(SerializationError):
    """A class outside the allow-list appeared where only known classes may appear."""
