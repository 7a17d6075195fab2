"""RpcChannel / RpcRouter semantics over a fake channel, with trio's MockClock."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
import trio

from tribes.messages import (
    ALL_REPLY,
    FIRST_REPLY,
    NO_REPLY,
    NoRpcChannelReply,
    RpcMessage,
)
from tribes.messages.rpc import MAJORITY_REPLY
from tribes.net.rpc import Outcome, RpcChannel, RpcCollector, RpcRouter, RpcTable
from tribes.net.sender import RemoteProcessError, SendResult
from tribes.wire import ChannelData, Member

RPC_ID = b"Catalina-Channel-StaticMembership"
LOCAL = Member.at("127.0.0.11", 4000, bytes([11] * 16))
B = Member.at("127.0.0.12", 4000, bytes([12] * 16))
C = Member.at("127.0.0.13", 4000, bytes([13] * 16))
D = Member.at("127.0.0.14", 4000, bytes([14] * 16))


# --- sans-io -------------------------------------------------------------------------------------


def test_collector_modes() -> None:
    c = RpcCollector(b"u", ALL_REPLY, 2)
    assert not c.complete
    c.add(B, "x")
    assert not c.complete
    c.no_channel()
    assert c.complete
    f = RpcCollector(b"u", FIRST_REPLY, 3)
    f.add(B, None)
    assert f.complete
    m = RpcCollector(b"u", MAJORITY_REPLY, 4)
    m.add(B, 1)
    assert not m.complete
    m.add(C, 2)
    assert m.complete
    n = RpcCollector(b"u", NO_REPLY, 1)
    assert not n.complete
    n.no_channel()
    assert n.complete  # nobody left to wait for
    with pytest.raises(ValueError):
        RpcCollector(b"u", 9, 1)


def test_table_matches_by_uuid_only() -> None:
    t = RpcTable()
    c = t.open(b"u1", ALL_REPLY, 2)
    assert t.reply(RpcMessage(True, b"u1", b"any-id", "r1"), B) is Outcome.MATCHED
    assert t.reply(NoRpcChannelReply(b"u1", RPC_ID), C) is Outcome.COMPLETED
    assert c.responses == [(B, "r1")] and c.dest_count == 1
    assert t.reply(RpcMessage(True, b"u2", RPC_ID, "late"), B) is Outcome.LEFT_OVER
    assert t.reply(NoRpcChannelReply(b"u2", RPC_ID), B) is Outcome.DROPPED
    assert t.close(b"u1") is c and len(t) == 0
    t.open(b"u3", NO_REPLY, 1)
    assert len(t) == 0  # NO_REPLY requests are not waited for


# --- a fake channel ------------------------------------------------------------------------------


@dataclass
class Sent:
    members: list[Member]
    msg: RpcMessage | NoRpcChannelReply
    options: int


@dataclass
class FakeChannel:
    local: Member = LOCAL
    sent: list[Sent] = field(default_factory=list)
    faulty: dict[tuple[bytes, int, bytes], Exception] = field(default_factory=dict)
    registry: dict[bytes, RpcMessage | NoRpcChannelReply] = field(default_factory=dict)
    on_send: list[object] = field(default_factory=list)

    def encode(self, msg: RpcMessage | NoRpcChannelReply) -> bytes:
        data = repr(msg).encode()
        self.registry[data] = msg
        return data

    async def send(
        self,
        members: Iterable[Member],
        message: bytes | bytearray | memoryview,
        options: int,
        *,
        byte_message: bool,
    ) -> SendResult:
        assert not byte_message
        targets = list(members)
        self.sent.append(Sent(targets, self.registry[bytes(message)], options))
        await trio.lowlevel.checkpoint()
        res = SendResult()
        for m in targets:
            if m.key in self.faulty:
                res.faulty[m] = self.faulty[m.key]
            else:
                res.ok.append(m)
        return res


class Callback:
    def __init__(self, reply: object = "pong") -> None:
        self.reply = reply
        self.requests: list[tuple[object, Member]] = []
        self.left: list[tuple[object, Member]] = []

    def reply_request(self, message: object, sender: Member) -> object:
        self.requests.append((message, sender))
        return self.reply

    def left_over(self, message: object, sender: Member) -> None:
        self.left.append((message, sender))


def cd_from(member: Member) -> ChannelData:
    return ChannelData(0, 0, bytes(16), member, b"")


def make() -> tuple[FakeChannel, RpcChannel, Callback, RpcRouter]:
    ch = FakeChannel()
    cb = Callback()
    rpc = RpcChannel(ch, RPC_ID, cb, encode=ch.encode)
    router = RpcRouter(ch, encode=ch.encode)
    router.add(rpc)
    return ch, rpc, cb, router


async def answer(
    router: RpcRouter, ch: FakeChannel, n: int, *replies: tuple[Member, object]
) -> None:
    """Wait until request n went out, then deliver the given replies to it."""
    while len(ch.sent) <= n:
        await trio.sleep(0.001)
    req = ch.sent[n].msg
    for sender, body in replies:
        if isinstance(body, NoRpcChannelReply):
            await router.deliver(NoRpcChannelReply(req.uuid, req.rpc_id), cd_from(sender))
        else:
            await router.deliver(RpcMessage(True, req.uuid, req.rpc_id, body), cd_from(sender))


# --- requests ------------------------------------------------------------------------------------


async def test_all_reply_returns_as_soon_as_everybody_answered(autojump_clock: object) -> None:
    ch, rpc, _, router = make()
    t0 = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(answer, router, ch, 0, (B, "b"), (C, "c"))
        got = await rpc.send([B, C], "ping", ALL_REPLY, 8, timeout=3.0)
    assert got == [(B, "b"), (C, "c")]
    assert trio.current_time() - t0 < 1.0
    (req,) = ch.sent
    assert isinstance(req.msg, RpcMessage) and not req.msg.reply
    assert req.msg.rpc_id == RPC_ID and req.msg.message == "ping" and len(req.msg.uuid) == 16
    assert req.options == 8 and req.members == [B, C]


async def test_timeout_returns_what_arrived(autojump_clock: object) -> None:
    ch, rpc, _, router = make()
    t0 = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(answer, router, ch, 0, (B, "b"))
        result = await rpc.send_detailed([B, C], "ping", ALL_REPLY, 8, timeout=3.0)
    assert result.responses == [(B, "b")] and result.timed_out
    assert trio.current_time() - t0 == pytest.approx(3.0)


async def test_nothing_arrives(autojump_clock: object) -> None:
    _, rpc, _, _ = make()
    assert await rpc.send([B], "ping", ALL_REPLY, 8, timeout=3.0) == []


async def test_no_rpc_channel_reply_lowers_the_expected_count(autojump_clock: object) -> None:
    ch, rpc, cb, router = make()
    t0 = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(answer, router, ch, 0, (B, "b"), (C, NoRpcChannelReply(b"", b"")))
        got = await rpc.send([B, C], "ping", ALL_REPLY, 8, timeout=3.0)
    assert got == [(B, "b")]
    assert trio.current_time() - t0 < 1.0
    assert cb.left == []


async def test_first_reply(autojump_clock: object) -> None:
    ch, rpc, _, router = make()
    async with trio.open_nursery() as n:
        n.start_soon(answer, router, ch, 0, (C, "c"))
        got = await rpc.send([B, C, D], "q", FIRST_REPLY, 8, timeout=3.0)
    assert got == [(C, "c")]


async def test_no_reply_does_not_wait(autojump_clock: object) -> None:
    ch, rpc, _, _ = make()
    t0 = trio.current_time()
    assert await rpc.send([B], "fire", NO_REPLY, 8, timeout=3.0) == []
    assert trio.current_time() == t0 and len(rpc.table) == 0 and len(ch.sent) == 1


async def test_synchronized_ack_is_taken_off(autojump_clock: object) -> None:
    ch, rpc, _, _ = make()
    await rpc.send([B], "x", NO_REPLY, 6)
    assert ch.sent[0].options == 2


async def test_late_replies_go_to_left_over(autojump_clock: object) -> None:
    ch, rpc, cb, router = make()
    await rpc.send([B], "ping", ALL_REPLY, 8, timeout=1.0)
    req = ch.sent[0].msg
    await router.deliver(RpcMessage(True, req.uuid, RPC_ID, "late"), cd_from(B))
    await router.deliver(NoRpcChannelReply(req.uuid, RPC_ID), cd_from(C))
    assert cb.left == [("late", B)]
    assert len(ch.sent) == 1  # nothing answered to a reply


async def test_per_destination_messages_share_one_uuid(autojump_clock: object) -> None:
    ch, rpc, _, _ = make()
    await rpc.send([B, C, D], lambda m: "v9" if m is C else "v10", NO_REPLY, 8)
    assert [(s.members, s.msg.message) for s in ch.sent if isinstance(s.msg, RpcMessage)] == [
        ([B, D], "v10"),
        ([C], "v9"),
    ]
    assert ch.sent[0].msg.uuid == ch.sent[1].msg.uuid


async def test_failed_sync_send_does_not_wait_for_that_member(autojump_clock: object) -> None:
    ch, rpc, _, router = make()
    ch.faulty[C.key] = ConnectionRefusedError("refused")
    t0 = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(answer, router, ch, 0, (B, "b"))
        result = await rpc.send_detailed([B, C], "ping", ALL_REPLY, 0, timeout=3.0)
    assert result.responses == [(B, "b")] and list(result.faulty) == [C]
    assert trio.current_time() - t0 < 1.0


# --- serving -------------------------------------------------------------------------------------


async def test_request_is_answered_to_the_channel_data_address_with_options_0() -> None:
    ch, _, cb, router = make()
    uuid = bytes(range(16))
    taken = await router.deliver(RpcMessage(False, uuid, RPC_ID, "ping"), cd_from(B))
    assert taken
    assert cb.requests == [("ping", B)]
    (reply,) = ch.sent
    assert reply.members == [B] and reply.options == 0
    assert reply.msg == RpcMessage(True, uuid, RPC_ID, "pong")


async def test_null_reply_is_still_sent_and_reply_options_lose_sync_ack() -> None:
    ch = FakeChannel()
    cb = Callback(reply=None)
    rpc = RpcChannel(ch, RPC_ID, cb, reply_options=0x6, encode=ch.encode)
    await rpc.message_received(RpcMessage(False, b"u" * 16, RPC_ID, "x"), cd_from(B))
    assert ch.sent[0].msg == RpcMessage(True, b"u" * 16, RPC_ID, None)
    assert ch.sent[0].options == 0x2


async def test_async_reply_request_is_awaited() -> None:
    ch = FakeChannel()

    class AsyncCallback(Callback):
        async def reply_request(self, message: object, sender: Member) -> object:
            await trio.lowlevel.checkpoint()
            return "later"

    rpc = RpcChannel(ch, RPC_ID, AsyncCallback(), encode=ch.encode)
    await rpc.message_received(RpcMessage(False, b"u" * 16, RPC_ID, "x"), cd_from(B))
    assert ch.sent[0].msg.message == "later"  # type: ignore[union-attr]


async def test_unknown_rpc_id_gets_no_rpc_channel_reply() -> None:
    ch, _, cb, router = make()
    uuid = bytes(range(16))
    taken = await router.deliver(RpcMessage(False, uuid, b"other-map", "x"), cd_from(C))
    assert not taken and cb.requests == []
    assert ch.sent == [Sent([C], NoRpcChannelReply(uuid, b"other-map"), 8)]
    # replies with an unknown id too (GroupChannel checks only `instanceof RpcMessage`)
    await router.deliver(RpcMessage(True, uuid, b"other-map", "x"), cd_from(C))
    assert len(ch.sent) == 2
    # but never for a NoRpcChannelReply
    assert not await router.deliver(NoRpcChannelReply(uuid, b"other-map"), cd_from(C))
    assert len(ch.sent) == 2


async def test_several_rpc_channels_with_the_same_id_all_receive() -> None:
    ch, _, cb, router = make()
    cb2 = Callback("second")
    router.add(RpcChannel(ch, RPC_ID, cb2, encode=ch.encode))
    await router.deliver(RpcMessage(False, b"u" * 16, RPC_ID, "x"), cd_from(B))
    assert cb.requests and cb2.requests
    assert [s.msg.message for s in ch.sent] == ["pong", "second"]  # type: ignore[union-attr]


async def test_reply_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    ch, _, _, router = make()
    ch.faulty[B.key] = RemoteProcessError("fail ack")
    await router.deliver(RpcMessage(False, b"u" * 16, RPC_ID, "x"), cd_from(B))
    assert any("rpc_reply_failed" in r.getMessage() for r in caplog.records)
