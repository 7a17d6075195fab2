"""RpcChannel (TRIBES.md §5.6) on top of `Channel`.

* Requests: `RpcChannel.send(members, message, mode, options, timeout)` sends
  `RpcMessage{reply=False, uuid, rpcId, message}` with `options & ~SYNCHRONIZED_ACK` and waits
  (unless NO_REPLY) until the collector is complete or `timeout` passes, then returns whatever
  arrived: a list of (sender, reply message), the sender being the reply's ChannelData address.
  Replies are matched by uuid only; a `NoRpcChannelReply` lowers the expected count instead of
  adding a response.  `message` may be a function of the destination, for messages whose bytes
  depend on who reads them (the MemberImpl SUID of Tomcat 9 vs 10): destinations are then
  grouped by identical bytes, one send per group, one uuid for all.
* Serving: `callback.reply_request(message, sender)` gives the reply (None is sent as a null
  reply); it goes back with the same uuid and rpcId and `reply=True` to the ChannelData address
  of the request, with `reply_options & ~SYNCHRONIZED_ACK` (0: synchronous, no ACK).
* A reply that finds no waiting request goes to `callback.left_over` (not a NoRpcChannelReply).
* `RpcRouter` is GroupChannel's part: it hands each RpcMessage to every RpcChannel with that
  rpcId, and answers one that none accepted with a `NoRpcChannelReply` (options 8), unless it is
  a NoRpcChannelReply itself.

The matching (`RpcCollector`, `RpcTable`) is sans-io; `RpcChannel` adds the trio waiting.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import trio

from ..messages.codec import encode_payload
from ..messages.rpc import (
    ALL_REPLY,
    FIRST_REPLY,
    MAJORITY_REPLY,
    NO_REPLY,
    NoRpcChannelReply,
    RpcMessage,
)
from ..wire.channel_data import ChannelData, new_unique_id
from ..wire.member import Member
from .sender import RemoteProcessError, SendResult
from .transport import describe, log_event

SYNCHRONIZED_ACK = 0x4
ASYNCHRONOUS = 0x8

Response = tuple[Member, object]
Encodable = RpcMessage | NoRpcChannelReply


class SendsBytes(Protocol):
    """The part of `Channel` an RpcChannel needs."""

    async def send(
        self,
        members: Iterable[Member],
        message: bytes | bytearray | memoryview,
        options: int,
        *,
        byte_message: bool,
    ) -> SendResult: ...


class RpcCallback(Protocol):
    """Tomcat's RpcCallback; `reply_request` may also be a coroutine function."""

    def reply_request(self, message: object, sender: Member) -> object: ...

    def left_over(self, message: object, sender: Member) -> None: ...


# --- sans-io matching ----------------------------------------------------------------------------


class RpcCollector:
    """The responses to one request and whether enough have arrived (RpcChannel.RpcCollector)."""

    __slots__ = ("dest_count", "mode", "responses", "uuid")

    def __init__(self, uuid: bytes, mode: int, dest_count: int) -> None:
        if mode not in (FIRST_REPLY, MAJORITY_REPLY, ALL_REPLY, NO_REPLY):
            raise ValueError(f"unknown RPC reply mode {mode}")
        self.uuid = uuid
        self.mode = mode
        self.dest_count = dest_count
        self.responses: list[Response] = []

    def add(self, sender: Member, message: object) -> None:
        self.responses.append((sender, message))

    def no_channel(self) -> None:
        """A NoRpcChannelReply: one destination fewer to wait for."""
        self.dest_count -= 1

    @property
    def complete(self) -> bool:
        if self.dest_count <= 0:
            return True
        n = len(self.responses)
        if self.mode == ALL_REPLY:
            return n >= self.dest_count
        if self.mode == MAJORITY_REPLY:
            return n / self.dest_count >= 0.5
        if self.mode == FIRST_REPLY:
            return n > 0
        return False


class Outcome(Enum):
    """What `RpcTable.reply` did with an incoming reply."""

    MATCHED = "matched"
    COMPLETED = "completed"  # matched and the collector just became complete
    LEFT_OVER = "left_over"  # no request waiting: hand to callback.left_over
    DROPPED = "dropped"  # a NoRpcChannelReply for no waiting request


class RpcTable:
    """Open requests by uuid; replies are matched by uuid alone."""

    def __init__(self) -> None:
        self._open: dict[bytes, RpcCollector] = {}

    def __len__(self) -> int:
        return len(self._open)

    def open(self, uuid: bytes, mode: int, dest_count: int) -> RpcCollector:
        collector = RpcCollector(uuid, mode, dest_count)
        if mode != NO_REPLY:
            self._open[uuid] = collector
        return collector

    def close(self, uuid: bytes) -> RpcCollector | None:
        return self._open.pop(uuid, None)

    def get(self, uuid: bytes) -> RpcCollector | None:
        return self._open.get(uuid)

    def reply(self, msg: RpcMessage | NoRpcChannelReply, sender: Member) -> Outcome:
        collector = self._open.get(msg.uuid)
        if collector is None:
            return Outcome.DROPPED if isinstance(msg, NoRpcChannelReply) else Outcome.LEFT_OVER
        was_complete = collector.complete
        if isinstance(msg, NoRpcChannelReply):
            collector.no_channel()
        else:
            collector.add(sender, msg.message)
        if collector.complete and not was_complete:
            return Outcome.COMPLETED
        return Outcome.MATCHED


# --- trio ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class RpcResult:
    """`send_detailed`: the responses plus the destinations the send itself failed for."""

    responses: list[Response] = field(default_factory=list)
    faulty: dict[Member, Exception] = field(default_factory=dict)
    timed_out: bool = False


class RpcChannel:
    def __init__(
        self,
        channel: SendsBytes,
        rpc_id: bytes,
        callback: RpcCallback,
        *,
        reply_options: int = 0,
        encode: Callable[[Encodable], bytes] = encode_payload,
    ) -> None:
        self.channel = channel
        self.rpc_id = rpc_id
        self.callback = callback
        self.reply_options = reply_options
        self._encode = encode
        self.table = RpcTable()
        self._waiters: dict[bytes, trio.Event] = {}

    def accept(self, msg: object) -> bool:
        return isinstance(msg, RpcMessage | NoRpcChannelReply) and msg.rpc_id == self.rpc_id

    async def send(
        self,
        members: Sequence[Member],
        message: object | Callable[[Member], object],
        mode: int = ALL_REPLY,
        options: int = ASYNCHRONOUS,
        timeout: float = 3.0,
    ) -> list[Response]:
        """Send a request and wait for the replies (see the module doc)."""
        return (await self.send_detailed(members, message, mode, options, timeout)).responses

    async def send_detailed(
        self,
        members: Sequence[Member],
        message: object | Callable[[Member], object],
        mode: int = ALL_REPLY,
        options: int = ASYNCHRONOUS,
        timeout: float = 3.0,
    ) -> RpcResult:
        result = RpcResult()
        targets = _unique(members)
        if not targets:
            return result
        uuid = new_unique_id()
        collector = self.table.open(uuid, mode, len(targets))
        done = trio.Event()
        if mode != NO_REPLY:
            self._waiters[uuid] = done
        try:
            with trio.move_on_after(timeout) as scope:
                await self._send_request(uuid, targets, message, options, result)
                # A destination we could not send to will not answer (Tomcat's sync send
                # throws here; waiting out the timeout would only delay the caller).
                collector.dest_count -= len(result.faulty)
                if mode != NO_REPLY and not collector.complete:
                    await done.wait()
            result.timed_out = scope.cancelled_caught
        finally:
            self.table.close(uuid)
            self._waiters.pop(uuid, None)
        result.responses = list(collector.responses)
        return result

    async def _send_request(
        self,
        uuid: bytes,
        targets: list[Member],
        message: object | Callable[[Member], object],
        options: int,
        result: RpcResult,
    ) -> None:
        opts = options & ~SYNCHRONIZED_ACK
        groups: dict[bytes, list[Member]] = {}
        for m in targets:
            body = message(m) if callable(message) else message
            data = self._encode(RpcMessage(False, uuid, self.rpc_id, body))
            groups.setdefault(data, []).append(m)
        for data, dests in groups.items():
            sent = await self.channel.send(dests, data, opts, byte_message=False)
            result.faulty.update(sent.faulty)

    async def message_received(self, msg: RpcMessage | NoRpcChannelReply, cd: ChannelData) -> None:
        """An RpcMessage with our rpcId (the router checked `accept`)."""
        sender = cd.member
        if isinstance(msg, NoRpcChannelReply) or msg.reply:
            outcome = self.table.reply(msg, sender)
            if outcome is Outcome.COMPLETED:
                waiter = self._waiters.get(msg.uuid)
                if waiter is not None:
                    waiter.set()
            elif outcome is Outcome.LEFT_OVER:
                assert isinstance(msg, RpcMessage)
                self.callback.left_over(msg.message, sender)
            return
        reply = self.callback.reply_request(msg.message, sender)
        if inspect.isawaitable(reply):
            reply = await reply
        data = self._encode(RpcMessage(True, msg.uuid, msg.rpc_id, reply))
        try:
            sent = await self.channel.send(
                [sender], data, self.reply_options & ~SYNCHRONIZED_ACK, byte_message=False
            )
        except (trio.ClosedResourceError, OSError) as e:
            log_event(
                "rpc_reply_failed", level=logging.WARNING, member=sender.name, error=describe(e)
            )
            return
        for m, err in sent.faulty.items():
            log_event(
                "rpc_reply_failed",
                level=logging.INFO if isinstance(err, RemoteProcessError) else logging.WARNING,
                member=m.name,
                error=describe(err),
            )


class RpcRouter:
    """GroupChannel's RPC duties: deliver to every RpcChannel that accepts, else answer with
    NoRpcChannelReply."""

    def __init__(
        self, channel: SendsBytes, *, encode: Callable[[Encodable], bytes] = encode_payload
    ) -> None:
        self.channel = channel
        self._encode = encode
        self._rpcs: list[RpcChannel] = []

    def add(self, rpc: RpcChannel) -> None:
        self._rpcs.append(rpc)

    def remove(self, rpc: RpcChannel) -> None:
        if rpc in self._rpcs:
            self._rpcs.remove(rpc)

    @property
    def channels(self) -> list[RpcChannel]:
        return list(self._rpcs)

    async def deliver(self, msg: RpcMessage | NoRpcChannelReply, cd: ChannelData) -> bool:
        """True when some RpcChannel took the message."""
        taken = False
        for rpc in tuple(self._rpcs):
            if rpc.accept(msg):
                taken = True
                await rpc.message_received(msg, cd)
        if not taken and isinstance(msg, RpcMessage):
            await self.no_rpc_channel_reply(msg, cd.member)
        return taken

    async def no_rpc_channel_reply(self, msg: RpcMessage, dest: Member) -> None:
        data = self._encode(NoRpcChannelReply(msg.uuid, msg.rpc_id))
        log_event(
            "no_rpc_channel",
            level=logging.DEBUG,
            member=dest.name,
            rpc_id=msg.rpc_id.decode("latin-1"),
        )
        try:
            await self.channel.send([dest], data, ASYNCHRONOUS, byte_message=False)
        except (trio.ClosedResourceError, OSError) as e:
            log_event(
                "rpc_reply_failed", level=logging.WARNING, member=dest.name, error=describe(e)
            )


def _unique(members: Iterable[Member]) -> list[Member]:
    seen: dict[tuple[bytes, int, bytes], Member] = {}
    for m in members:
        seen.setdefault(m.key, m)
    return list(seen.values())


__all__ = [
    "ALL_REPLY",
    "FIRST_REPLY",
    "MAJORITY_REPLY",
    "NO_REPLY",
    "Outcome",
    "Response",
    "RpcCallback",
    "RpcChannel",
    "RpcCollector",
    "RpcResult",
    "RpcRouter",
    "RpcTable",
    "SendsBytes",
]
