"""The pooled Sender against real Receivers and scripted fake peers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import tribes.net.sender as sender_module
from tests.test_net_helpers import (
    HOST_B,
    HOST_C,
    Recorder,
    events,
    free_port,
    make_member,
    package,
    read_package,
    serving,
    wait_until,
)
from tribes.errors import FramingError
from tribes.net.receiver import Receiver
from tribes.net.sender import RemoteProcessError, Sender, fail_detect_frame
from tribes.wire import (
    ACK,
    FAIL_ACK,
    TCP_FAIL_DETECT,
    ChannelData,
    Member,
    decode_channel_data,
    encode_package,
)

LOCAL = make_member("127.0.0.11", 4000, 1)


def new_sender(**kw: object) -> Sender:
    return Sender(lambda: LOCAL.to_bytes(), **kw)  # type: ignore[arg-type]


Script = Callable[[trio.SocketStream, int], Awaitable[None]]


class Fake:
    def __init__(self) -> None:
        self.connections = 0
        self.packages: list[bytes] = []


@asynccontextmanager
async def fake_peer(script: Script) -> AsyncIterator[tuple[Member, Fake]]:
    """A listener on 127.0.0.13 running `script(stream, connection_index)` per connection."""
    fake = Fake()
    listeners = await trio.open_tcp_listeners(0, host=HOST_C)
    port = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        index = fake.connections
        fake.connections += 1
        try:
            await script(stream, index)
        except (trio.BrokenResourceError, trio.ClosedResourceError, EOFError):
            pass
        finally:
            stream.socket.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        try:
            yield make_member(HOST_C, port, 3), fake
        finally:
            nursery.cancel_scope.cancel()


async def test_concurrent_sends_use_a_second_connection_sequential_reuse() -> None:
    gate = trio.Event()
    seen: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        if cd.message == b"hold":
            await gate.wait()
        seen.append(cd.message)

    r = Receiver(HOST_B, 0, handler)
    sender = new_sender()
    async with serving(r) as port:
        target = make_member(HOST_B, port, 2)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender.send, [target], package(6, b"hold"), 6)
            await wait_until(lambda: r.stats.packages == 1)
            # the first connection is busy: the second send must not wait for it
            with trio.fail_after(2):
                result = await sender.send([target], package(6, b"quick"), 6)
            assert result.success and seen == [b"quick"]
            assert sender.connection_count(target) == 2 == r.connection_count
            gate.set()
        for i in range(20):
            assert (await sender.send([target], package(6, b"%d" % i), 6)).success
        assert sender.connection_count(target) == 2 == r.connection_count
        await sender.aclose()
        assert sender.connection_count() == 0


async def test_pool_size_one_serializes() -> None:
    gate = trio.Event()
    order: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        if cd.message == b"hold":
            await gate.wait()
        order.append(cd.message)

    r = Receiver(HOST_B, 0, handler)
    sender = new_sender(pool_size=1)
    async with serving(r) as port:
        target = make_member(HOST_B, port, 2)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender.send, [target], package(6, b"hold"), 6)
            await wait_until(lambda: r.stats.packages == 1)
            nursery.start_soon(sender.send, [target], package(6, b"next"), 6)
            await trio.sleep(0.05)
            assert order == [] and r.connection_count == 1
            gate.set()
        assert order == [b"hold", b"next"]
        await sender.aclose()


async def test_other_packages_before_the_ack_are_ignored() -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        while True:
            await read_package(stream, timeout=60)
            # a stray non-ack package, split in two writes, then the ACK
            stray = encode_package(b"not an ack")
            await stream.send_all(stray[:5])
            await trio.sleep(0.01)
            await stream.send_all(stray[5:] + ACK)

    sender = new_sender()
    async with fake_peer(script) as (target, fake):
        for _ in range(3):
            assert (await sender.send([target], package(2, b"x"), 2)).success
        assert fake.connections == 1
    await sender.aclose()


async def test_fail_ack_then_ack_on_resend_succeeds() -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        answers = [FAIL_ACK, ACK]
        while answers:
            await read_package(stream, timeout=60)
            await stream.send_all(answers.pop(0))
        await trio.sleep_forever()

    sender = new_sender()
    async with fake_peer(script) as (target, fake):
        result = await sender.send([target], package(6, b"x"), 6)
        assert result.success and fake.connections == 1
    await sender.aclose()


async def test_eof_instead_of_ack_resends_once_then_faulty() -> None:
    got: list[bytes] = []

    async def script(stream: trio.SocketStream, index: int) -> None:
        got.append(await read_package(stream, timeout=60))  # then close without an ACK

    hooked: list[Exception] = []
    sender = new_sender(on_faulty=lambda m, e: hooked.append(e))
    async with fake_peer(script) as (target, fake):
        frame = package(2, b"x")
        result = await sender.send([target], frame, 2)
        exc = result.faulty[target]
        assert isinstance(exc, ConnectionResetError)
        assert got == [frame, frame]  # the same bytes, resent once on a new connection
        assert fake.connections == 2
        assert hooked == [exc]
        assert sender.connection_count(target) == 0
    await sender.aclose()


async def test_junk_instead_of_ack_is_a_failure() -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        await read_package(stream, timeout=60)
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await trio.sleep_forever()

    sender = new_sender()
    async with fake_peer(script) as (target, fake):
        result = await sender.send([target], package(2, b"x"), 2)
        assert isinstance(result.faulty[target], FramingError)
        assert fake.connections == 2
    await sender.aclose()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.05)


async def test_missing_ack_times_out_within_the_total_timeout(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        await read_package(stream, timeout=1e9)
        await trio.sleep_forever()  # a peer that never acks (e.g. SIGSTOPped)

    sender = new_sender(timeout=3.0)
    async with fake_peer(script) as (target, fake):
        t0 = trio.current_time()
        result = await sender.send([target], package(6, b"x"), 6)
        assert trio.current_time() - t0 == pytest.approx(3.0, abs=0.01)
        assert isinstance(result.faulty[target], TimeoutError)
        assert fake.connections == 1  # the timeout ends the send, no retry after it
        assert sender.connection_count(target) == 0  # unknown state: dropped
        assert sender.member_state(target) == "SUSPECT"
    await sender.aclose()
    assert len(events(caplog, "send_failed")) == 1


async def test_no_ack_send_completes_on_write_and_reconnects_after_peer_close() -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        await read_package(stream, timeout=60)  # one package per connection, then close

    sender = new_sender()
    async with fake_peer(script) as (target, fake):
        assert (await sender.send([target], package(0, b"1"), 0)).success
        await wait_until(lambda: fake.connections == 1)
        await trio.sleep(0.05)  # the FIN arrives; the pooled connection is found dead
        assert (await sender.send([target], package(0, b"2"), 0)).success
        await wait_until(lambda: fake.connections == 2)
    await sender.aclose()


async def test_several_members_in_parallel_one_dead() -> None:
    recs = [Recorder(), Recorder()]
    rs = [Receiver(HOST_B, 0, recs[0]), Receiver(HOST_C, 0, recs[1])]
    sender = new_sender()
    dead = make_member("127.0.0.14", free_port("127.0.0.14"), 4)
    async with serving(rs[0]) as p0, serving(rs[1]) as p1:
        members = [make_member(HOST_B, p0, 2), make_member(HOST_C, p1, 3), dead]
        frame = package(6, b"all")
        result = await sender.send([*members, members[0]], frame, 6)  # duplicates collapse
        assert sorted(m.port for m in result.ok) == sorted([p0, p1])
        assert list(result.faulty) == [dead]
        assert recs[0].payloads == recs[1].payloads == [b"all"]
    await sender.aclose()


async def test_close_member_and_aclose() -> None:
    r = Receiver(HOST_B, 0, Recorder())
    sender = new_sender()
    async with serving(r) as port:
        target = make_member(HOST_B, port, 2)
        assert (await sender.send([target], package(2, b"x"), 2)).success
        assert sender.connection_count(target) == 1
        sender.close(target)
        assert sender.connection_count(target) == 0
        await wait_until(lambda: r.connection_count == 0)
        assert (await sender.send([target], package(2, b"y"), 2)).success
        await sender.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await sender.send([target], package(2, b"z"), 2)


async def test_on_faulty_hook_errors_are_contained(caplog: pytest.LogCaptureFixture) -> None:
    def hook(member: Member, exc: Exception) -> None:
        raise RuntimeError("bad hook")

    sender = new_sender(on_faulty=hook)
    dead = make_member(HOST_C, free_port(HOST_C), 3)
    result = await sender.send([dead], package(0, b"x"), 0)
    assert isinstance(result.faulty[dead], ConnectionRefusedError)
    assert len(events(caplog, "on_faulty_error")) == 1
    await sender.aclose()


async def test_remote_process_error_does_not_count_as_connection_failure() -> None:
    async def handler(cd: ChannelData) -> None:
        raise ValueError("x")

    r = Receiver(HOST_B, 0, handler)
    sender = new_sender()
    async with serving(r) as port:
        target = make_member(HOST_B, port, 2)
        result = await sender.send([target], package(6, b"x"), 6)
        assert isinstance(result.faulty[target], RemoteProcessError)
        assert sender.connection_count(target) == 1 == r.connection_count
    await sender.aclose()


# --- pipelining ----------------------------------------------------------------------------------


@pytest.fixture
def no_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipeline regardless of timing (a loaded machine may pause between two task steps)."""
    monkeypatch.setattr(sender_module, "PIPELINE_STALL", 60.0)


async def _concurrently(sender: Sender, target: Member, frames: list[bytes]) -> list[object]:
    """One warm-up send (so the pool has an idle connection), then `frames` sent at once."""
    assert (await sender.send([target], package(6, b"warm"), 6)).success
    results: list[object] = [None] * len(frames)

    async def one(i: int) -> None:
        results[i] = (await sender.send([target], frames[i], 6)).faulty.get(target)

    async with trio.open_nursery() as nursery:
        for i in range(len(frames)):
            nursery.start_soon(one, i)
    return results


async def test_no_pipelining_by_default(no_stall: None) -> None:
    r = Receiver(HOST_B, 0, Recorder())
    sender = new_sender()
    async with serving(r) as port:
        target = make_member(HOST_B, port, 2)
        frames = [package(6, b"1"), package(6, b"2")]
        assert await _concurrently(sender, target, frames) == [None, None]
        assert sender.connection_count(target) == 2 == r.connection_count
    await sender.aclose()


async def test_pipelined_acks_are_matched_in_order(no_stall: None) -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        fake.packages.append(await read_package(stream, timeout=60))
        await stream.send_all(ACK)
        fake.packages += [await read_package(stream, timeout=60) for _ in range(2)]
        await stream.send_all(FAIL_ACK + ACK)  # both answers in one write
        while True:
            fake.packages.append(await read_package(stream, timeout=60))
            await stream.send_all(ACK)

    sender = new_sender(pipeline_depth=8)
    async with fake_peer(script) as (target, fake):
        frames = [package(6, b"1"), package(6, b"2")]
        assert await _concurrently(sender, target, frames) == [None, None]
        # one connection; the FAIL_ACK answered the first frame written, which was resent once
        # (trio may run the two tasks in either order)
        assert fake.connections == 1 and sorted(fake.packages[1:3]) == sorted(frames)
        assert fake.packages[3:] == fake.packages[1:2]
    await sender.aclose()


async def test_pipelined_sends_each_resend_once_when_the_connection_breaks(
    no_stall: None,
) -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        if index == 0:
            fake.packages.append(await read_package(stream, timeout=60))
            await stream.send_all(ACK)
            fake.packages += [await read_package(stream, timeout=60) for _ in range(2)]
            return  # both pipelined frames read, then closed without their ACKs
        while True:
            fake.packages.append(await read_package(stream, timeout=60))
            await stream.send_all(ACK)

    sender = new_sender(pipeline_depth=8)
    async with fake_peer(script) as (target, fake):
        frames = [package(6, b"1"), package(6, b"2")]
        assert await _concurrently(sender, target, frames) == [None, None]
        assert sorted(fake.packages[1:3]) == sorted(fake.packages[3:]) == sorted(frames)
        assert fake.connections == 3  # each resend on a fresh connection
    await sender.aclose()


async def test_a_cancelled_pipelined_send_leaves_the_others_and_the_connection(
    no_stall: None,
) -> None:
    async def script(stream: trio.SocketStream, index: int) -> None:
        fake.packages.append(await read_package(stream, timeout=60))
        await stream.send_all(ACK)
        fake.packages += [await read_package(stream, timeout=60) for _ in range(2)]
        await trio.sleep(0.1)  # the first sender gives up meanwhile
        await stream.send_all(ACK + ACK)
        while True:
            fake.packages.append(await read_package(stream, timeout=60))
            await stream.send_all(ACK)

    sender = new_sender(pipeline_depth=8)
    async with fake_peer(script) as (target, fake):
        assert (await sender.send([target], package(6, b"warm"), 6)).success
        results: list[object] = []

        async def first() -> None:
            with trio.move_on_after(0.03):
                await sender.send([target], package(6, b"1"), 6)
                results.append("not cancelled")

        async def second() -> None:
            results.append((await sender.send([target], package(6, b"2"), 6)).success)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            nursery.start_soon(second)
        assert results == [True]
        assert (await sender.send([target], package(6, b"3"), 6)).success
        assert fake.connections == 1 == sender.connection_count(target)
    await sender.aclose()


async def test_probe_frame_layout() -> None:
    frame = fail_detect_frame(LOCAL.to_bytes(), read_test=False)
    cd = decode_channel_data(frame[11:-7])
    assert cd.options == 1 and cd.message == TCP_FAIL_DETECT and cd.member == LOCAL
    assert len(frame) == 199  # as observed from Tomcat (77-byte member)
    cd = decode_channel_data(fail_detect_frame(LOCAL.to_bytes(), read_test=True)[11:-7])
    assert cd.options == 3
    cd = decode_channel_data(
        fail_detect_frame(LOCAL.to_bytes(), read_test=False, option_flag=2 | 0x40)[11:-7]
    )
    assert cd.options == 0x41
