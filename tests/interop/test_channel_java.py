"""Raw channel traffic between a real Tribes GroupChannel (Java, Tomcat 9.0.70 / 10.1.60 jars:
StaticMembershipService + TcpPingInterceptor + TcpFailureDetector + MessageDispatchInterceptor,
tests/interop/java) and a pytribes node, both ways, under send options 0, 2, 6 and 8.

* Java -> pytribes: every ByteMessage arrives exactly once with the options it was sent with;
  the pytribes receiver ACKs exactly the USE_ACK ones (its ACK counter), and under
  SYNCHRONIZED_ACK the Java send returns only after pytribes processed the message.
* pytribes -> Java: every message arrives exactly once; USE_ACK sends come back acked
  (`SendResult.ok`), option 8 is queued (MessageDispatchInterceptor), and under
  SYNCHRONIZED_ACK Java has processed the message when the send returns.
* The Java receiver's answers on a raw connection: nothing for 0 and 8, one ACK for 2 and 6,
  FAIL_ACK for 6 when its listener throws (ACK for 2: it acks before processing).
* A listener failure under option 6 is a FAIL_ACK both ways: Java gets a ChannelException,
  pytribes a RemoteProcessError.

pytribes runs in-process on 127.0.0.12, the Java peer as a subprocess on 127.0.0.11 (one per
Tomcat version, shared by the module's tests of that version).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import trio

from tests.interop.javapeer import (
    Peer,
    make_payload,
    parse_payload,
    peer_args,
    start_java_peer,
)
from tests.support import common_port
from tribes.config import MembershipConfig, NodeConfig, ReceiverConfig, StaticMemberConfig
from tribes.messages.codec import ByteMessage, Message
from tribes.net.node import Node, open_node
from tribes.net.sender import RemoteProcessError, SendResult
from tribes.net.transport import wall_clock_ms
from tribes.wire import ACK, FAIL_ACK, ChannelData, Member, frame_channel_data, new_unique_id

pytestmark = pytest.mark.interop

JAVA_HOST, PY_HOST = "127.0.0.11", "127.0.0.12"
OPTIONS = (0, 2, 6, 8)
COUNT = 300
SIZE = 512
BIG = 200_000  # several TCP segments per frame
CONCURRENCY = 4


def uid(n: int) -> bytes:
    return bytes(15) + bytes([n])


async def sync[T](fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    return await trio.to_thread.run_sync(partial(fn, *args, **kw))


@dataclass
class JavaSide:
    version: int
    port: int
    peer: Peer

    @property
    def member(self) -> Member:
        return Member.at(JAVA_HOST, self.port, uid(11))


@pytest.fixture(scope="module", params=[9, 10], ids=["tomcat9", "tomcat10"])
def java(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JavaSide]:
    version: int = request.param
    port = common_port(JAVA_HOST, PY_HOST)
    log = tmp_path_factory.mktemp(f"javapeer{version}") / "java.log"
    peer = start_java_peer(
        version, peer_args((JAVA_HOST, port), 11, [(PY_HOST, port, 12)]), log, name=f"java{version}"
    )
    try:
        yield JavaSide(version, port, peer)
    finally:
        peer.close()


@dataclass
class Received:
    """What the pytribes listener saw: per tag, (seq, wire options) in arrival order."""

    by_tag: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    other: list[Message] = field(default_factory=list)
    fail_tag: int | None = None
    #: seq of every message the listener failed, in arrival order
    failed: list[int] = field(default_factory=list)

    async def __call__(self, msg: Message, cd: ChannelData) -> None:
        head = parse_payload(msg.data) if isinstance(msg, ByteMessage) else None
        if head is None:
            self.other.append(msg)
            return
        tag, seq, _options, _ = head
        if tag == self.fail_tag:
            self.failed.append(seq)
            raise RuntimeError(f"told to fail for tag {tag}")
        self.by_tag.setdefault(tag, []).append((seq, cd.options))

    def count(self, tag: int) -> int:
        return len(self.by_tag.get(tag, ()))


@asynccontextmanager
async def pytribes(java: JavaSide) -> AsyncIterator[tuple[Node, Received]]:
    cfg = NodeConfig(
        unique_id=uid(12),
        tomcat_version=java.version,
        receiver=ReceiverConfig(address=PY_HOST, port=java.port),
        membership=MembershipConfig(
            members=(StaticMemberConfig(JAVA_HOST, java.port, uid(11)),),
        ),
    )
    rec = Received()
    async with open_node(cfg, setup=lambda n: n.add_message_listener(rec)) as node:
        with trio.fail_after(10):
            while not is_member(node, java.member):
                await trio.sleep(0.01)
        await sync(java.peer.wait_members, 1)
        yield node, rec


def is_member(node: Node, m: Member) -> bool:
    return any(x.key == m.key for x in node.members())


async def wait_count(rec: Received, tag: int, n: int, timeout: float = 20.0) -> None:
    with trio.move_on_after(timeout):
        while rec.count(tag) < n:
            await trio.sleep(0.005)
    assert rec.count(tag) >= n, f"tag {tag}: {rec.count(tag)} of {n} arrived"


def assert_exactly_once(rec: Received, tag: int, n: int, options: int) -> None:
    got = rec.by_tag.get(tag, [])
    seqs = sorted(s for s, _ in got)
    assert seqs == list(range(n)), f"tag {tag}: {len(got)} deliveries, {len(set(seqs))} distinct"
    # the wire options are the sender's, with BYTE_MESSAGE set by GroupChannel
    assert {o for _, o in got} == {options | 1}


async def test_java_sends_to_pytribes(java: JavaSide) -> None:
    async with pytribes(java) as (node, rec):
        stats = node.channel.receiver.stats
        for opts in OPTIONS:
            acks_before = stats.acks
            sent = await sync(java.peer.send, opts, COUNT, SIZE, opts, CONCURRENCY)
            assert sent["errors"] == 0, sent
            if opts & 4:
                # SYNCHRONIZED_ACK: each Java send returned after pytribes processed it
                assert rec.count(opts) == COUNT
            await wait_count(rec, opts, COUNT)
            await trio.sleep(0.05)  # anything extra (a duplicate) would arrive now
            assert_exactly_once(rec, opts, COUNT, opts)
            # pytribes ACKed exactly the USE_ACK messages (nothing else in this window asks)
            assert stats.acks - acks_before == (COUNT if opts & 2 else 0), opts
        # big frames (several TCP segments each) under the cluster's options
        sent = await sync(java.peer.send, 60, 5, BIG, 6, 1)
        assert sent["errors"] == 0
        assert_exactly_once(rec, 60, 5, 6)
        assert not rec.other  # no stray byte message, nothing undecodable
    assert "SEVERE" not in java.peer.log_text()


async def send_all(
    node: Node, to: Member, tag: int, opts: int, seqs: Iterator[int], out: list[SendResult]
) -> None:
    """One of several concurrent senders sharing the sequence numbers `seqs`."""
    for seq in seqs:
        out.append(await node.send_bytes([to], make_payload(tag, seq, opts, SIZE), opts))


async def test_pytribes_sends_to_java(java: JavaSide) -> None:
    async with pytribes(java) as (node, _rec):
        jm = java.member
        for opts in OPTIONS:
            tag = 100 + opts
            results: list[SendResult] = []
            seqs = iter(range(COUNT))
            async with trio.open_nursery() as nursery:
                for _ in range(CONCURRENCY):
                    nursery.start_soon(send_all, node, jm, tag, opts, seqs, results)
            assert len(results) == COUNT
            assert all(r.success for r in results), [r.faulty for r in results if r.faulty]
            if opts & 8:
                assert all(r.queued for r in results)  # MessageDispatchInterceptor
                await node.channel.drain()
            else:
                # sent (and for 2/6: ACK read) to the one destination
                assert all([m.key for m in r.ok] == [jm.key] for r in results)
            if opts & 4:
                # SYNCHRONIZED_ACK: Java processed every message before its ACK
                now = await sync(java.peer.stats, tag)
                assert now["unique"] == COUNT, now
            got = await sync(java.peer.wait_received, tag, COUNT, 20)
            assert (got["unique"], got["received"], got["duplicates"], got["bad"]) == (
                COUNT,
                COUNT,
                0,
                0,
            ), got
            assert got["by_options"] == {str(opts): COUNT}
        # big frames
        for seq in range(5):
            r = await node.send_bytes([jm], make_payload(160, seq, 6, BIG), 6)
            assert [m.key for m in r.ok] == [jm.key]
        got = await sync(java.peer.stats, 160)
        assert (got["unique"], got["duplicates"], got["bytes"]) == (5, 0, 5 * BIG)
        assert (await sync(java.peer.command, "bad"))["bad"] == 0
    assert "SEVERE" not in java.peer.log_text()


async def read_reply(stream: trio.SocketStream, wait: float) -> bytes:
    """Whatever the receiver writes back within `wait` seconds (at most one ACK's worth)."""
    data = b""
    with trio.move_on_after(wait):
        while len(data) < len(ACK):
            chunk = await stream.receive_some(64)
            if not chunk:
                break
            data += chunk
    return data


async def test_java_receiver_acks_as_the_options_say(java: JavaSide) -> None:
    """One raw connection to the Java receiver, as a pytribes sender uses it."""
    me = Member.at(PY_HOST, java.port, uid(12)).to_bytes()
    tag, fail_tag = 200, 201
    await sync(java.peer.command, f"fail tag={fail_tag}")

    def frame(options: int, payload: bytes) -> bytes:
        return frame_channel_data(options | 1, wall_clock_ms(), new_unique_id(), me, payload)

    stream = await trio.open_tcp_stream(JAVA_HOST, java.port)
    async with stream:
        for seq, opts in enumerate(OPTIONS):
            await stream.send_all(frame(opts, make_payload(tag, seq, opts, 100)))
            reply = await read_reply(stream, 0.3 if not opts & 2 else 5.0)
            assert reply == (ACK if opts & 2 else b""), (opts, reply)
        # its listener throws: FAIL_ACK under SYNCHRONIZED_ACK, a plain ACK for USE_ACK alone
        # (sent as soon as the message was read, before processing)
        await stream.send_all(frame(6, make_payload(fail_tag, 0, 6, 100)))
        assert await read_reply(stream, 5.0) == FAIL_ACK
        await stream.send_all(frame(2, make_payload(fail_tag, 1, 2, 100)))
        assert await read_reply(stream, 5.0) == ACK
    got = await sync(java.peer.wait_received, tag, len(OPTIONS), 5)
    assert (got["unique"], got["duplicates"]) == (len(OPTIONS), 0)
    assert got["by_options"] == {str(o): 1 for o in OPTIONS}
    await sync(java.peer.command, "fail tag=-1")


async def test_listener_failure_is_a_fail_ack_both_ways(java: JavaSide) -> None:
    async with pytribes(java) as (node, rec):
        # pytribes' listener throws: Java's send fails (RemoteProcessException)
        rec.fail_tag = 300
        sent = await sync(java.peer.send, 300, 3, 100, 6, 1)
        assert sent["errors"] == 3, sent
        assert "cause: org.apache.catalina.tribes.RemoteProcessException" in sent["error"], sent
        # Tomcat's sender may resend a FAIL_ACKed message once (maxRetryAttempts=1 covers
        # FAIL_ACK too, TRIBES.md §4.3; whether it does depends on timing): each of the three
        # messages reached our listener, none more than twice.
        assert sorted(set(rec.failed)) == [0, 1, 2], rec
        assert all(rec.failed.count(seq) <= 2 for seq in rec.failed), rec
        # Java's listener throws: pytribes gets a RemoteProcessError (the peer is alive)
        await sync(java.peer.command, "fail tag=301")
        try:
            r = await node.send_bytes([java.member], make_payload(301, 0, 6, 100), 6)
        finally:
            await sync(java.peer.command, "fail tag=-1")
        assert [type(e) for e in r.faulty.values()] == [RemoteProcessError], r
        # ... and it is still a member on both sides
        assert is_member(node, java.member)
        assert (await sync(java.peer.members)) == [f"tcp://{PY_HOST}:{java.port}"]
