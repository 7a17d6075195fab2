"""The TCP sender: PooledParallelSender + ParallelNioSender + NioSender, as trio code.

* Persistent pooled connections per destination (keyed by `Member.key`), opened on demand to
  ``member.host_text:member.port`` and reused; a send takes an idle connection or opens a new one
  (up to `pool_size` per member) rather than waiting, so one connection carries one message at a
  time and keeps per-message order.
* One message in flight per connection: with USE_ACK exactly one package is read back (ACK_DATA
  = delivered, FAIL_ACK_DATA = `RemoteProcessError`, anything else ignored); without USE_ACK the
  write completes the send.  NioSender's non-blocking health read (EOF = failure, resend) is
  done *before* reusing a pooled connection instead of after the write: a connection the peer
  closed is replaced before anything is written to it, and a message the peer did read is never
  resent because of a FIN that arrived just after it.
* Retry like AbstractSender(maxRetryAttempts=1): on any failure the connection is dropped and the
  same bytes are resent once on a fresh connection (a FAIL_ACK resends once too, on the same,
  still consistent, connection), then the member is reported faulty.
* `timeout` (3 s) bounds the whole send: waiting for a pool slot, connecting, writing and
  waiting for the ACK, for all destinations together.
* Per-member failures never raise: `send` returns a `SendResult` and calls `on_faulty(member,
  exc)` for each faulty member.  As in TcpFailureDetector, a consumer should not treat a
  `RemoteProcessError` (the peer is alive, its listener failed) as a vanished member.

Also here: the TcpFailureDetector probe and the StaticMembershipProvider connect-only check,
which use fresh sockets outside the pool.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio

from ..errors import ProtocolError, TribesError
from ..wire.channel_data import new_unique_id
from ..wire.framing import ACK_DATA, FAIL_ACK_DATA, FrameDecoder
from ..wire.member import Member
from ..wire.probes import TCP_FAIL_DETECT
from .transport import Connection, describe, frame_channel_data, log_event, open_connection
from .transport import wall_clock_ms as _wall_clock_ms

_USE_ACK = 0x2
_BYTE_MESSAGE = 0x1

#: Biggest package accepted on the ack direction (Tomcat's ack buffer starts at 128 bytes).
ACK_MAX_PACKAGE = 4096

MemberKey = tuple[bytes, int, bytes]
FaultyHook = Callable[[Member, Exception], None]


class RemoteProcessError(TribesError):
    """The peer answered FAIL_ACK: it received the message but its processing failed."""


@dataclass(slots=True)
class SendResult:
    """Per-member outcome of one send; `queued` for an asynchronous send handed to the queue."""

    ok: list[Member] = field(default_factory=list)
    faulty: dict[Member, Exception] = field(default_factory=dict)
    queued: bool = False

    @property
    def success(self) -> bool:
        return not self.faulty


class _PooledConn(Connection):
    __slots__ = ("decoder", "pending")

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn.raw, conn.stream)
        self.decoder = FrameDecoder(ACK_MAX_PACKAGE)
        self.pending: deque[bytes] = deque()


class _Pool:
    __slots__ = ("closed", "host", "idle", "open", "port", "sem")

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host = host
        self.port = port
        self.idle: list[_PooledConn] = []
        self.open = 0
        self.sem = trio.Semaphore(size)
        self.closed = False

    def take_idle(self) -> _PooledConn | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.pending or conn.decoder.buffered or conn.peer_closed():
                self.discard(conn)
                continue
            return conn
        return None

    def release(self, conn: _PooledConn) -> None:
        if self.closed:
            self.discard(conn)
        else:
            self.idle.append(conn)

    def discard(self, conn: _PooledConn) -> None:
        conn.close()
        self.open -= 1

    def close(self) -> None:
        self.closed = True
        while self.idle:
            self.discard(self.idle.pop())


_STATES = ("READY", "SUSPECT", "FAILING")


class Sender:
    """Sends framed packages to members over pooled TCP connections."""

    def __init__(
        self,
        local_member_bytes_provider: Callable[[], bytes],
        *,
        timeout: float = 3.0,
        max_retry_attempts: int = 1,
        pool_size: int = 25,
        connect_timeout: float | None = None,
        on_faulty: FaultyHook | None = None,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.local_member_bytes = local_member_bytes_provider
        self.timeout = timeout
        self.max_retry_attempts = max_retry_attempts
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.on_faulty = on_faulty
        self._pools: dict[MemberKey, _Pool] = {}
        self._states: dict[MemberKey, int] = {}
        self._closed = False

    # --- introspection ---------------------------------------------------------------------------

    def connection_count(self, member: Member | None = None) -> int:
        """Open pooled connections (to `member`, or in total)."""
        if member is not None:
            pool = self._pools.get(member.key)
            return 0 if pool is None else pool.open
        return sum(p.open for p in self._pools.values())

    def member_state(self, member: Member) -> str:
        """SenderState: READY, SUSPECT (one failed send) or FAILING (failed again); informative."""
        return _STATES[self._states.get(member.key, 0)]

    # --- sending ---------------------------------------------------------------------------------

    async def send(self, members: Iterable[Member], frame: bytes, options: int) -> SendResult:
        """Send one framed package to every member; per-member failures go into the result."""
        if self._closed:
            raise trio.ClosedResourceError("the sender is closed")
        want_ack = bool(options & _USE_ACK)
        deadline = trio.current_time() + self.timeout
        result = SendResult()
        unique: dict[MemberKey, Member] = {}
        for m in members:
            unique.setdefault(m.key, m)
        if len(unique) == 1:
            (member,) = unique.values()
            await self._send_collect(member, frame, want_ack, deadline, result)
        elif unique:
            async with trio.open_nursery() as nursery:
                for member in unique.values():
                    nursery.start_soon(
                        self._send_collect, member, frame, want_ack, deadline, result
                    )
        for member, exc in result.faulty.items():
            self._report_faulty(member, exc)
        return result

    async def _send_collect(
        self, member: Member, frame: bytes, want_ack: bool, deadline: float, result: SendResult
    ) -> None:
        try:
            await self._send_one(member, frame, want_ack, deadline)
        except Exception as e:
            result.faulty[member] = e
            state = self._states.get(member.key, 0)
            self._states[member.key] = min(state + 1, 2)
        else:
            result.ok.append(member)
            if member.key in self._states:
                del self._states[member.key]

    def _report_faulty(self, member: Member, exc: Exception) -> None:
        log_event(
            "send_failed",
            level=logging.INFO if isinstance(exc, RemoteProcessError) else logging.WARNING,
            member=member.name,
            error=describe(exc),
            state=self.member_state(member),
        )
        if self.on_faulty is not None:
            try:
                self.on_faulty(member, exc)
            except Exception as e:
                log_event("on_faulty_error", level=logging.ERROR, error=describe(e))

    def _pool_for(self, member: Member) -> _Pool:
        pool = self._pools.get(member.key)
        if pool is None:
            pool = self._pools[member.key] = _Pool(member.host_text, member.port, self.pool_size)
        return pool

    async def _send_one(
        self, member: Member, frame: bytes, want_ack: bool, deadline: float
    ) -> None:
        pool = self._pool_for(member)
        with trio.CancelScope(deadline=deadline):
            async with pool.sem:
                await self._attempts(pool, frame, want_ack)
                return
        raise TimeoutError(f"operation timed out ({self.timeout} s)")

    async def _attempts(self, pool: _Pool, frame: bytes, want_ack: bool) -> None:
        conn: _PooledConn | None = None
        attempt = 0
        try:
            while True:
                try:
                    if conn is None:
                        conn = pool.take_idle() or await self._connect(pool)
                    await _write_frame(conn, frame)
                    if want_ack:
                        await self._read_ack(conn)
                    pool.release(conn)
                    conn = None
                    return
                except RemoteProcessError:
                    # The connection is consistent: resend on it (Tomcat reconnects first).
                    if attempt >= self.max_retry_attempts:
                        assert conn is not None
                        pool.release(conn)
                        conn = None
                        raise
                except (OSError, ProtocolError, trio.BrokenResourceError) as e:
                    if conn is not None:
                        pool.discard(conn)
                        conn = None
                    if attempt >= self.max_retry_attempts:
                        if isinstance(e, trio.BrokenResourceError):
                            raise ConnectionResetError(str(e)) from e
                        raise
                    log_event(
                        "send_retry",
                        level=logging.DEBUG,
                        peer=f"{pool.host}:{pool.port}",
                        error=describe(e),
                    )
                attempt += 1
        finally:
            if conn is not None:  # cancelled or unexpected error mid-message: state unknown
                pool.discard(conn)

    async def _connect(self, pool: _Pool) -> _PooledConn:
        pool.open += 1
        try:
            if self.connect_timeout is None:
                conn = await open_connection(pool.host, pool.port)
            else:
                with trio.fail_after(self.connect_timeout):
                    conn = await open_connection(pool.host, pool.port)
        except trio.TooSlowError:
            pool.open -= 1
            raise TimeoutError(f"connect timed out ({self.connect_timeout} s)") from None
        except BaseException:
            pool.open -= 1
            raise
        return _PooledConn(conn)

    @staticmethod
    async def _read_ack(conn: _PooledConn) -> None:
        pending = conn.pending
        raw = conn.raw
        while True:
            while pending:
                data = pending.popleft()
                if data == ACK_DATA:
                    return
                if data == FAIL_ACK_DATA:
                    raise RemoteProcessError("the receiver answered FAIL_ACK")
            # The ACK cannot be there yet: wait first, then one recv (no failed try first).
            await trio.lowlevel.wait_readable(raw)
            try:
                chunk = raw.recv(ACK_MAX_PACKAGE)
            except BlockingIOError:
                continue
            if not chunk:
                raise ConnectionResetError("connection closed while waiting for the ACK")
            pending.extend(conn.decoder.feed(chunk))

    # --- lifecycle -------------------------------------------------------------------------------

    def close(self, member: Member) -> None:
        """Drop the pooled connections of a vanished member (busy ones close when released)."""
        pool = self._pools.pop(member.key, None)
        self._states.pop(member.key, None)
        if pool is not None:
            pool.close()

    async def aclose(self) -> None:
        """Close every pooled connection; later sends raise ClosedResourceError."""
        self._closed = True
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            pool.close()
        await trio.lowlevel.checkpoint()

    # --- probes ----------------------------------------------------------------------------------

    async def probe(
        self,
        member: Member,
        *,
        connect_timeout: float = 1.0,
        send_test: bool = True,
        read_test: bool = False,
        read_timeout: float = 5.0,
        option_flag: int = 0,
    ) -> bool:
        """TcpFailureDetector.memberAlive with this sender's local member as the address."""
        return await probe_member(
            member,
            self.local_member_bytes(),
            connect_timeout=connect_timeout,
            send_test=send_test,
            read_test=read_test,
            read_timeout=read_timeout,
            option_flag=option_flag,
        )


async def _write_frame(conn: Connection, frame: bytes) -> None:
    """Write a whole frame: one send() normally does it; the rest waits for the socket."""
    try:
        sent = conn.raw.send(frame)
    except BlockingIOError:
        sent = 0
    if sent < len(frame):
        await conn.stream.send_all(memoryview(frame)[sent:])


def fail_detect_frame(local_member_bytes: bytes, *, read_test: bool, option_flag: int = 0) -> bytes:
    """The TcpFailureDetector probe package: BYTE_MESSAGE, USE_ACK only for a read test."""
    options = (option_flag | _BYTE_MESSAGE) & ~_USE_ACK
    if read_test:
        options |= _USE_ACK
    return frame_channel_data(
        options, _wall_clock_ms(), new_unique_id(), local_member_bytes, TCP_FAIL_DETECT
    )


async def probe_member(
    member: Member,
    local_member_bytes: bytes,
    *,
    connect_timeout: float = 1.0,
    send_test: bool = True,
    read_test: bool = False,
    read_timeout: float = 5.0,
    option_flag: int = 0,
) -> bool:
    """TcpFailureDetector.memberAlive: a fresh socket, one TCP_FAIL_DETECT package, close.

    A member whose command is BABY-ALEX is dead without a probe.  Alive = connected (and the
    package written; with `read_test`, at least one byte read back within `read_timeout`).
    """
    if member.shutting_down:
        return False
    conn: Connection | None = None
    try:
        with trio.move_on_after(connect_timeout):
            conn = await open_connection(member.host_text, member.port)
        if conn is None:
            log_event("probe_failed", level=logging.DEBUG, member=member.name, error="timeout")
            return False
        if not send_test:
            return True
        frame = fail_detect_frame(local_member_bytes, read_test=read_test, option_flag=option_flag)
        with trio.move_on_after(read_timeout):
            await conn.stream.send_all(frame)
            if read_test:
                return bool(await conn.stream.receive_some(64))
            return True
        log_event("probe_failed", level=logging.DEBUG, member=member.name, error="timeout")
        return False
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as e:
        log_event("probe_failed", level=logging.DEBUG, member=member.name, error=describe(e))
        return False
    finally:
        if conn is not None:
            conn.close()


async def reachable(member: Member, timeout: float = 0.5) -> bool:
    """StaticMembershipProvider.getAliveMembers: a plain connect and close, no data."""
    try:
        with trio.move_on_after(timeout):
            conn = await open_connection(member.host_text, member.port)
            conn.close()
            return True
    except OSError:
        pass
    return False


__all__ = [
    "FaultyHook",
    "RemoteProcessError",
    "SendResult",
    "Sender",
    "fail_detect_frame",
    "probe_member",
    "reachable",
]
