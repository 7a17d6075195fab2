"""RpcMessage and RpcMessage$NoRpcChannelReply (Externalizable, TRIBES.md §5.6)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProtocolError
from ..jserial import BlockReader, BlockWriter, JavaObject
from .classes import NO_RPC_CHANNEL_REPLY, RPC_MESSAGE

#: Cap on uuid / rpcId lengths read from a peer (Tomcat: 16 and ~40 bytes).
MAX_RPC_ID = 4096

# RpcChannel reply modes.
FIRST_REPLY = 1
MAJORITY_REPLY = 2
ALL_REPLY = 3
NO_REPLY = 4


@dataclass(slots=True)
class RpcMessage:
    """A request (`reply=False`) or the reply with the same `uuid`; `message` is the payload."""

    reply: bool
    uuid: bytes
    rpc_id: bytes
    message: object


@dataclass(slots=True)
class NoRpcChannelReply:
    """Sent back when no RpcChannel with that id exists at the receiver."""

    uuid: bytes
    rpc_id: bytes


def rpc_to_java(msg: RpcMessage | NoRpcChannelReply) -> JavaObject:
    w = BlockWriter()
    if isinstance(msg, RpcMessage):
        w.write_bool(msg.reply)
    w.write_int(len(msg.uuid))
    w.write_bytes(msg.uuid)
    w.write_int(len(msg.rpc_id))
    w.write_bytes(msg.rpc_id)
    if isinstance(msg, RpcMessage):
        w.write_object(msg.message)
        return JavaObject(RPC_MESSAGE, [], w.items())
    return JavaObject(NO_RPC_CHANNEL_REPLY, [], w.items())


def _read_id(r: BlockReader, what: str) -> bytes:
    n = r.read_int()
    if not 0 <= n <= MAX_RPC_ID:
        raise ProtocolError(f"RpcMessage {what} length {n} out of range")
    return r.read_bytes(n)


def rpc_from_java(obj: JavaObject) -> RpcMessage | NoRpcChannelReply:
    """Interpret a deserialized RpcMessage / NoRpcChannelReply."""
    if obj.external is None:
        raise ProtocolError(f"{obj.class_name} without external data")
    r = BlockReader(obj.external)
    if obj.class_name == NO_RPC_CHANNEL_REPLY.name:
        uuid = _read_id(r, "uuid")
        return NoRpcChannelReply(uuid, _read_id(r, "rpcId"))
    if obj.class_name != RPC_MESSAGE.name:
        raise ProtocolError(f"not an RpcMessage: {obj.class_name}")
    reply = r.read_bool()
    uuid = _read_id(r, "uuid")
    rpc_id = _read_id(r, "rpcId")
    return RpcMessage(reply, uuid, rpc_id, r.read_object())
