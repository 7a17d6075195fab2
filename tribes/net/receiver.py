"""The TCP receiver: NioReceiver + NioReplicationTask, as a trio server.

* Every accepted connection gets one task: it reads, feeds a `FrameDecoder` and processes the
  complete packages **in order**, one at a time, reading nothing more meanwhile (Tomcat takes the
  key's OP_READ away while a task drains it).  Different connections run concurrently.
* Per package: decode the ChannelData; ACK at once for USE_ACK alone; run the handler (unless
  the payload is a TcpPingInterceptor / TcpFailureDetector probe, which is dropped); for
  USE_ACK|SYNCHRONIZED_ACK write ACK afterwards, or FAIL_ACK when the handler raised.  Without
  USE_ACK nothing is ever written.  When one read brings several packages (a pipelining
  sender), their ACKs are written together where these rules allow (`_deliver`).
* Bad input closes only the connection it came on, with one log line: framing errors, claimed
  lengths over `max_package` (refused before buffering), malformed ChannelData.
* Resource bounds: `max_connections` open at once; at the cap the oldest connection that has
  never delivered a complete package is evicted to make room, and if there is none the new
  connection is closed at accept (one log line per episode, not per connection).  A connection
  holding an incomplete package (or that never sent anything) is closed after
  `partial_timeout`; a fully idle one only after the generous `idle_timeout` (Tomcat never
  closes idle connections and its pooled senders may stay idle for minutes).  Buffered bytes are
  bounded per connection by the decoder and in total by `max_buffered_total`.
* Socket buffers: `rx_buf_size`/`tx_buf_size` (Tomcat's rxBufSize 65536 / txBufSize 25188) are
  left to the kernel's autotuning unless given.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from ..errors import ProtocolError
from ..wire.channel_data import ChannelData, decode_channel_data
from ..wire.framing import ACK, DEFAULT_MAX_PACKAGE, FAIL_ACK, FrameDecoder
from ..wire.probes import TCP_FAIL_DETECT, TCP_PING_DATA
from .transport import describe, format_peer, log_event, tune_socket

Handler = Callable[[ChannelData], Awaitable[None]]

_PROBE_LEN = len(TCP_PING_DATA)
_PROBES = (TCP_FAIL_DETECT, TCP_PING_DATA)
_USE_ACK = 0x2
_SYNC_ACK = 0x4
_ACK_MASK = _USE_ACK | _SYNC_ACK
#: accept() errors that mean "out of resources": back off instead of dying.
_ACCEPT_BACKOFF = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})


@dataclass(slots=True)
class ReceiverStats:
    """Counters for introspection and tests."""

    accepted: int = 0
    refused: int = 0
    evicted: int = 0
    closed_idle: int = 0
    closed_partial: int = 0
    closed_buffer_limit: int = 0
    protocol_errors: int = 0
    packages: int = 0
    probes_dropped: int = 0
    handler_errors: int = 0
    acks: int = 0
    fail_acks: int = 0


def _refresh_idle(scope: trio.CancelScope, now: float, idle: float) -> None:
    """Set the idle deadline, unless the current one is within 1 % of it (a cheap no-op)."""
    if idle == math.inf:
        if scope.deadline != math.inf:
            scope.deadline = math.inf
        return
    target = now + idle
    if not target - idle * 0.01 <= scope.deadline <= target:
        scope.deadline = target


class _Conn:
    __slots__ = (
        "accepted_at",
        "accounted",
        "decoder",
        "evicted",
        "packages",
        "peer",
        "scope",
        "writing",
    )

    def __init__(self, peer: str, decoder: FrameDecoder, now: float) -> None:
        self.peer = peer
        self.decoder = decoder
        self.scope = trio.CancelScope()
        self.accepted_at = now
        self.packages = 0
        self.evicted = False
        self.writing = False
        self.accounted = 0  # this connection's share of Receiver.buffered_bytes


class Receiver:
    """Accepts Tribes data connections on ``bind_host:port`` and hands messages to `handler`."""

    def __init__(
        self,
        bind_host: str,
        port: int,
        handler: Handler,
        *,
        max_package: int = DEFAULT_MAX_PACKAGE,
        max_connections: int = 512,
        idle_timeout: float | None = 3600.0,
        partial_timeout: float = 30.0,
        read_size: int = 65536,
        max_buffered_total: int = 256 << 20,
        ack_timeout: float = 30.0,
        rx_buf_size: int | None = None,
        tx_buf_size: int | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.bind_host = bind_host
        self._port = port
        self.handler = handler
        self.max_package = max_package
        self.max_connections = max_connections
        self.idle_timeout = math.inf if idle_timeout is None else idle_timeout
        self.partial_timeout = partial_timeout
        self.read_size = read_size
        self.max_buffered_total = max(max_buffered_total, max_package + read_size + 18)
        self.ack_timeout = ack_timeout
        self.rx_buf_size = rx_buf_size
        self.tx_buf_size = tx_buf_size
        self.stats = ReceiverStats()
        self._conns: dict[int, _Conn] = {}
        self._next_id = 0
        self._buffered = 0
        self._limit_episode = False
        self._episode_refused = 0
        self._episode_evicted = 0
        self._serve_scope: trio.CancelScope | None = None

    # --- introspection ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one once `serve` has started, also when asked for 0)."""
        return self._port

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    @property
    def buffered_bytes(self) -> int:
        """Bytes held by all connections for incomplete packages."""
        return self._buffered

    # --- serving ---------------------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind, report the port to `task_status`, accept until cancelled or `close()`d."""
        listener = await self._bind()
        self._port = listener.getsockname()[1]
        log_event("receiver_listening", level=logging.DEBUG, host=self.bind_host, port=self._port)
        try:
            with trio.CancelScope() as scope:
                self._serve_scope = scope
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._accept_loop, listener, nursery)
                    task_status.started(self._port)
        finally:
            self._serve_scope = None
            trio.lowlevel.notify_closing(listener)
            listener.close()

    async def _bind(self) -> socket.socket:
        infos = await trio.socket.getaddrinfo(
            self.bind_host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, type_, proto, _, addr = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # accepted sockets inherit the buffer sizes
            if self.rx_buf_size is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rx_buf_size)
            if self.tx_buf_size is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.tx_buf_size)
            sock.bind(addr)
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        """Stop accepting and close every connection (serve() returns)."""
        if self._serve_scope is not None:
            self._serve_scope.cancel()

    async def _accept_loop(self, listener: socket.socket, nursery: trio.Nursery) -> None:
        backing_off = False
        while True:
            await trio.lowlevel.wait_readable(listener)
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError as e:
                if e.errno not in _ACCEPT_BACKOFF:
                    raise
                if not backing_off:
                    log_event("accept_error", level=logging.ERROR, error=describe(e))
                    backing_off = True
                await trio.sleep(0.1)
                continue
            backing_off = False
            peer = format_peer(addr)
            if len(self._conns) >= self.max_connections and not self._evict_one():
                self.stats.refused += 1
                self._episode_refused += 1
                self._limit_reached(peer)
                sock.close()
                continue
            if self._limit_episode and len(self._conns) < self.max_connections - 1:
                self._limit_cleared()
            sock.setblocking(False)
            tune_socket(sock)
            self.stats.accepted += 1
            conn = _Conn(peer, FrameDecoder(self.max_package), trio.current_time())
            cid = self._next_id
            self._next_id += 1
            self._conns[cid] = conn
            nursery.start_soon(self._run_connection, cid, conn, sock)

    def _evict_one(self) -> bool:
        """Make room by closing the oldest connection that never delivered a package."""
        victim_id = -1
        victim: _Conn | None = None
        for cid, conn in self._conns.items():
            if conn.packages == 0 and (victim is None or conn.accepted_at < victim.accepted_at):
                victim_id, victim = cid, conn
        if victim is None:
            return False
        victim.evicted = True
        victim.scope.cancel()
        self._forget(victim_id, victim)
        self.stats.evicted += 1
        self._episode_evicted += 1
        self._limit_reached(victim.peer)
        return True

    def _limit_reached(self, peer: str) -> None:
        if not self._limit_episode:
            self._limit_episode = True
            log_event(
                "connection_limit",
                level=logging.WARNING,
                limit=self.max_connections,
                peer=peer,
                action="evicting silent connections, refusing when none",
            )

    def _limit_cleared(self) -> None:
        log_event(
            "connection_limit_cleared",
            level=logging.INFO,
            limit=self.max_connections,
            refused=self._episode_refused,
            evicted=self._episode_evicted,
        )
        self._limit_episode = False
        self._episode_refused = 0
        self._episode_evicted = 0

    def _forget(self, cid: int, conn: _Conn) -> None:
        if self._conns.pop(cid, None) is not None:
            self._buffered -= conn.accounted
            conn.accounted = 0

    # --- one connection --------------------------------------------------------------------------

    async def _run_connection(self, cid: int, conn: _Conn, sock: socket.socket) -> None:
        reason: str | None = None
        try:
            with conn.scope:
                reason = await self._read_loop(conn, sock)
            if conn.scope.cancelled_caught and reason is None and not conn.evicted:
                reason = self._timeout_reason(conn)
        except ProtocolError as e:
            self.stats.protocol_errors += 1
            log_event(
                "connection_error",
                level=logging.WARNING,
                peer=conn.peer,
                error=str(e),
                packages=conn.packages,
            )
        except OSError as e:
            log_event("connection_lost", level=logging.INFO, peer=conn.peer, error=describe(e))
        finally:
            self._forget(cid, conn)
            trio.lowlevel.notify_closing(sock)
            sock.close()
        if conn.evicted:
            log_event("connection_evicted", level=logging.DEBUG, peer=conn.peer)
        elif reason is not None:
            log_event(
                "connection_closed",
                level=logging.INFO,
                peer=conn.peer,
                reason=reason,
                buffered=conn.decoder.buffered,
                packages=conn.packages,
            )

    def _timeout_reason(self, conn: _Conn) -> str:
        if conn.writing:
            return "peer does not read its acks"
        if conn.decoder.buffered or conn.packages == 0:
            self.stats.closed_partial += 1
            return "incomplete package timed out" if conn.decoder.buffered else "silent timeout"
        self.stats.closed_idle += 1
        return "idle timeout"

    async def _read_loop(self, conn: _Conn, sock: socket.socket) -> str | None:
        """Returns a reason to log when the connection ends for a reason worth logging.

        Deadlines: while a package is incomplete (or none has arrived yet) the connection must
        make it complete within `partial_timeout` of the moment we started waiting for it;
        otherwise it may stay idle for `idle_timeout`.  The idle deadline is refreshed lazily
        (only when it has drifted by 1 %), so the hot path rarely touches the cancel scope; the
        time a handler runs counts as activity, not as idleness, up to `idle_timeout`.
        """
        decoder = conn.decoder
        scope = conn.scope
        read_size = self.read_size
        idle = self.idle_timeout
        current_time = trio.current_time
        wait_readable = trio.lowlevel.wait_readable
        # A fresh connection must start its first package promptly (Tomcat writes at once).
        waiting_since = conn.accepted_at
        while True:
            if decoder.buffered or conn.packages == 0:
                deadline = waiting_since + self.partial_timeout
                if scope.deadline != deadline:
                    scope.deadline = deadline
            else:
                _refresh_idle(scope, current_time(), idle)
            await wait_readable(sock)
            if conn.evicted:
                return None
            try:
                chunk = sock.recv(read_size)
            except BlockingIOError:
                continue
            if not chunk:
                if decoder.buffered:
                    return "closed by peer inside a package"
                return None
            before = decoder.buffered
            try:
                packages = decoder.feed(chunk)
            finally:
                self._buffered += decoder.buffered - conn.accounted
                conn.accounted = decoder.buffered
            if self._buffered > self.max_buffered_total and decoder.buffered:
                self.stats.closed_buffer_limit += 1
                return f"buffer limit of {self.max_buffered_total} bytes for all connections"
            if packages:
                _refresh_idle(scope, current_time(), idle)  # lifts a partial-package deadline
                await self._deliver(conn, sock, packages)
                waiting_since = current_time()
            elif before == 0 and conn.packages:
                waiting_since = current_time()

    async def _deliver(self, conn: _Conn, sock: socket.socket, packages: list[bytes]) -> None:
        """Process the packages of one read in order, writing their ACKs in as few sends as
        the rules allow (a pipelining sender reads them in order): the ACKs due are written
        together just before the next handler runs, and after the last one.

        * USE_ACK alone: ACK before the package's handler runs -- with the ACKs of the same kind
          of the packages right behind it, which are received too;
        * USE_ACK|SYNCHRONIZED_ACK: ACK (FAIL_ACK if the handler raised) after processing.
        """
        cds = [decode_channel_data(data) for data in packages]  # Tomcat parses all first, too
        n = len(cds)
        stats = self.stats
        acks = b""  # ACK packages due, written in one send
        acked = 0  # cds[:acked] have their receipt ACK written
        for i, cd in enumerate(cds):
            conn.packages += 1
            stats.packages += 1
            opts = cd.options
            sync = opts & _ACK_MASK == _ACK_MASK
            if opts & _ACK_MASK == _USE_ACK and i >= acked:
                acked = i
                while acked < n and cds[acked].options & _ACK_MASK == _USE_ACK:
                    acks += ACK
                    acked += 1
                stats.acks += acked - i
            if acks:
                await self._write(conn, sock, acks)
                acks = b""
            ack = ACK
            msg = cd.message
            if len(msg) == _PROBE_LEN and msg in _PROBES:
                stats.probes_dropped += 1
            else:
                try:
                    await self.handler(cd)
                except Exception as e:
                    stats.handler_errors += 1
                    log_event(
                        "handler_error",
                        level=logging.WARNING,
                        peer=conn.peer,
                        sender=cd.member.name,
                        options=opts,
                        error=describe(e),
                    )
                    ack = FAIL_ACK
            if sync:
                acks += ack
                if ack is ACK:
                    stats.acks += 1
                else:
                    stats.fail_acks += 1
        if acks:
            await self._write(conn, sock, acks)

    async def _write(self, conn: _Conn, sock: socket.socket, data: bytes) -> None:
        """Write an ACK: one send() normally does it; otherwise wait, within `ack_timeout`."""
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        # A peer that stops reading its ACKs must not pin this task for ever.
        scope = conn.scope
        saved = scope.deadline
        scope.deadline = trio.current_time() + self.ack_timeout
        conn.writing = True
        view = memoryview(data)[sent:]
        while view:
            await trio.lowlevel.wait_writable(sock)
            with contextlib.suppress(BlockingIOError):
                view = view[sock.send(view) :]
        conn.writing = False
        scope.deadline = saved


__all__ = ["Handler", "Receiver", "ReceiverStats"]
