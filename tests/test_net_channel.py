"""Two pytribes Channels on loopback (127.0.0.11 / .12): delivery, ACK timing, probes, faults."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from functools import partial

import pytest
import trio

from tests.test_net_helpers import (
    HOST_A,
    HOST_B,
    HOST_C,
    Recorder,
    events,
    free_port,
    make_member,
    running,
    wait_until,
)
from tribes.net.channel import Channel, QueueFull
from tribes.net.sender import RemoteProcessError, SendResult
from tribes.wire import (
    TCP_FAIL_DETECT,
    TCP_PING_DATA,
    ChannelData,
    Member,
    SendOptions,
    decode_channel_data,
    decode_member,
)


def two_channels(**kw: object) -> tuple[Channel, Channel]:
    a = Channel(make_member(HOST_A, 0, 1), **kw)  # type: ignore[arg-type]
    b = Channel(make_member(HOST_B, 0, 2), **kw)  # type: ignore[arg-type]
    return a, b


@pytest.mark.parametrize("options", [0, 2, 6, 8])
async def test_delivered_once_and_in_order(options: int) -> None:
    a, b = two_channels()
    rec = Recorder()
    b.add_listener(rec)
    async with running(a, b):
        payloads = [f"msg-{i}".encode() * (i % 7 + 1) for i in range(200)]
        for p in payloads:
            result = await a.send([b.local_member], p, options, byte_message=True)
            assert result.success
            assert result.queued == bool(options & 8)
        await a.drain()
        await rec.wait_for(len(payloads))
        await trio.sleep(0.05)  # nothing more may arrive
        assert rec.payloads == payloads
        assert len({cd.unique_id for cd in rec.items}) == len(payloads)
        for cd in rec.items:
            assert cd.options == options | SendOptions.BYTE_MESSAGE
            assert cd.member.same(a.local_member)
            assert cd.member_bytes == a.member_bytes
        # everything went over one pooled connection
        assert a.sender.connection_count(b.local_member) == 1
        assert b.receiver.connection_count == 1


async def test_channel_data_fields_and_byte_message_bit() -> None:
    a, b = two_channels()
    rec = Recorder()
    b.add_listener(rec)
    async with running(a, b):
        before = time.time() * 1000
        await a.send([b.local_member], b"\xac\xed\x00\x05x", 2 | 1, byte_message=False)
        await a.send([b.local_member], b"raw", 2, byte_message=True)
        await rec.wait_for(2)
        after = time.time() * 1000
        assert rec.items[0].options == 2  # BYTE_MESSAGE cleared like GroupChannel
        assert rec.items[1].options == 3  # and set for a byte message
        assert all(before - 1 <= cd.timestamp <= after + 1 for cd in rec.items)
        assert all(len(cd.unique_id) == 16 for cd in rec.items)
        # the receiver bound port 0 and the member carries the real port (the reply address)
        assert rec.items[0].member.port == a.port != 0
        assert rec.items[0].member.host_text == HOST_A


async def test_send_to_no_members_is_a_noop() -> None:
    a = Channel(make_member(HOST_A))
    result = await a.send([], b"x", 2, byte_message=True)
    assert result.success and not result.ok


async def test_alive_is_uptime_patched_in_cached_bytes() -> None:
    start = int(time.time() * 1000) - 5000
    a = Channel(make_member(HOST_A, 0, 1), start_time_ms=start)
    b = Channel(make_member(HOST_B, 0, 2))
    rec = Recorder()
    b.add_listener(rec)
    async with running(a, b):
        await a.send([b.local_member], b"x", 2, byte_message=True)
        await rec.wait_for(1)
        alive = rec.items[0].member.alive
        assert 5000 <= alive < 5000 + 5000
        assert decode_member(a.member_bytes) == a.local_member
        assert a.refresh_alive(start + 123_456).alive == 123_456
        assert decode_member(a.member_bytes).alive == 123_456


async def test_ack_before_processing_for_use_ack_alone() -> None:
    a, b = two_channels()
    release = trio.Event()
    done: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        await release.wait()  # only released after the sender got its ACK
        done.append(cd.message)

    b.add_listener(handler)
    async with running(a, b):
        with trio.fail_after(3):
            result = await a.send([b.local_member], b"m", 2, byte_message=True)
        assert result.success and not done
        release.set()
        await wait_until(lambda: done == [b"m"])


async def test_ack_after_processing_for_sync_ack() -> None:
    a, b = two_channels()
    entered = trio.Event()
    release = trio.Event()
    done: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        entered.set()
        await release.wait()
        done.append(cd.message)

    b.add_listener(handler)
    async with running(a, b), trio.open_nursery() as nursery:
        results = []

        async def send() -> None:
            results.append(await a.send([b.local_member], b"m", 6, byte_message=True))

        nursery.start_soon(send)
        await entered.wait()
        await trio.sleep(0.1)
        assert not results  # no ACK while the handler runs
        release.set()
        await wait_until(lambda: bool(results))
        assert done == [b"m"] and results[0].success


async def test_fail_ack_retried_once_then_member_faulty(caplog: pytest.LogCaptureFixture) -> None:
    faulty: list[tuple[Member, Exception]] = []
    a = Channel(make_member(HOST_A, 0, 1), on_faulty=lambda m, e: faulty.append((m, e)))
    b = Channel(make_member(HOST_B, 0, 2))
    calls: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        calls.append(cd.message)
        raise ValueError("listener failed")

    b.add_listener(handler)
    async with running(a, b):
        result = await a.send([b.local_member], b"boom", 6, byte_message=True)
        assert not result.ok
        exc = result.faulty[b.local_member]
        assert isinstance(exc, RemoteProcessError)
        assert calls == [b"boom", b"boom"]  # Tomcat resends once on FAIL_ACK
        assert b.receiver.stats.fail_acks == 2
        assert faulty == [(b.local_member, exc)]
        assert a.sender.member_state(b.local_member) == "SUSPECT"
        assert len(events(caplog, "handler_error")) == 2
        # the connection stayed usable: a good message still goes through on it
        b.remove_listener(handler)
        rec = Recorder()
        b.add_listener(rec)
        assert (await a.send([b.local_member], b"ok", 6, byte_message=True)).success
        assert rec.payloads == [b"ok"]
        assert a.sender.member_state(b.local_member) == "READY"
        assert b.receiver.connection_count == 1


async def test_handler_error_without_sync_ack_still_acked() -> None:
    a, b = two_channels()

    async def handler(cd: ChannelData) -> None:
        raise RuntimeError("x")

    b.add_listener(handler)
    async with running(a, b):
        assert (await a.send([b.local_member], b"m", 2, byte_message=True)).success
        assert (await a.send([b.local_member], b"m", 0, byte_message=True)).success
        await wait_until(lambda: b.receiver.stats.handler_errors == 2)
        assert b.receiver.stats.fail_acks == 0


async def test_probes_dropped_and_connect_close_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tribes")
    a, b = two_channels()
    rec = Recorder()
    b.add_listener(rec)
    async with running(a, b):
        # TcpPingInterceptor ping: options 0, over the pooled connection
        assert (await a.send([b.local_member], TCP_PING_DATA, 0, byte_message=False)).success
        # ... also with USE_ACK: the ack is still honoured
        assert (await a.send([b.local_member], TCP_PING_DATA, 6, byte_message=False)).success
        assert (await a.send([b.local_member], TCP_FAIL_DETECT, 2, byte_message=True)).success
        # TcpFailureDetector probes: fresh socket, one package, close
        assert await a.probe(b.local_member)
        assert await a.probe(b.local_member, read_test=True)
        assert await a.probe(b.local_member, send_test=False)
        # StaticMembershipProvider connect + close
        assert await a.reachable(b.local_member)
        await wait_until(lambda: b.receiver.stats.probes_dropped == 5)
        await wait_until(lambda: b.receiver.connection_count == 1)
        assert rec.items == []
        assert b.receiver.stats.protocol_errors == 0
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == []
        # the probe's package: BYTE_MESSAGE, USE_ACK only with the read test
        assert b.receiver.stats.acks == 2 + 1


async def test_probe_and_reachable_of_dead_or_leaving_member() -> None:
    a = Channel(make_member(HOST_A))
    dead = make_member(HOST_C, free_port(HOST_C), 3)
    assert not await a.probe(dead, connect_timeout=0.5)
    assert not await a.reachable(dead)
    b = Channel(make_member(HOST_B, 0, 2))
    async with running(b):
        leaving = Member(
            b.local_member.host, b.port, b.local_member.unique_id, command=b"BABY-ALEX"
        )
        assert not await a.probe(leaving)
        assert await a.reachable(leaving)


async def test_read_test_probe_fails_on_silent_listener() -> None:
    a = Channel(make_member(HOST_A))
    listeners = await trio.open_tcp_listeners(0, host=HOST_C)
    port = listeners[0].socket.getsockname()[1]
    try:
        target = make_member(HOST_C, port, 3)
        assert await a.probe(target)  # connect + write is enough without the read test
        assert not await a.probe(target, read_test=True, read_timeout=0.2)
    finally:
        for listener in listeners:
            await listener.aclose()


async def test_sender_reconnects_after_receiver_restart() -> None:
    a = Channel(make_member(HOST_A, 0, 1))
    rec = Recorder()
    async with running(a):
        b = Channel(make_member(HOST_B, 0, 2))
        b.add_listener(rec)
        async with running(b):
            target = b.local_member
            assert (await a.send([target], b"1", 2, byte_message=True)).success
            assert (await a.send([target], b"2", 0, byte_message=True)).success
            await rec.wait_for(2)
        # b is gone; restart it on the same address and port
        b2 = Channel(target)
        b2.add_listener(rec)
        async with running(b2):
            assert b2.port == target.port
            await trio.sleep(0.05)  # let the FIN of the old connection arrive
            assert (await a.send([target], b"3", 0, byte_message=True)).success
            assert (await a.send([target], b"4", 2, byte_message=True)).success
            assert (await a.send([target], b"5", 6, byte_message=True)).success
            await rec.wait_for(5)
            assert rec.payloads == [b"1", b"2", b"3", b"4", b"5"]
            assert a.sender.connection_count(target) == 1


async def test_dead_member_reported_faulty_after_retry(caplog: pytest.LogCaptureFixture) -> None:
    faulty: list[Member] = []
    a = Channel(make_member(HOST_A, 0, 1), on_faulty=lambda m, e: faulty.append(m))
    b = Channel(make_member(HOST_B, 0, 2))
    rec = Recorder()
    b.add_listener(rec)
    dead = make_member(HOST_C, free_port(HOST_C), 3)
    async with running(a, b):
        for options in (0, 2, 6, 8):
            t0 = trio.current_time()
            result = await a.send([b.local_member, dead], b"x", options, byte_message=True)
            if options & 8:
                await a.drain()
                continue
            assert trio.current_time() - t0 < a.sender.timeout
            assert result.ok == [b.local_member]
            assert isinstance(result.faulty[dead], ConnectionRefusedError)
        assert faulty == [dead] * 4
        assert a.sender.member_state(dead) == "FAILING"
        assert len(events(caplog, "send_failed")) == 4
        await rec.wait_for(4)


async def test_async_queue_full_sends_synchronously_or_raises() -> None:
    a, b = two_channels()
    rec = Recorder()
    b.add_listener(rec)
    async with running(a, b):
        a.max_queue_bytes = 0  # every message overflows the queue
        result = await a.send([b.local_member], b"x", 8, byte_message=True)
        assert not result.queued and result.success  # sent in the caller
        a.always_send = False
        with pytest.raises(QueueFull):
            await a.send([b.local_member], b"y", 8, byte_message=True)
        await rec.wait_for(1)
        assert rec.payloads == [b"x"]


async def test_async_send_returns_before_delivery_and_failures_are_quiet() -> None:
    a, b = two_channels()
    release = trio.Event()

    async def handler(cd: ChannelData) -> None:
        await release.wait()

    b.add_listener(handler)
    async with running(a, b):
        with trio.fail_after(1):
            for _ in range(5):
                r = await a.send([b.local_member], b"m", 8 | 6, byte_message=True)
                assert r.queued
        assert a.queued_bytes > 0
        release.set()
        await a.drain()
        assert a.queued_bytes == 0
        # async send to a dead member: queued, then only logged / reported
        dead = make_member(HOST_C, free_port(HOST_C), 3)
        assert (await a.send([dead], b"m", 8, byte_message=True)).queued
        await a.drain()
        assert a.sender.member_state(dead) == "SUSPECT"


async def test_async_send_when_not_running_is_synchronous() -> None:
    a = Channel(make_member(HOST_A, 0, 1))
    b = Channel(make_member(HOST_B, 0, 2))
    rec = Recorder()
    b.add_listener(rec)
    async with running(b):
        result = await a.send([b.local_member], b"x", 8, byte_message=True)
        assert not result.queued and result.success
        await rec.wait_for(1)
    await a.aclose()


async def test_listeners_called_in_order_all_of_them() -> None:
    a, b = two_channels()
    order: list[str] = []

    async def first(cd: ChannelData) -> None:
        order.append("first")

    async def second(cd: ChannelData) -> None:
        order.append("second")

    b.add_listener(first)
    b.add_listener(second)
    async with running(a, b):
        await a.send([b.local_member], b"x", 6, byte_message=True)
        assert order == ["first", "second"]


async def test_async_batches_keep_order_across_ack_and_no_ack() -> None:
    a, b = two_channels()
    rec = Recorder()
    b.add_listener(rec)
    async with running(a, b):
        payloads = [b"%d" % i for i in range(500)]
        for i, p in enumerate(payloads):
            options = 8 | 2 if i % 50 == 49 else 8  # an acked message every 50
            assert (await a.send([b.local_member], p, options, byte_message=True)).queued
        await a.drain()
        await rec.wait_for(len(payloads))
        assert rec.payloads == payloads
        assert b.receiver.stats.acks == 10
        assert len({cd.unique_id for cd in rec.items}) == 500


async def test_queued_no_ack_packages_are_written_together() -> None:
    a, b = two_channels(pool_size=1)
    gate = trio.Event()
    rec = Recorder()

    async def handler(cd: ChannelData) -> None:
        if cd.message == b"hold":
            await gate.wait()
        await rec(cd)

    b.add_listener(handler)
    writes: list[int] = []
    real_send = a.sender.send

    async def counting_send(members: Iterable[Member], frame: bytes, options: int) -> SendResult:
        writes.append(len(frame))
        return await real_send(members, frame, options)

    a.sender.send = counting_send  # type: ignore[method-assign]
    async with running(a, b), trio.open_nursery() as nursery:
        # a synchronous send holds the only pooled connection while the queue fills up
        nursery.start_soon(partial(a.send, [b.local_member], b"hold", 6, byte_message=True))
        await wait_until(lambda: b.receiver.stats.packages == 1)
        payloads = [b"%03d" % i for i in range(100)]
        for p in payloads:
            await a.send([b.local_member], p, 8, byte_message=True)
        await trio.sleep(0.05)
        gate.set()
        await a.drain()
        await rec.wait_for(101)
        assert rec.payloads == [b"hold", *payloads]
        # what was queued when the lane started waiting for the connection went in one write,
        # everything queued meanwhile in a second one
        frame_size = writes[0] - 1  # "hold" is one byte longer than "000"
        assert len(writes) == 3 and writes[1] + writes[2] == 100 * frame_size
        assert writes[2] >= 90 * frame_size


async def test_frame_is_the_channel_data_encoding() -> None:
    a = Channel(make_member(HOST_A, 4000, 1))
    frame = a.frame(b"payload", 3)
    cd = decode_channel_data(frame[11:-7])
    assert cd.frame() == frame
    assert cd.member_bytes == a.member_bytes and cd.options == 3
