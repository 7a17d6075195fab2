"""The trio adapter: replicators wired back to back through in-memory `send` callables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from tests.test_session_support import T0, Member
from tribes.messages.codec import decode_payload, encode_payload
from tribes.messages.session import Event, SessionMessage
from tribes.session import (
    ALL,
    Delivery,
    ManagerConfig,
    SessionManager,
    SessionReplicator,
    TransferState,
)


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


def events(deliveries: list[Delivery]) -> list[str]:
    return [Event(d.send.message.event).name for d in deliveries]


def count_lane_tasks(rep: SessionReplicator) -> list[int]:
    """How many background lane tasks `rep` starts from now on."""
    started = [0]
    run_lane = rep._run_lane

    async def counted(key: object, lane: Any) -> None:
        started[0] += 1
        await run_lane(key, lane)

    rep._run_lane = counted  # type: ignore[method-assign]
    return started


async def test_complete_sends_in_the_callers_task(autojump_clock: trio.testing.MockClock) -> None:
    net = Net(latency=lambda m: 0.5)
    a, b = net.add("a"), net.add("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        await nursery.start(b.replicator.run)
        s = a.replicator.create_session(jw(a))
        s.set("k", 0)
        # the CREATED's lane task has not started yet: complete sends both itself
        assert events(await a.replicator.complete(s)) == [
            "EVT_SESSION_CREATED",
            "EVT_SESSION_DELTA",
        ]
        started = count_lane_tasks(a.replicator)
        s.set("k", 1)
        assert events(await a.replicator.complete(s)) == ["EVT_SESSION_DELTA"]
        assert started == [0] and not a.replicator._lanes
        # a second request of the session queues behind the one sending, in a lane task
        done: dict[int, tuple[float, int]] = {}

        async def request(value: int) -> None:
            s.set("k", value)
            deliveries = await a.replicator.complete(s)
            assert set(events(deliveries)) == {"EVT_SESSION_DELTA"}
            assert all(d.ok for d in deliveries)
            done[value] = (trio.current_time(), len(deliveries))

        t = trio.current_time()
        nursery.start_soon(request, 2)
        await trio.sleep(0.1)
        nursery.start_soon(request, 3)
        await trio.sleep(2)
        # the second waits for every DELTA of the session on its way: the first one's too
        assert done == {2: (pytest.approx(t + 0.5), 1), 3: (pytest.approx(t + 1.0), 2)}
        assert started == [1] and not a.replicator._lanes
        assert [r[2] for r in b.received][-2:] == ["EVT_SESSION_DELTA", "EVT_SESSION_DELTA"]
        copy = jw(b).find(s.id)
        assert copy is not None and copy.get("k") == 3
        nursery.cancel_scope.cancel()


async def test_a_cancelled_complete_leaves_no_stuck_lane(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = Net(latency=lambda m: 1.0)
    a, b = net.add("a"), net.add("b")
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        await nursery.start(b.replicator.run)
        s = a.replicator.create_session(jw(a))
        s.set("k", 1)
        lane: list[Delivery] = []

        async def watch() -> None:
            await trio.sleep(0.1)
            lane.extend(a.replicator._lanes[s])

        nursery.start_soon(watch)
        with trio.move_on_after(0.5):  # cancelled while its CREATED is on its way
            await a.replicator.complete(s)
        created, delta = lane
        assert not created.done.is_set()
        # not lost: a lane task sends it again, then the DELTA
        await a.replicator.drain()
        assert created.ok and delta.ok and not a.replicator._lanes
        assert [r[2] for r in b.received] == ["EVT_SESSION_CREATED", "EVT_SESSION_DELTA"]
        copy = jw(b).find(s.id)
        assert copy is not None and copy.get("k") == 1
        nursery.cancel_scope.cancel()


async def test_the_timer_wakes_only_for_deadlines(autojump_clock: trio.testing.MockClock) -> None:
    net = Net()
    a, b = net.add("a"), net.add("b")
    polls = {"a": 0, "b": 0}
    for peer in (a, b):
        poll = peer.replicator.registry.poll

        def counted(now: int | None = None, name: str = peer.name, poll: Any = poll) -> None:
            polls[name] += 1
            poll(now)

        peer.replicator.registry.poll = counted  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(a.replicator.run)
        await nursery.start(b.replicator.run)
        s = a.replicator.create_session(jw(a))
        for i in range(20):
            s.set("k", i)
            await a.replicator.complete(s)
        assert polls == {"a": 0, "b": 0}
        # a DELTA for a session b does not know is kept for orphan_window_ms (5 s): the timer
        # wakes for that deadline and forgets it
        net.swallow.add(Event.EVT_SESSION_CREATED)
        t = trio.current_time()
        await a.replicator.complete(a.replicator.create_session(jw(a)))
        assert jw(b)._orphans
        await trio.sleep(5.1)
        assert not jw(b)._orphans
        assert polls == {"a": 0, "b": 2}  # woken to re-arm for it, then at the deadline
        assert trio.current_time() - t < 5.2
        nursery.cancel_scope.cancel()
