"""The TCP sender: PooledParallelSender + ParallelNioSender + NioSender, as trio code.

* Persistent pooled connections per destination (keyed by `Member.key`), opened on demand to
  ``member.host_text:member.port`` and reused, up to `pool_size` concurrent sends per member.
* One message in flight per connection by default, as Tomcat: a send takes an idle connection
  or opens a new one rather than waiting.  Optional pipelining (`pipeline_depth` > 1): a send
  with USE_ACK joins a connection whose ACKs are flowing, up to `pipeline_depth` frames, unless
  its oldest ACK is more than `PIPELINE_STALL` overdue (the peer is busy in a handler).  A
  receiver processes one connection's packages in order and answers each (NioReplicationTask),
  so the ACKs are matched in FIFO order; one recv() may read several.  Off by default: it
  saved nothing on loopback between two processes (the ACKs come back one by one and the
  reading is handed from task to task), and a message queued behind a slow handler waits for
  it (or deadlocks, if that handler waits for the message).  Without USE_ACK a send takes an
  idle connection and is done once written.
* Health check: NioSender reads after each write (EOF = failure, resend).  Here an idle
  connection is checked for EOF before reuse, if it was idle for over `PROBE_IDLE` or the send
  has no ACK (nothing else would notice the loss); a send with ACK finds a closed connection
  when reading its ACK, and is resent.
* Retry like AbstractSender(maxRetryAttempts=1): on any failure the connection is dropped (with
  every send pipelined on it) and the same bytes are resent once on a fresh connection (a
  FAIL_ACK resends once too, on a pooled, still consistent, connection), then the member is
  reported faulty.
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
from ..wire.channel_data import frame_channel_data, new_unique_id
from ..wire.framing import ACK_DATA, FAIL_ACK_DATA, FrameDecoder
from ..wire.member import Member
from ..wire.probes import TCP_FAIL_DETECT
from .transport import Connection, describe, log_event, open_connection
from .transport import wall_clock_ms as _wall_clock_ms

_USE_ACK = 0x2
_BYTE_MESSAGE = 0x1

#: Biggest package accepted on the ack direction (Tomcat's ack buffer starts at 128 bytes).
ACK_MAX_PACKAGE = 4096

MemberKey = tuple[bytes, int, bytes]

#: An idle pooled connection is checked for EOF before reuse only after this many seconds (a
#: failed send is resent once anyway); one for a send without ACK always is.
PROBE_IDLE = 1.0
#: With pipelining, no more sends join a connection whose oldest ACK is this overdue (seconds).
PIPELINE_STALL = 0.001
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


class _Waiter:
    """One send with USE_ACK on a connection, waiting for its ACK (ACKs come back in order)."""

    __slots__ = ("event", "live", "outcome", "sent_at")

    def __init__(self, now: float) -> None:
        self.sent_at = now
        self.event: trio.Event | None = None
        self.outcome: bool | Exception | None = None  # ACK, FAIL_ACK, or the connection broke
        self.live = True  # False once its send gave up (cancelled): its ACK is still due


class _PooledConn(Connection):
    """A pooled connection: sends with USE_ACK may be pipelined on it, in order."""

    __slots__ = ("broken", "decoder", "last_used", "reading", "users", "waiters", "writing")

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn.raw, conn.stream)
        self.decoder = FrameDecoder(ACK_MAX_PACKAGE)
        self.waiters: deque[_Waiter] = deque()  # outstanding ACKs, oldest first
        self.users = 0  # sends using it now
        self.reading = False  # one waiter reads the ACKs for all
        self.writing = False  # a frame is partly written: nothing may be pipelined
        self.broken = False
        self.last_used = 0.0

    def answer(self, outcome: bool) -> None:
        """An ACK (True) or FAIL_ACK (False) arrived: it answers the oldest outstanding send."""
        if not self.waiters:
            self.broken = True  # a reply nobody asked for: the stream's state is unknown
            return
        waiter = self.waiters.popleft()
        waiter.outcome = outcome
        if waiter.event is not None:
            waiter.event.set()

    def fail(self, exc: Exception) -> None:
        """The connection broke: every send waiting on it fails (and gets its resend)."""
        self.broken = True
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            waiter.outcome = exc
            if waiter.event is not None:
                waiter.event.set()

    def wake_reader(self) -> None:
        """Hand the reading of ACKs over to the oldest send still waiting."""
        for waiter in self.waiters:
            if waiter.live:
                if waiter.event is not None:
                    waiter.event.set()
                return


class _Pool:
    __slots__ = ("closed", "conns", "depth", "host", "open", "port", "sem")

    def __init__(self, host: str, port: int, size: int, depth: int) -> None:
        self.host = host
        self.port = port
        self.depth = depth  # sends with USE_ACK in flight on one connection
        self.conns: list[_PooledConn] = []  # open connections, busy or idle
        self.open = 0  # len(conns) + connections being opened
        self.sem = trio.Semaphore(size)
        self.closed = False

    def pick(self, want_ack: bool, now: float) -> _PooledConn | None:
        """A connection for the next send, or None (open one).

        With pipelining, a send with USE_ACK joins a connection whose ACKs are flowing unless
        its oldest ACK is overdue -- the peer's handler is busy with that message and anything
        behind it would wait too.  Otherwise an idle connection; one idle for a while, or used
        for a send without ACK (nothing else would notice that the peer closed it), is first
        checked for EOF.
        """
        conns = self.conns
        if want_ack and self.depth > 1:
            for conn in conns:
                if (
                    conn.users
                    and not conn.writing
                    and not conn.broken
                    and len(conn.waiters) < self.depth
                    and (not conn.waiters or now - conn.waiters[0].sent_at < PIPELINE_STALL)
                ):
                    return conn
        i = len(conns)
        while i:  # the most recently opened idle one first
            i -= 1
            conn = conns[i]
            if conn.users:
                continue
            if (not want_ack or now - conn.last_used > PROBE_IDLE) and conn.peer_closed():
                self.discard(conn)  # removes conns[i]: the ones still to visit stay in place
                continue
            return conn
        return None

    def done(self, conn: _PooledConn, now: float) -> None:
        """A send is finished with `conn`: keep it, or drop it when its state is unknown."""
        conn.users -= 1
        if conn.users:
            return  # the last one decides: the others may still be reading or writing
        # ACKs still due (of sends that gave up) or part of a package: the state is unknown
        if conn.broken or self.closed or conn.waiters or conn.decoder.buffered:
            self.discard(conn)
        else:
            conn.last_used = now

    def discard(self, conn: _PooledConn) -> None:
        if conn in self.conns:
            self.conns.remove(conn)
            self.open -= 1
        conn.broken = True
        conn.close()

    def discard_idle(self) -> None:
        for conn in [c for c in self.conns if c.users == 0]:
            self.discard(conn)

    def close(self) -> None:
        self.closed = True
        self.discard_idle()


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
        pipeline_depth: int = 1,
        connect_timeout: float | None = None,
        on_faulty: FaultyHook | None = None,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if pipeline_depth < 1:
            raise ValueError("pipeline_depth must be at least 1")
        self.local_member_bytes = local_member_bytes_provider
        self.timeout = timeout
        self.max_retry_attempts = max_retry_attempts
        self.pool_size = pool_size
        self.pipeline_depth = pipeline_depth
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
        if isinstance(members, list) and len(members) == 1:  # the usual case: no dedup, no task
            member = members[0]
            self._record(result, member, await self._send_one(member, frame, want_ack, deadline))
        else:
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
        self._record(result, member, await self._send_one(member, frame, want_ack, deadline))

    def _record(self, result: SendResult, member: Member, exc: Exception | None) -> None:
        """Note one member's outcome in `result` and in its SenderState."""
        states = self._states
        if exc is None:
            result.ok.append(member)
            if member.key in states:
                del states[member.key]
        else:
            result.faulty[member] = exc
            states[member.key] = min(states.get(member.key, 0) + 1, 2)

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
            pool = self._pools[member.key] = _Pool(
                member.host_text, member.port, self.pool_size, self.pipeline_depth
            )
        return pool

    async def _send_one(
        self, member: Member, frame: bytes, want_ack: bool, deadline: float
    ) -> Exception | None:
        """Send to one member (with its resend) by `deadline`; returns the failure, if any."""
        pool = self._pool_for(member)
        sem = pool.sem
        try:
            with trio.CancelScope(deadline=deadline):
                if not want_ack:
                    await sem.acquire()  # a checkpoint: lets the async queue gather a batch
                else:
                    try:
                        sem.acquire_nowait()  # no extra checkpoint: the send waits for its ACK
                    except trio.WouldBlock:
                        await sem.acquire()
                try:
                    await self._attempts(pool, frame, want_ack)
                finally:
                    sem.release()
                return None
            return TimeoutError(f"operation timed out ({self.timeout} s)")
        except Exception as e:
            return e

    async def _attempts(self, pool: _Pool, frame: bytes, want_ack: bool) -> None:
        """Send once, and resend once more on failure: on a new connection after a connection
        error (the idle ones go too: they probably face the same restarted peer)."""
        attempt = 0
        fresh = False
        while True:
            now = trio.current_time()  # also the connection's last use: at worst probed early
            conn = None if fresh else pool.pick(want_ack, now)
            if conn is None:
                conn = await self._connect(pool)
            conn.users += 1
            try:
                await _exchange(conn, frame, want_ack, now)
                return
            except RemoteProcessError:
                # The connection is consistent: resend on a pooled one (Tomcat reconnects).
                if attempt >= self.max_retry_attempts:
                    raise
            except (OSError, ProtocolError, trio.BrokenResourceError) as e:
                conn.broken = True
                if attempt >= self.max_retry_attempts:
                    if isinstance(e, trio.BrokenResourceError):
                        raise ConnectionResetError(str(e)) from e
                    raise
                fresh = True
                pool.discard_idle()
                log_event(
                    "send_retry",
                    level=logging.DEBUG,
                    peer=f"{pool.host}:{pool.port}",
                    error=describe(e),
                )
            finally:
                pool.done(conn, now)
            attempt += 1

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
        pooled = _PooledConn(conn)
        if pool.closed:
            pooled.broken = True  # closed meanwhile: used for this send only
        pool.conns.append(pooled)
        return pooled

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


async def _exchange(conn: _PooledConn, frame: bytes, want_ack: bool, now: float) -> None:
    """Write `frame` on `conn` (at `now`) and, with USE_ACK, wait for its ACK.

    The oldest waiting send reads the ACKs for all (one recv() may answer several) and hands
    the reading over when its own ACK has come.  A send that gives up (cancelled) leaves its
    place in the queue: its ACK is still due and is read and dropped by the next reader.
    """
    if not want_ack:
        await _write_frame(conn, frame)
        return
    waiter = _Waiter(now)
    conn.waiters.append(waiter)
    reader = False
    try:
        await _write_frame(conn, frame)
        while waiter.outcome is None:
            if conn.reading:
                waiter.event = trio.Event()
                await waiter.event.wait()
                continue
            conn.reading = reader = True
            try:
                await _read_acks(conn, waiter)
            finally:
                conn.reading = False
                conn.wake_reader()
    finally:
        if waiter.outcome is None:
            waiter.live = False
            conn.wake_reader()
    outcome = waiter.outcome
    if outcome is True:
        return
    if outcome is False:
        raise RemoteProcessError("the receiver answered FAIL_ACK")
    if reader:
        raise outcome
    raise ConnectionResetError(f"connection failed: {describe(outcome)}") from outcome


async def _read_acks(conn: _PooledConn, waiter: _Waiter) -> None:
    """Read ACK packages until `waiter` has its answer; other packages are ignored."""
    raw = conn.raw
    decoder = conn.decoder
    try:
        while waiter.outcome is None:
            # Normally the ACK is not there yet: wait first, then one recv (no failed try).
            await trio.lowlevel.wait_readable(raw)
            try:
                chunk = raw.recv(ACK_MAX_PACKAGE)
            except BlockingIOError:
                continue
            if not chunk:
                raise ConnectionResetError("connection closed while waiting for the ACK")
            for data in decoder.feed(chunk):
                if data == ACK_DATA:
                    conn.answer(True)
                elif data == FAIL_ACK_DATA:
                    conn.answer(False)
    except (OSError, ProtocolError) as e:
        conn.fail(e)


async def _write_frame(conn: _PooledConn, frame: bytes) -> None:
    """Write a whole frame: one send() normally does it; the rest waits for the socket.

    A frame cut short (an error, or cancelled while waiting) breaks the stream for every send
    pipelined on the connection.
    """
    try:
        try:
            sent = conn.raw.send(frame)
        except BlockingIOError:
            sent = 0
        if sent < len(frame):
            conn.writing = True
            await conn.stream.send_all(memoryview(frame)[sent:])
            conn.writing = False
    except BaseException as e:
        conn.fail(e if isinstance(e, Exception) else ConnectionResetError("write interrupted"))
        raise


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
