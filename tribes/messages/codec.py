"""From a ChannelData payload to a typed message, and back.

`decode_payload` is what both the node and `pytribes decode` use: it recognises the probe
payloads, raw byte messages, and the Java classes Tomcat sends; anything else stays an opaque
Java value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..jserial import DEFAULT_LIMITS, JavaObject, Limits, dumps, loads
from ..wire.framing import DEFAULT_MAX_PACKAGE
from ..wire.options import SendOptions
from ..wire.probes import TCP_FAIL_DETECT, TCP_PING_DATA
from .classes import (
    MEMBER_MESSAGE,
    NO_RPC_CHANNEL_REPLY,
    OUTER_CLASSES,
    RPC_MESSAGE,
    SESSION_MESSAGE_IMPL,
)
from .fast import SMI_PREFIX, decode_session_message, encode_session_message
from .membership import MemberMessage, member_message_from_java, member_message_to_java
from .rpc import NoRpcChannelReply, RpcMessage, rpc_from_java, rpc_to_java
from .session import SessionMessage, session_message_from_java, session_message_to_java

#: As a plain int: `int & IntFlag` goes through the enum machinery (~0.4 µs).
_BYTE_MESSAGE = int(SendOptions.BYTE_MESSAGE)


@dataclass(slots=True)
class TcpPing:
    """TcpPingInterceptor's payload: dropped on receipt."""


@dataclass(slots=True)
class FailDetectProbe:
    """TcpFailureDetector's probe payload: dropped on receipt."""


@dataclass(slots=True)
class ByteMessage:
    """A BYTE_MESSAGE payload: raw bytes for a byte-level listener."""

    data: bytes


@dataclass(slots=True)
class OtherJava:
    """A Java object no pytribes listener understands (kept as data)."""

    value: object


Message = (
    TcpPing
    | FailDetectProbe
    | ByteMessage
    | RpcMessage
    | NoRpcChannelReply
    | MemberMessage
    | SessionMessage
    | OtherJava
)


def package_limits(max_package: int) -> Limits:
    """Decoding limits for the payload of a package of up to `max_package` bytes: one byte[]
    (the body of an ALL_SESSION_DATA: 22 MB for 100k sessions) may be nearly that large. This
    stays bounded by what arrived: the reader allocates no array the input cannot fill."""
    d = DEFAULT_LIMITS
    return replace(
        d,
        max_array_length=max(d.max_array_length, max_package),
        max_total_bytes=max(d.max_total_bytes, max_package),
    )


#: `package_limits` of the default receiver `max_package`.
PACKAGE_LIMITS = package_limits(DEFAULT_MAX_PACKAGE)


def decode_payload(
    payload: bytes, options: int, *, strict: bool = True, limits: Limits = PACKAGE_LIMITS
) -> Message:
    """Interpret a ChannelData payload. `strict` restricts the outer graph to known classes
    (as a node does); the decode tool passes False to see everything."""
    byte_message = options & _BYTE_MESSAGE
    if not byte_message and payload.startswith(SMI_PREFIX):  # the hot one (never a probe)
        msg = decode_session_message(payload, limits, SessionMessage)
        if msg is not None:
            return msg
    if payload == TCP_PING_DATA:
        return TcpPing()
    if payload == TCP_FAIL_DETECT:
        return FailDetectProbe()
    if byte_message:
        return ByteMessage(payload)
    allow = OUTER_CLASSES.__contains__ if strict else None
    return from_java(loads(payload, limits=limits, allow=allow))


def from_java(obj: object) -> Message:
    """Type a deserialized outer object (and an RpcMessage's inner one)."""
    if not isinstance(obj, JavaObject):
        return OtherJava(obj)
    name = obj.class_name
    if name == SESSION_MESSAGE_IMPL.name:
        return session_message_from_java(obj)
    if name in (RPC_MESSAGE.name, NO_RPC_CHANNEL_REPLY.name):
        rpc = rpc_from_java(obj)
        if isinstance(rpc, RpcMessage) and isinstance(rpc.message, JavaObject):
            inner = from_java(rpc.message)
            rpc.message = inner.value if isinstance(inner, OtherJava) else inner
        return rpc
    if name == MEMBER_MESSAGE.name:
        return member_message_from_java(obj)
    return OtherJava(obj)


def to_java(msg: RpcMessage | NoRpcChannelReply | MemberMessage | SessionMessage) -> object:
    if isinstance(msg, SessionMessage):
        return session_message_to_java(msg)
    if isinstance(msg, MemberMessage):
        return member_message_to_java(msg)
    if isinstance(msg, RpcMessage) and isinstance(msg.message, MemberMessage | SessionMessage):
        return rpc_to_java(RpcMessage(msg.reply, msg.uuid, msg.rpc_id, to_java(msg.message)))
    return rpc_to_java(msg)


def encode_payload(msg: RpcMessage | NoRpcChannelReply | MemberMessage | SessionMessage) -> bytes:
    """`XByteBuffer.serialize(msg)`: a fresh stream holding one object."""
    if type(msg) is SessionMessage:
        data = encode_session_message(msg)
        if data is not None:
            return data
    return dumps(to_java(msg))
