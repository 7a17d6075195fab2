"""The trio adapter: replicators wired back to back through in-memory `send` callables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from tests.test_session_support import T0, Member
from tribes.messages.codec import decode_payload, encode_payload
from tribes.messages.session import Event, SessionMessage
from tribes.session import ALL, ManagerConfig, SessionManager, SessionReplicator, TransferState


def clock() -> int:
    return T0 + int(trio.current_time() * 1000)


@dataclass
class Peer:
    name: str
    member: Member
    replicator: SessionReplicator
    #: (sender, receiver, event, time) of every message this peer received
    received: list[tuple[str, str, str, float]] = field(default_factory=list)


class Net:
    """Every send: through the codec, `latency(message)` seconds, then the peer's on_message
    (which returns once processed, like a SYNC_ACK)."""

    def __init__(self, latency: Callable[[SessionMessage], float] = lambda m: 0.003) -> None:
        self.peers: list[Peer] = []
        self.latency = latency
        self.down: set[str] = set()
        self.swallow: set[int] = set()  # events that are lost on the way

    def add(self, name: str, version: int = 10, **config: object) -> Peer:
        member = Member(name)

        def members() -> list[Member]:
            return [p.member for p in self.peers if p.name != name]

        async def send(message: SessionMessage, dest: object, options: int) -> None:
            targets = [p for p in self.peers if p.member in members()]
            if dest != ALL:
                targets = [p for p in targets if p.member is dest]
            for peer in targets:
                if peer.name in self.down:
                    raise ConnectionRefusedError(peer.name)
                decoded = decode_payload(encode_payload(message), options)
                assert decoded == message
                await trio.sleep(self.latency(message))
                if message.event in self.swallow:
                    continue
                event = Event(message.event).name
                peer.received.append((name, peer.name, event, trio.current_time()))
                assert peer.replicator.on_message(decoded, member)

        rep = SessionReplicator(
            send,
            members,
            tomcat_version=version,
            clock=clock,
            config=ManagerConfig(**config),  # type: ignore[arg-type]
        )
        rep.add_context("/jw")
        peer = Peer(name, member, rep)
        self.peers.append(peer)
        return peer


def jw(peer: Peer) -> SessionManager:
    manager = peer.replicator.registry.get("localhost#/jw")
    assert manager is not None
    return manager


async def test_complete_waits_for_the_acks(autojump_clock: trio.testing.MockClock) -> None:
    net = Net(latency=lambda m: 0.5)
    a, b = net.add("a"), net.add("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        await nursery.start(b.replicator.run)
        start = trio.current_time()
        s = a.replicator.create_session(jw(a))  # CREATED leaves at once
        await trio.sleep(0.1)
        assert [r[2] for r in b.received] == []
        s.set("k", "v")
        deliveries = await a.replicator.complete(s)
        assert [Event(d.send.message.event).name for d in deliveries] == [
            "EVT_SESSION_CREATED",
            "EVT_SESSION_DELTA",
        ]
        assert all(d.ok for d in deliveries)
        # one after the other, each acknowledged before the next
        assert trio.current_time() - start == pytest.approx(1.0)
        assert [r[2] for r in b.received] == ["EVT_SESSION_CREATED", "EVT_SESSION_DELTA"]
        assert b.received[0][3] - start == pytest.approx(0.5)
        copy = jw(b).find(s.id)
        assert copy is not None and copy.get("k") == "v"
        nursery.cancel_scope.cancel()


async def test_a_slow_created_is_never_overtaken(autojump_clock: trio.testing.MockClock) -> None:
    net = Net(latency=lambda m: 2.0 if m.event == Event.EVT_SESSION_CREATED else 0.001)
    a, b = net.add("a"), net.add("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        s = jw(a).create_session(clock())
        a.replicator.flush()  # CREATED on its way
        await trio.sleep(0.5)
        s.set("k", 1)
        await a.replicator.complete(s)
        assert [r[2] for r in b.received] == ["EVT_SESSION_CREATED", "EVT_SESSION_DELTA"]
        copy = jw(b).find(s.id)
        assert copy is not None and copy.get("k") == 1
        # other sessions are not held up by this lane
        t = trio.current_time()
        other = jw(a).create_session(clock())
        s2 = jw(a).create_session(clock())
        jw(a).request_completed(other, clock())
        await a.replicator.complete(s2)
        assert trio.current_time() - t == pytest.approx(2.001)
        nursery.cancel_scope.cancel()


async def test_failed_sends_are_reported(autojump_clock: trio.testing.MockClock) -> None:
    net = Net()
    a, _ = net.add("a"), net.add("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        net.down.add("b")  # still a member, but its connection is refused
        s = jw(a).create_session(clock())
        deliveries = await a.replicator.complete(s)
        assert [Event(d.send.message.event).name for d in deliveries] == [
            "EVT_SESSION_CREATED",
            "EVT_SESSION_DELTA",
        ]
        assert all(isinstance(d.error, ConnectionRefusedError) for d in deliveries)
        assert not any(d.ok for d in deliveries)
        nursery.cancel_scope.cancel()


async def test_start_context_fetches_the_state(autojump_clock: trio.testing.MockClock) -> None:
    net = Net()
    a = net.add("a", send_all_sessions=False, send_all_sessions_size=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        for i in range(250):
            s = jw(a).create_session(clock())
            s.set("i", i)
            await a.replicator.complete(s)
        b = net.add("b")
        await nursery.start(b.replicator.run)
        t = trio.current_time()
        state = await b.replicator.start_context(jw(b))
        assert state is TransferState.TRANSFERRED
        assert len(jw(b)) == 250
        # three pages, sendAllSessionsWaitTime (2 s) between them
        assert trio.current_time() - t >= 4.0
        assert [r[2] for r in b.received] == [
            "EVT_ALL_SESSION_DATA",
            "EVT_ALL_SESSION_DATA",
            "EVT_ALL_SESSION_DATA",
            "EVT_ALL_SESSION_TRANSFERCOMPLETE",
        ]
        nursery.cancel_scope.cancel()


async def test_start_context_times_out(autojump_clock: trio.testing.MockClock) -> None:
    net = Net()
    net.add("a")
    b = net.add("b", state_transfer_timeout=60)
    net.swallow.add(Event.EVT_GET_ALL_SESSIONS)
    async with trio.open_nursery() as nursery:
        await nursery.start(b.replicator.run)
        t = trio.current_time()
        state = await b.replicator.start_context(jw(b))
        assert state is TransferState.TIMED_OUT
        assert trio.current_time() - t == pytest.approx(60.001)
        assert jw(b).counters["sent.EVT_GET_ALL_SESSIONS"] == 1
        nursery.cancel_scope.cancel()


async def test_start_context_alone(autojump_clock: trio.testing.MockClock) -> None:
    net = Net()
    a = net.add("a")
    with pytest.raises(RuntimeError, match="not running"):
        await a.replicator.start_context(jw(a))
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        assert await a.replicator.start_context(jw(a)) is TransferState.NO_MEMBERS
        nursery.cancel_scope.cancel()


async def test_run_sweeps_expired_sessions(autojump_clock: trio.testing.MockClock) -> None:
    net = Net()
    a, b = net.add("a"), net.add("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        await nursery.start(b.replicator.run)
        s = jw(a).create_session(clock())
        s.set_max_inactive_interval(3)
        await a.replicator.complete(s)
        assert s.id in jw(b)
        await trio.sleep(59)
        assert s.id in jw(a)  # idle, but the sweep runs every 60 s
        await trio.sleep(1.1)
        assert s.id not in jw(a) and s.id not in jw(b)
        assert b.received[-1][2] == "EVT_SESSION_EXPIRED"
        nursery.cancel_scope.cancel()


async def test_invalidate_and_stop(autojump_clock: trio.testing.MockClock) -> None:
    net = Net()
    a, b = net.add("a", expire_sessions_on_shutdown=True), net.add("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        s1 = jw(a).create_session(clock())
        s2 = jw(a).create_session(clock())
        await a.replicator.complete(s1)
        await a.replicator.complete(s2)
        deliveries = await a.replicator.invalidate(s1)
        assert [Event(d.send.message.event).name for d in deliveries] == ["EVT_SESSION_EXPIRED"]
        assert all(d.ok for d in deliveries)
        assert s1.id not in jw(b)
        await a.replicator.stop()
        assert s2.id not in jw(b)
        nursery.cancel_scope.cancel()


def test_on_message_ignores_other_messages() -> None:
    rep = SessionReplicator(lambda *a: trio.sleep(0), lambda: [], tomcat_version=10)
    assert rep.on_message(object(), None) is False
