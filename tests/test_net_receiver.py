"""The Receiver against raw sockets: ACK rules, framing, and bad input with bounded resources.

Every bad-input test keeps a concurrent good connection busy and checks that it keeps flowing,
that the bad connection (only) is closed, that the event is logged once, and that the
receiver's buffered bytes / connection count stay within their limits.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import pytest
import trio
import trio.testing

from tests.test_net_helpers import (
    HOST_B,
    Recorder,
    connect,
    events,
    package,
    read_exact,
    read_package,
    serving,
    wait_until,
)
from tribes.net.receiver import Receiver
from tribes.wire import ACK, FAIL_ACK, TCP_FAIL_DETECT, ChannelData
from tribes.wire.framing import DEFAULT_MAX_PACKAGE


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # Real sockets answer in microseconds; only jump when everything has been idle a while.
    return trio.testing.MockClock(autojump_threshold=0.05)


class Traffic:
    def __init__(self) -> None:
        self.count = 0
        self._bumped = trio.Event()

    def bump(self) -> None:
        self.count += 1
        self._bumped.set()
        self._bumped = trio.Event()

    async def grows(self, by: int = 3, timeout: float = 30.0) -> None:
        """Wait (event-driven, so MockClock can jump) until `by` more messages were acked."""
        target = self.count + by
        with trio.fail_after(timeout):
            while self.count < target:
                await self._bumped.wait()


@asynccontextmanager
async def good_traffic(port: int, interval: float = 0.01) -> AsyncIterator[Traffic]:
    """A well-behaved peer sending USE_ACK messages on one connection for the whole test."""
    traffic = Traffic()
    stream = await connect(HOST_B, port)

    async def loop() -> None:
        while True:
            await stream.send_all(package(2, b"good-%d" % traffic.count))
            assert await read_package(stream) == ACK
            traffic.bump()
            await trio.sleep(interval)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop)
        await traffic.grows(1)
        try:
            yield traffic
        finally:
            # no await here: it would raise Cancelled and hide the body's exception
            nursery.cancel_scope.cancel()
            stream.socket.close()


async def closed_by_peer(stream: trio.SocketStream, timeout: float = 5.0) -> bool:
    """True when the receiver closed `stream` (EOF or reset) within `timeout`."""
    with trio.move_on_after(timeout):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


async def send_quietly(stream: trio.SocketStream, data: bytes) -> None:
    """The receiver may close the connection while we are still writing."""
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(data)


# --- ACK rules -----------------------------------------------------------------------------------


async def test_ack_rules_on_one_connection() -> None:
    seen: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        seen.append(cd.message)
        if cd.message == b"fail":
            raise ValueError("no")

    r = Receiver(HOST_B, 0, handler)
    async with serving(r) as port:
        s = await connect(HOST_B, port)
        for options, payload, expect in [
            (2, b"a", ACK),
            (6, b"b", ACK),
            (6, b"fail", FAIL_ACK),
            (2, b"fail", ACK),  # acked before processing, the failure is only logged
            (3, b"c", ACK),
            (2 | 8, b"d", ACK),
            (6 | 8 | 0x100, b"e", ACK),
        ]:
            await s.send_all(package(options, payload))
            assert await read_package(s) == expect
        # without USE_ACK nothing is written, SYNC_ACK alone does nothing either
        for options in (0, 1, 4, 8, 4 | 8):
            await s.send_all(package(options, b"quiet"))
        await s.send_all(package(2, b"z"))
        assert await read_package(s) == ACK
        with trio.move_on_after(0.05):
            extra = await s.receive_some(100)
            pytest.fail(f"unexpected bytes {extra!r}")
        assert seen == [b"a", b"b", b"fail", b"fail", b"c", b"d", b"e", *[b"quiet"] * 5, b"z"]
        assert r.stats.fail_acks == 1 and r.stats.handler_errors == 2
        await s.aclose()


async def test_pipelined_packages_in_one_write_processed_in_order() -> None:
    rec = Recorder()
    r = Receiver(HOST_B, 0, rec)
    async with serving(r) as port:
        s = await connect(HOST_B, port)
        payloads = [b"%d" % i for i in range(300)]
        await s.send_all(b"".join(package(2, p) for p in payloads))
        acks = b""
        with trio.fail_after(5):
            while len(acks) < 21 * 300:
                acks += await s.receive_some(65536)
        assert acks == ACK * 300
        await rec.wait_for(300)  # USE_ACK alone: the last ACK may precede its processing
        assert rec.payloads == payloads
        await s.aclose()


async def test_acks_of_one_read_keep_their_rules_and_order() -> None:
    """Receipt ACKs of a run go out before its first handler; ACKs after processing follow it."""
    gate = trio.Event()
    seen: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        if cd.message == b"hold":
            await gate.wait()
        seen.append(cd.message)
        if cd.message == b"fail":
            raise ValueError("no")

    r = Receiver(HOST_B, 0, handler)
    async with serving(r) as port:
        s = await connect(HOST_B, port)
        batch = [(2, b"hold"), (2, b"b"), (6, b"c"), (6, b"fail"), (0, b"d"), (2, b"e"), (6, b"f")]
        await s.send_all(b"".join(package(o, p) for o, p in batch))
        # both receipt ACKs are written while the first handler still runs
        assert await read_package(s) + await read_package(s) == ACK * 2
        assert seen == []
        gate.set()
        for expect in (ACK, FAIL_ACK, ACK, ACK):
            assert await read_package(s) == expect
        with trio.move_on_after(0.05):
            extra = await s.receive_some(100)
            pytest.fail(f"unexpected bytes {extra!r}")
        assert seen == [p for _, p in batch]
        assert r.stats.acks == 5 and r.stats.fail_acks == 1
        await s.aclose()


async def test_byte_at_a_time_and_large_package() -> None:
    rec = Recorder()
    r = Receiver(HOST_B, 0, rec, read_size=4096)
    async with serving(r) as port:
        s = await connect(HOST_B, port)
        frame = package(6, b"tiny")
        for i in range(len(frame)):
            await s.send_all(frame[i : i + 1])
        assert await read_package(s) == ACK
        big = bytes(range(256)) * 8192  # 2 MiB, many segments and reads
        await s.send_all(package(6, big))
        assert await read_package(s) == ACK
        assert rec.payloads == [b"tiny", big]
        assert r.buffered_bytes == 0
        await s.aclose()


async def test_connections_processed_concurrently() -> None:
    gate = trio.Event()
    seen: list[bytes] = []

    async def handler(cd: ChannelData) -> None:
        if cd.message == b"slow":
            await gate.wait()
        seen.append(cd.message)

    r = Receiver(HOST_B, 0, handler)
    async with serving(r) as port:
        slow = await connect(HOST_B, port)
        fast = await connect(HOST_B, port)
        await slow.send_all(package(6, b"slow") + package(6, b"after-slow"))
        await fast.send_all(package(6, b"fast"))
        assert await read_package(fast) == ACK  # not blocked behind the other connection
        assert seen == [b"fast"]
        gate.set()
        assert await read_exact(slow, 42) == ACK * 2
        assert seen == [b"fast", b"slow", b"after-slow"]
        await slow.aclose()
        await fast.aclose()


async def test_connect_close_probe_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    rec = Recorder()
    r = Receiver(HOST_B, 0, rec)
    async with serving(r) as port:
        for _ in range(20):
            s = await connect(HOST_B, port)
            await s.aclose()
        s = await connect(HOST_B, port)
        await s.send_all(package(1, TCP_FAIL_DETECT))
        await s.aclose()
        await wait_until(lambda: r.stats.accepted == 21 and r.connection_count == 0)
        assert r.stats.probes_dropped == 1 and rec.items == []
        assert caplog.records == []


# --- bad input -----------------------------------------------------------------------------------

BAD_STREAMS = {
    "junk after start marker": b"FLT2002junk" + b"j" * 100,
    "bad end marker": b"FLT2002\x00\x00\x00\x05helloTLF2004",
    "http request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "negative length": b"FLT2002\xff\xff\xff\xf0" + b"\x00" * 40,
    "length -1": b"FLT2002\xff\xff\xff\xff" + b"\x00" * 40,
    "good package then junk": package(0, b"ok") + b"FLT2003",
    "malformed ChannelData": b"FLT2002\x00\x00\x00\x1e" + b"\x00" * 30 + b"TLF2003",
    "zero-length address": (
        b"FLT2002\x00\x00\x00\x1c"
        + b"\x00\x00\x00\x00"
        + b"\x00" * 8
        + b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x04abcd"
        + b"TLF2003"
    ),
    "message length past the end": package(0, b"x")[:-8] + b"TLF2003",
}


@pytest.mark.parametrize("name", list(BAD_STREAMS))
async def test_bad_input_closes_only_that_connection(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    r = Receiver(HOST_B, 0, rec)
    async with serving(r) as port, good_traffic(port) as good:
        bad = await connect(HOST_B, port)
        # the bad bytes, then a valid package on the same connection: never processed
        await send_quietly(bad, BAD_STREAMS[name] + package(2, b"never"))
        assert await closed_by_peer(bad)
        await good.grows()
        await wait_until(lambda: r.connection_count == 1)
        errors = events(caplog, "connection_error")
        assert len(errors) == 1, [e.getMessage() for e in errors]
        assert errors[0].levelno == logging.WARNING
        assert "error=" in errors[0].getMessage() and "peer=127.0.0.1:" in errors[0].getMessage()
        assert b"never" not in rec.payloads
        assert all(p.startswith(b"good") or p == b"ok" for p in rec.payloads)
        assert r.stats.protocol_errors == 1
        assert r.buffered_bytes == 0
        await bad.aclose()


@pytest.mark.parametrize("length", [0x7FFFFFFF, 0x80000000, DEFAULT_MAX_PACKAGE + 1])
async def test_huge_claimed_length_refused_before_buffering(
    length: int, caplog: pytest.LogCaptureFixture
) -> None:
    r = Receiver(HOST_B, 0, Recorder())
    async with serving(r) as port, good_traffic(port) as good:
        bad = await connect(HOST_B, port)
        await send_quietly(bad, b"FLT2002" + length.to_bytes(4, "big"))
        assert await closed_by_peer(bad)
        # more data after the header goes nowhere: the connection is gone
        await send_quietly(bad, b"\x00" * 1_000_000)
        assert r.buffered_bytes == 0
        await good.grows()
        [error] = events(caplog, "connection_error")
        assert "length" in error.getMessage()
        await bad.aclose()


async def test_package_over_max_package_refused(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    r = Receiver(HOST_B, 0, rec, max_package=1000)
    async with serving(r) as port:
        s = await connect(HOST_B, port)
        await s.send_all(package(2, b"x" * 500))
        assert await read_package(s) == ACK
        await send_quietly(s, package(2, b"x" * 2000))
        assert await closed_by_peer(s)
        assert len(events(caplog, "connection_error")) == 1
        assert r.buffered_bytes == 0
        await s.aclose()


async def test_thousand_idle_connections_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    cap = 50
    r = Receiver(HOST_B, 0, Recorder(), max_connections=cap)
    async with serving(r) as port, good_traffic(port, interval=0.001) as good:
        idle: list[trio.SocketStream] = []
        try:
            for _ in range(1000):
                idle.append(await connect(HOST_B, port))
                assert r.connection_count <= cap
            await good.grows()
            assert r.connection_count <= cap
            assert r.buffered_bytes == 0
            # the flood evicted silent connections, never the productive one
            assert r.stats.evicted >= 1000 - cap + 1
            assert r.stats.refused == 0
            # and a new real peer still gets in
            late = await connect(HOST_B, port)
            await late.send_all(package(6, b"late"))
            assert await read_package(late) == ACK
            await late.aclose()
        finally:
            for s in idle:
                await s.aclose()
        await wait_until(lambda: r.connection_count == 1)
        await good.grows()
        assert len(events(caplog, "connection_limit")) == 1
        assert events(caplog, "connection_error") == []
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == events(
            caplog, "connection_limit"
        )


async def test_connection_cap_refuses_when_all_are_productive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    r = Receiver(HOST_B, 0, Recorder(), max_connections=3)
    async with serving(r) as port, good_traffic(port) as good:
        others = []
        for _ in range(2):
            s = await connect(HOST_B, port)
            await s.send_all(package(2, b"x"))
            assert await read_package(s) == ACK
            others.append(s)
        refused = []
        for _ in range(5):
            s = await connect(HOST_B, port)
            refused.append(s)
            assert await closed_by_peer(s)
        assert r.stats.refused == 5 and r.connection_count == 3
        await good.grows()
        assert len(events(caplog, "connection_limit")) == 1
        for s in others + refused:
            await s.aclose()
        await wait_until(lambda: r.connection_count == 1)
        s = await connect(HOST_B, port)
        await s.send_all(package(2, b"y"))
        assert await read_package(s) == ACK
        [cleared] = events(caplog, "connection_limit_cleared")
        assert "refused=5" in cleared.getMessage()
        await s.aclose()


async def test_half_written_package_times_out(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    r = Receiver(HOST_B, 0, Recorder(), partial_timeout=30.0)
    async with serving(r) as port, good_traffic(port, interval=1.0) as good:
        t0 = trio.current_time()
        half = await connect(HOST_B, port)
        frame = package(2, b"x" * 1000)
        await half.send_all(frame[:500])
        await wait_until(lambda: r.buffered_bytes == 500)
        await trio.sleep(20)
        assert r.connection_count == 2 and r.buffered_bytes == 500  # still waiting
        await good.grows()
        # trickling keeps the deadline: it counts from the first byte of the package
        await half.send_all(frame[500:510])
        assert await closed_by_peer(half, timeout=60)
        assert 30 <= trio.current_time() - t0 < 30.1
        assert r.buffered_bytes == 0 and r.connection_count == 1
        [closed] = events(caplog, "connection_closed")
        assert "incomplete package" in closed.getMessage() and "buffered=510" in closed.getMessage()
        await good.grows()
        assert r.stats.closed_partial == 1
        await half.aclose()


async def test_silent_connection_times_out_idle_one_does_not(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    r = Receiver(HOST_B, 0, Recorder(), partial_timeout=30.0, idle_timeout=3600.0)
    async with serving(r) as port:
        silent = await connect(HOST_B, port)
        pooled = await connect(HOST_B, port)
        await pooled.send_all(package(2, b"x"))
        assert await read_package(pooled) == ACK
        assert await closed_by_peer(silent, timeout=60)
        # a pooled connection that delivered messages may stay idle for a long time
        await trio.sleep(3000)
        assert r.connection_count == 1
        await pooled.send_all(package(2, b"again"))
        assert await read_package(pooled) == ACK
        t0 = trio.current_time()
        assert await closed_by_peer(pooled, timeout=4000)
        assert 3600 <= trio.current_time() - t0 < 3602
        reasons = [e.getMessage() for e in events(caplog, "connection_closed")]
        assert len(reasons) == 2
        assert "silent timeout" in reasons[0] and "idle timeout" in reasons[1]
        await silent.aclose()
        await pooled.aclose()


async def test_no_idle_timeout_when_disabled(clock: trio.testing.MockClock) -> None:
    r = Receiver(HOST_B, 0, Recorder(), idle_timeout=None)
    async with serving(r) as port:
        s = await connect(HOST_B, port)
        await s.send_all(package(2, b"x"))
        assert await read_package(s) == ACK
        await trio.sleep(10 * 24 * 3600)
        assert r.connection_count == 1
        await s.send_all(package(2, b"y"))
        assert await read_package(s) == ACK
        await s.aclose()


async def test_total_buffer_limit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    r = Receiver(HOST_B, 0, Recorder(), max_package=1000, read_size=1000, max_buffered_total=3000)
    async with serving(r) as port, good_traffic(port) as good:
        streams = []
        for _ in range(3):
            s = await connect(HOST_B, port)
            await s.send_all(package(2, b"x" * 800)[:900])
            streams.append(s)
        await wait_until(lambda: r.buffered_bytes == 2700)
        s = await connect(HOST_B, port)
        await s.send_all(package(2, b"x" * 800)[:900])
        assert await closed_by_peer(s)
        assert r.buffered_bytes == 2700 and r.stats.closed_buffer_limit == 1
        await good.grows()
        assert len(events(caplog, "connection_closed")) == 1
        for x in [*streams, s]:
            await x.aclose()
        await wait_until(lambda: r.buffered_bytes == 0)


async def test_peer_that_never_reads_acks_is_closed(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tribes")
    r = Receiver(HOST_B, 0, Recorder(), ack_timeout=10.0, tx_buf_size=4096)
    async with serving(r) as port, good_traffic(port, interval=1.0) as good:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no stalls
        tsock = trio.socket.from_stdlib_socket(raw)
        await tsock.connect((HOST_B, port))
        s = trio.SocketStream(tsock)
        frame = package(2, b"")

        async def flood() -> None:
            try:
                while True:
                    await s.send_all(frame * 100)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await wait_until(lambda: r.stats.accepted == 2 and r.stats.acks > 100)
            await wait_until(lambda: r.connection_count == 1, timeout=600, step=1.0)
            nursery.cancel_scope.cancel()
        assert r.stats.acks > 0
        [closed] = events(caplog, "connection_closed")
        assert "does not read its acks" in closed.getMessage()
        await good.grows()
        await s.aclose()


async def test_close_stops_serving() -> None:
    r = Receiver(HOST_B, 0, Recorder())
    async with trio.open_nursery() as nursery:
        port = await nursery.start(r.serve)
        s = await connect(HOST_B, port)
        await s.send_all(package(2, b"x"))
        assert await read_package(s) == ACK
        r.close()
        assert await closed_by_peer(s)
    with pytest.raises(OSError):
        await connect(HOST_B, port)
