"""Nodes on real loopback sockets (127.0.0.11-13): a three-node pytribes cluster forms, loses a
killed node, sees a graceful stop at once and re-forms; and a node's answers as a Tomcat peer
sees them (driven through a raw Channel standing in for Tomcat)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import pytest
import trio

from tests.javagen import JavaChecker, JavaCheckError, checker, java_checker, tomcat_version  # noqa: F401
from tests.test_net_helpers import Recorder, events, running, wait_until
from tribes.config import (
    FailureDetectorConfig,
    MembershipConfig,
    NodeConfig,
    ReceiverConfig,
    StaticMemberConfig,
)
from tribes.membership.events import (
    Event,
    MemberAdded,
    MemberDisappeared,
    Reason,
)
from tribes.messages import (
    MSG_PING,
    MSG_START,
    MSG_STOP,
    JavaMember,
    MemberMessage,
    NoRpcChannelReply,
    RpcMessage,
    decode_payload,
    encode_payload,
)
from tribes.net.channel import Channel
from tribes.net.node import Node, open_node
from tribes.wire import SHUTDOWN_COMMAND, ChannelData, Member, format_unique_id, new_unique_id

HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
MID = b"Catalina-Channel-StaticMembership"
HEARTBEAT = 0.5
EXPIRATION = 1.5


def uid(host: str) -> bytes:
    return bytes([0] * 15 + [int(host.rsplit(".", 1)[1])])


def cluster_port() -> int:
    """A port free on every test address."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((HOSTS[0], 0))
            port = int(s.getsockname()[1])
        try:
            for h in HOSTS[1:]:
                with socket.socket() as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


def config(
    host: str, port: int, hosts: tuple[str, ...] = HOSTS, **membership: object
) -> NodeConfig:
    m: dict[str, object] = {
        "expiration_time": EXPIRATION,
        "connect_timeout": 0.3,
        "rpc_timeout": 0.5,
        "ping_interval": HEARTBEAT,
        "members": tuple(StaticMemberConfig(host=h, port=port, unique_id=uid(h)) for h in hosts),
    }
    m.update(membership)
    return NodeConfig(
        unique_id=uid(host),
        receiver=ReceiverConfig(address=host, port=port),
        membership=MembershipConfig(**m),  # type: ignore[arg-type]
        failure_detector=FailureDetectorConfig(connect_timeout=0.3),
    )


def hosts_of(node: Node) -> list[str]:
    return [m.host_text for m in node.members()]


@dataclass
class Running:
    node: Node
    scope: trio.CancelScope
    leave: trio.Event
    done: trio.Event
    seen: list[Event] = field(default_factory=list)

    def kill(self) -> None:
        self.scope.cancel()

    async def stop(self) -> None:
        self.leave.set()
        await self.done.wait()


@asynccontextmanager
async def cluster() -> AsyncIterator[Callable[[NodeConfig], Awaitable[Running]]]:
    async with trio.open_nursery() as nursery:

        async def start(cfg: NodeConfig) -> Running:
            return await nursery.start(_run_node, cfg)  # type: ignore[no-any-return]

        yield start
        nursery.cancel_scope.cancel()


async def _run_node(cfg: NodeConfig, *, task_status: trio.TaskStatus[Running]) -> None:
    leave, done = trio.Event(), trio.Event()
    try:
        with trio.CancelScope() as scope:
            async with open_node(cfg) as node:
                r = Running(node, scope, leave, done)
                stream = node.subscribe()
                async with trio.open_nursery() as n:

                    async def collect() -> None:
                        async for ev in stream:
                            r.seen.append(ev)

                    n.start_soon(collect)
                    task_status.started(r)
                    await leave.wait()
                    n.cancel_scope.cancel()
    finally:
        done.set()


async def test_three_nodes_form_survive_a_kill_see_a_stop_and_re_form(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    port = cluster_port()
    cfgs = [config(h, port) for h in HOSTS]
    with trio.fail_after(30):
        async with cluster() as start:
            a = await start(cfgs[0])
            await trio.sleep(0.2)  # A is clearly the oldest
            b = await start(cfgs[1])
            c = await start(cfgs[2])
            # the START exchange already happened: C knows A and B when open_node returns
            assert sorted(hosts_of(c.node)) == [HOSTS[0], HOSTS[1]]
            await wait_until(lambda: all(len(r.node.members()) == 2 for r in (a, b, c)), 5)
            # oldest first: A started first, so every other node lists it first
            assert hosts_of(b.node)[0] == HOSTS[0] and hosts_of(c.node)[0] == HOSTS[0]
            assert c.node.members()[0].alive > c.node.members()[1].alive
            assert 0 < c.node.uptime_ms < 5_000

            # survives heartbeats: pings keep everybody in
            await trio.sleep(EXPIRATION * 2)
            assert all(len(r.node.members()) == 2 for r in (a, b, c))

            # kill C: no MSG_STOP; the others drop it (probe refused / expiry)
            c.kill()
            await c.done.wait()
            t0 = trio.current_time()
            await wait_until(lambda: hosts_of(a.node) == [HOSTS[1]], 5)
            await wait_until(lambda: hosts_of(b.node) == [HOSTS[0]], 5)
            assert trio.current_time() - t0 < HEARTBEAT + EXPIRATION + 1.0
            gone = [e for e in a.seen if isinstance(e, MemberDisappeared)]
            assert gone and gone[0].member.host_text == HOSTS[2]
            assert gone[0].reason in (Reason.UNREACHABLE, Reason.EXPIRED, Reason.SEND_FAILED)

            # C comes back (same identity): the cluster re-forms
            c = await start(cfgs[2])
            await wait_until(lambda: all(len(r.node.members()) == 2 for r in (a, b, c)), 5)
            assert any(
                isinstance(e, MemberAdded) and e.member.host_text == HOSTS[2] for e in a.seen
            )
            # the restarted C is the youngest now
            assert hosts_of(a.node) == [HOSTS[1], HOSTS[2]]

            # graceful stop of C: MSG_STOP (BABY-ALEX) -> removed at once, not at a heartbeat
            a.seen.clear()
            t0 = trio.current_time()
            await c.stop()
            await wait_until(lambda: hosts_of(a.node) == [HOSTS[1]], 1)
            await wait_until(lambda: hosts_of(b.node) == [HOSTS[0]], 1)
            assert trio.current_time() - t0 < HEARTBEAT
            gone = [e for e in a.seen if isinstance(e, MemberDisappeared)]
            assert [e.reason for e in gone] == [Reason.SHUTDOWN]
            assert gone[0].member.command == SHUTDOWN_COMMAND
            # and it stays gone (no re-add from later heartbeats)
            await trio.sleep(HEARTBEAT * 3)
            assert hosts_of(a.node) == [HOSTS[1]]

            await a.stop()
            await b.stop()

    # one structured line per event, greppable like Tomcat's log
    added = events(caplog, "member_added")
    assert added
    line = added[0].getMessage()
    assert line.startswith("event=member_added local=tcp://127.0.0.1")
    assert "member=tcp://127.0.0.1" in line and "unique_id={0,0,0," in line
    stopped = [
        r.getMessage()
        for r in events(caplog, "member_disappeared")
        if "reason=shutdown" in r.getMessage()
    ]
    assert stopped and f"unique_id={format_unique_id(uid(HOSTS[2]))}" in stopped[0]
    assert events(caplog, "node_started") and events(caplog, "node_stopping")


# --- a node as a Tomcat peer sees it ---------------------------------------------------------


@asynccontextmanager
async def fake_tomcat(port: int) -> AsyncIterator[tuple[Channel, Recorder]]:
    """127.0.0.13 as a bare channel: it receives everything the node sends it."""
    ch = Channel(Member.at(HOSTS[2], port, uid(HOSTS[2])))
    rec = Recorder()
    ch.add_listener(rec)
    async with running(ch):
        yield ch, rec


def rpc_request(msgtype: int, member: Member, version: int, uuid: bytes) -> bytes:
    body = MemberMessage(msgtype, JavaMember(member, True, version), MID)
    return encode_payload(RpcMessage(False, uuid, MID, body))


def decoded(cd: ChannelData) -> object:
    return decode_payload(cd.message, cd.options)


async def test_node_answers_start_and_ping_like_tomcat() -> None:
    port = cluster_port()
    cfg = config(HOSTS[0], port, hosts=HOSTS[:1] + HOSTS[2:])
    async with fake_tomcat(port) as (tc, rec), open_node(cfg) as node:
        me = node.channel.local_member
        # the node's own START went to the reachable static peer (the fake Tomcat)
        await rec.wait_for(1)
        first = decoded(rec.items[0])
        assert isinstance(first, RpcMessage) and not first.reply
        assert rec.items[0].options == 8
        assert isinstance(first.message, MemberMessage) and first.message.msgtype == MSG_START
        assert first.message.member is not None
        assert first.message.member.tomcat_version == 10 and first.message.member.static
        assert first.message.member.member.same(me)

        # a Tomcat 9 peer sends START: the reply is options 0, reply=True, same uuid, our
        # member (never null) as a StaticMember with Tomcat 9's MemberImpl SUID
        uuid = new_unique_id()
        peer = tc.local_member.with_alive(12345)
        n = len(rec.items)
        await tc.send([me], rpc_request(MSG_START, peer, 9, uuid), 8, byte_message=False)
        await wait_until(
            lambda: any(
                isinstance(r := decoded(cd), RpcMessage) and r.reply and r.uuid == uuid
                for cd in rec.items[n:]
            )
        )
        cd = next(
            cd
            for cd in rec.items[n:]
            if isinstance(r := decoded(cd), RpcMessage) and r.reply and r.uuid == uuid
        )
        reply = decoded(cd)
        assert isinstance(reply, RpcMessage) and reply.rpc_id == MID
        assert cd.options == 0
        assert cd.member.same(me)
        assert isinstance(reply.message, MemberMessage)
        assert reply.message.msgtype == MSG_START and reply.message.membership_id == MID
        jm = reply.message.member
        assert jm is not None and jm.static and jm.tomcat_version == 9
        assert jm.member.same(me) and 0 <= jm.member.alive < 10_000
        assert node.version_of(peer) == 9

        # the peer becomes a member after the failure detector's probe
        await wait_until(lambda: [m.host_text for m in node.members()] == [HOSTS[2]])
        assert node.members()[0].alive == 12345

        # a PING gets a PING reply; our own pings to it are now written for Tomcat 9
        uuid2 = new_unique_id()
        await tc.send([me], rpc_request(MSG_PING, peer, 9, uuid2), 8, byte_message=False)

        def ping_from_node() -> bool:
            for cd in rec.items:
                r = decoded(cd)
                if (
                    isinstance(r, RpcMessage)
                    and not r.reply
                    and isinstance(r.message, MemberMessage)
                    and r.message.msgtype == MSG_PING
                    and r.message.member is not None
                ):
                    return r.message.member.tomcat_version == 9
            return False

        await wait_until(ping_from_node, 3)

        # an RPC for an id nobody serves: NoRpcChannelReply, options 8
        uuid3 = new_unique_id()
        other = encode_payload(RpcMessage(False, uuid3, b"some-map", "x"))
        n = len(rec.items)
        await tc.send([me], other, 8, byte_message=False)
        await wait_until(
            lambda: any(isinstance(decoded(cd), NoRpcChannelReply) for cd in rec.items[n:])
        )
        cd = next(cd for cd in rec.items[n:] if isinstance(decoded(cd), NoRpcChannelReply))
        assert cd.options == 8
        assert decoded(cd) == NoRpcChannelReply(uuid3, b"some-map")

        # MSG_STOP (bare MemberMessage, BABY-ALEX): gone at once
        leaving = peer.with_alive(20000)
        stop = MemberMessage(MSG_STOP, JavaMember(_baby_alex(leaving), True, 9), MID)
        await tc.send([me], encode_payload(stop), 8, byte_message=False)
        await wait_until(lambda: node.members() == [], 1)


def _baby_alex(m: Member) -> Member:
    return replace(m, command=SHUTDOWN_COMMAND)


async def test_graceful_stop_sends_a_bare_msg_stop_with_baby_alex() -> None:
    port = cluster_port()
    cfg = config(HOSTS[0], port, hosts=HOSTS[:1] + HOSTS[2:])
    async with fake_tomcat(port) as (tc, rec):
        async with open_node(cfg) as node:
            me = node.channel.local_member
            peer = tc.local_member.with_alive(500)
            await tc.send(
                [me], rpc_request(MSG_START, peer, 10, new_unique_id()), 8, byte_message=False
            )
            await wait_until(lambda: len(node.members()) == 1)
            n = len(rec.items)
        # leaving the block: MSG_STOP went out before the connections closed
        stops = [
            (cd, m)
            for cd in rec.items[n:]
            if isinstance(m := decoded(cd), MemberMessage) and m.msgtype == MSG_STOP
        ]
        assert len(stops) == 1
        cd, stop = stops[0]
        assert cd.options == 8
        assert stop.membership_id == MID
        assert stop.member is not None and stop.member.member.command == SHUTDOWN_COMMAND
        assert stop.member.member.same(me)
        assert cd.member.command == SHUTDOWN_COMMAND  # the address is the same local member


async def test_killed_node_sends_nothing() -> None:
    port = cluster_port()
    cfg = config(HOSTS[0], port, hosts=HOSTS[:1] + HOSTS[2:])
    async with fake_tomcat(port) as (tc, rec):
        with trio.CancelScope() as scope:
            async with open_node(cfg) as node:
                me = node.channel.local_member
                await tc.send(
                    [me],
                    rpc_request(MSG_START, tc.local_member, 10, new_unique_id()),
                    8,
                    byte_message=False,
                )
                await wait_until(lambda: len(node.members()) == 1)
                n = len(rec.items)
                scope.cancel()
                await trio.sleep(1)
        await trio.sleep(0.2)
        assert not any(
            isinstance(m := decoded(cd), MemberMessage) and m.msgtype == MSG_STOP
            for cd in rec.items[n:]
        )
        # and its port is closed
        assert not await tc.reachable(me, 0.3)


async def test_message_listener_gets_other_messages_and_membership_callbacks_fire() -> None:
    port = cluster_port()
    cfg = config(HOSTS[0], port, hosts=HOSTS[:1] + HOSTS[2:])
    got: list[object] = []
    joined: list[Member] = []
    left: list[Member] = []

    async def listener(msg: object, cd: ChannelData) -> None:
        got.append(msg)

    async def on_left(m: Member) -> None:
        left.append(m)

    def setup(node: Node) -> None:
        node.add_message_listener(listener)
        node.on_member_added(joined.append)
        node.on_member_disappeared(on_left)

    async with fake_tomcat(port) as (tc, _rec), open_node(cfg, setup=setup) as node:
        me = node.channel.local_member
        await tc.send(
            [me],
            rpc_request(MSG_START, tc.local_member, 10, new_unique_id()),
            8,
            byte_message=False,
        )
        await wait_until(lambda: len(joined) == 1)
        await tc.send([me], b"raw bytes", 2, byte_message=True)
        await wait_until(lambda: len(got) == 1)
        assert type(got[0]).__name__ == "ByteMessage"
        # a membership message never reaches the listener
        stop = MemberMessage(MSG_STOP, JavaMember(_baby_alex(tc.local_member), True, 10), MID)
        await tc.send([me], encode_payload(stop), 2, byte_message=False)
        await wait_until(lambda: len(left) == 1)
        assert len(got) == 1
        node.remove_message_listener(listener)
        await tc.send([me], b"more bytes", 2, byte_message=True)  # returns once ACKed
        assert len(got) == 1


# --- checked with the real Tomcat classes ------------------------------------------------------


async def test_what_the_node_sends_reads_in_real_tomcat(
    java_checker: JavaChecker,  # noqa: F811
    tomcat_version: int,  # noqa: F811
) -> None:
    """Our START request, our START reply and our MSG_STOP, as a Tomcat of that line reads them;
    the other line rejects them (MemberImpl serialVersionUID)."""
    port = cluster_port()
    cfg = replace(config(HOSTS[0], port, hosts=HOSTS[:1] + HOSTS[2:]), tomcat_version=9)
    async with fake_tomcat(port) as (tc, rec):
        async with open_node(cfg) as node:
            me = node.channel.local_member
            await rec.wait_for(1)
            own_start = rec.items[0]  # written for Tomcat 9: the configured default
            uuid = new_unique_id()
            peer = tc.local_member.with_alive(777)
            n = len(rec.items)
            await tc.send(
                [me], rpc_request(MSG_START, peer, tomcat_version, uuid), 8, byte_message=False
            )

            def reply() -> ChannelData | None:
                for cd in rec.items[n:]:
                    r = decoded(cd)
                    if isinstance(r, RpcMessage) and r.reply and r.uuid == uuid:
                        return cd
                return None

            await wait_until(lambda: reply() is not None)
            start_reply = reply()
            assert start_reply is not None
            await wait_until(lambda: len(node.members()) == 1)
            n = len(rec.items)
        stop = next(
            cd
            for cd in rec.items[n:]
            if isinstance(m := decoded(cd), MemberMessage) and m.msgtype == MSG_STOP
        )

    other = checker(19 - tomcat_version)
    # the reply is written in the requester's line, whatever our default
    value = java_checker.check("channel_data", start_reply.encode())
    assert value["options"] == 0
    rpc = value["payload"]["value"]
    assert rpc["reply"] is True and rpc["uuid"] == uuid.hex() and rpc["rpcIdString"] == MID.decode()
    mm = rpc["message"]["value"]
    assert mm["msgtype"] == MSG_START and mm["membershipIdString"] == MID.decode()
    assert rpc["message"]["value"]["member"]["java"].endswith(".StaticMember")
    assert mm["member"]["value"]["port"] == port
    assert mm["member"]["value"]["uniqueId"] == uid(HOSTS[0]).hex()
    with pytest.raises(JavaCheckError, match="InvalidClassException"):
        other.check("channel_data", start_reply.encode())
    # our own START and the MSG_STOP went out in the default line (9) before anything was learned
    # (START) and in the learned line of the peer (STOP)
    v9 = checker(9).check("channel_data", own_start.encode())
    assert v9["payload"]["value"]["message"]["value"]["msgtype"] == MSG_START
    stop_value = java_checker.check("channel_data", stop.encode())
    assert stop_value["options"] == 8
    assert stop_value["payload"]["java"].endswith("StaticMembershipProvider$MemberMessage")
    assert stop_value["payload"]["value"]["member"]["value"]["command"] == SHUTDOWN_COMMAND.hex()
    assert stop_value["address"]["value"]["command"] == SHUTDOWN_COMMAND.hex()


async def test_silent_peer_with_an_open_port_is_verified_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer that never pings (its port open): the static provider expires it, the failure
    detector verifies it by TCP and keeps it (Tomcat's "Will verify" / "still alive")."""
    caplog.set_level(logging.INFO, logger="tribes")
    port = cluster_port()
    cfg = config(HOSTS[0], port, hosts=HOSTS[:1] + HOSTS[2:])
    async with fake_tomcat(port) as (tc, _rec), open_node(cfg) as node:
        events_ = node.subscribe()
        me = node.channel.local_member
        await tc.send(
            [me],
            rpc_request(MSG_START, tc.local_member, 10, new_unique_id()),
            8,
            byte_message=False,
        )
        await wait_until(lambda: len(node.members()) == 1)
        seen: list[Event] = []
        with trio.move_on_after(EXPIRATION + 3 * HEARTBEAT + 0.5):
            async for ev in events_:
                seen.append(ev)
        assert [m.host_text for m in node.members()] == [HOSTS[2]]
        assert tc.local_member not in node.static
        kinds = [type(e).__name__ for e in seen]
        assert "MemberSuspect" in kinds and "MemberVerifiedAlive" in kinds
        assert "MemberDisappeared" not in kinds
    suspect = events(caplog, "member_suspect")[0].getMessage()
    assert "reason=expired" in suspect and f"member=tcp://{HOSTS[2]}:{port}" in suspect
    assert "reason=expired" in events(caplog, "member_verified_alive")[0].getMessage()


async def test_send_failure_removes_a_dead_member_before_any_heartbeat() -> None:
    port = cluster_port()
    cfg = config(HOSTS[0], port, hosts=HOSTS[:1] + HOSTS[2:], ping_interval=60.0)
    async with open_node(cfg) as node:
        async with fake_tomcat(port) as (tc, _rec):
            me = node.channel.local_member
            await tc.send(
                [me],
                rpc_request(MSG_START, tc.local_member, 10, new_unique_id()),
                8,
                byte_message=False,
            )
            await wait_until(lambda: len(node.members()) == 1)
            peer = node.members()[0]
        # the fake Tomcat is gone (port closed); a synchronous send to it fails
        gone = node.subscribe()
        result = await node.send_bytes([peer], b"x", 2)
        assert not result.success
        with trio.fail_after(3):
            async for ev in gone:
                if isinstance(ev, MemberDisappeared):
                    assert ev.reason is Reason.SEND_FAILED
                    break
        assert node.members() == []
