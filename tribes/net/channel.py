"""The node's transport façade: GroupChannel's byte-level duties plus the interceptors that only
touch bytes (TcpPingInterceptor / TcpFailureDetector probe dropping and probing,
MessageDispatchInterceptor queueing).

* `send` builds the ChannelData exactly like GroupChannel.send: a fresh uniqueId, the wall-clock
  timestamp, the local member's cached bytes as address, BYTE_MESSAGE set for raw byte messages
  and cleared otherwise; the package is framed once and the same bytes go to every destination.
* Options with ASYNCHRONOUS (8) are queued (MessageDispatchInterceptor): `send` returns at once
  with ``SendResult(queued=True)``.  The queue is bounded by `max_queue_bytes` (frame bytes);
  when full, `always_send=True` sends synchronously in the caller, otherwise `QueueFull` is
  raised.  Queued messages are drained by up to `dispatch_workers` concurrent sends.  Unlike
  Tomcat's thread pool, which can reorder, messages for the same destination list are sent one
  after another in queue order (one lane per destination list); they arrive in order whenever
  the sender reuses the same pooled connection, which it does unless a concurrent synchronous
  send holds it.  Consecutive queued packages without USE_ACK for the same destinations are
  written with one send (up to `BATCH_BYTES`); the bytes on the wire are the same packages, and
  a failure resends the whole batch once, as Tomcat resends a message (so a failure in the
  middle of a batch can duplicate more than one message).
  Failures of queued sends are only logged and passed to `on_faulty`.  An
  asynchronous send on a channel that is not running is sent synchronously.
* The local member's alive time is uptime: ``wall-clock ms - start_time_ms`` (the membership
  service start given by the caller), patched into the cached member bytes at most once per
  `alive_refresh` seconds (and on `refresh_alive()`), never re-encoded per message.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

import trio

from ..errors import TribesError
from ..wire.channel_data import ChannelData, frame_channel_data, new_unique_id
from ..wire.framing import DEFAULT_MAX_PACKAGE
from ..wire.member import Member
from .receiver import Receiver
from .sender import FaultyHook, MemberKey, Sender, SendResult, reachable
from .transport import describe, log_event, patch_alive, wall_clock_ms

Listener = Callable[[ChannelData], Awaitable[None]]

_BYTE_MESSAGE = 0x1
_ASYNCHRONOUS = 0x8


class QueueFull(TribesError):
    """The asynchronous send queue is full and `always_send` is off."""


_Item = tuple[list[Member], bytes, int]
_USE_ACK = 0x2
#: Queued no-ACK packages for the same destinations are written together up to this size.
BATCH_BYTES = 256 << 10


def _batch(lane: deque[_Item]) -> tuple[int, bytes]:
    """Consecutive queued packages without USE_ACK, joined for one write (same wire bytes)."""
    frames: list[bytes] = []
    total = 0
    for _, frame, options in lane:
        if options & _USE_ACK or (frames and total + len(frame) > BATCH_BYTES):
            break
        frames.append(frame)
        total += len(frame)
    return len(frames), b"".join(frames)


class Channel:
    """Receiver + sender + listeners + asynchronous dispatch for one local member."""

    def __init__(
        self,
        local_member: Member,
        *,
        start_time_ms: int | None = None,
        bind_host: str | None = None,
        # receiver
        max_package: int = DEFAULT_MAX_PACKAGE,
        max_connections: int = 512,
        idle_timeout: float | None = 3600.0,
        partial_timeout: float = 30.0,
        # sender
        timeout: float = 3.0,
        max_retry_attempts: int = 1,
        pool_size: int = 25,
        connect_timeout: float | None = None,
        on_faulty: FaultyHook | None = None,
        # MessageDispatchInterceptor
        max_queue_bytes: int = 64 << 20,
        always_send: bool = True,
        dispatch_workers: int = 10,
        alive_refresh: float = 1.0,
    ) -> None:
        self._member = local_member
        self._member_bytes = local_member.to_bytes()
        self._start_ms = start_time_ms
        self._alive_refresh_ms = int(alive_refresh * 1000)
        self._alive_at = -(1 << 62)
        #: A tuple, replaced on change: delivery iterates it without a copy per message.
        self._listeners: tuple[Listener, ...] = ()
        self.receiver = Receiver(
            bind_host if bind_host is not None else local_member.host_text,
            local_member.port,
            self._deliver,
            max_package=max_package,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            partial_timeout=partial_timeout,
        )
        self.sender = Sender(
            lambda: self._member_bytes,
            timeout=timeout,
            max_retry_attempts=max_retry_attempts,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
            on_faulty=on_faulty,
        )
        self.max_queue_bytes = max_queue_bytes
        self.always_send = always_send
        self._workers = trio.CapacityLimiter(dispatch_workers)
        self._lanes: dict[tuple[MemberKey, ...], deque[_Item]] = {}
        self._queued_bytes = 0
        self._drained = trio.Event()
        self._drained.set()
        self._nursery: trio.Nursery | None = None
        self._run_scope: trio.CancelScope | None = None
        if start_time_ms is not None:
            self.refresh_alive()

    # --- local member ----------------------------------------------------------------------------

    @property
    def local_member(self) -> Member:
        return self._member

    @property
    def member_bytes(self) -> bytes:
        """The cached MemberImpl bytes used as the address of every message (getData(false))."""
        return self._member_bytes

    @property
    def port(self) -> int:
        return self.receiver.port

    def update_local_member(self, member: Member) -> None:
        """Replace the local member (payload, command, ...); encoded once here."""
        self._member = member
        self._member_bytes = member.to_bytes()
        self._alive_at = -(1 << 62)

    def set_start_time(self, start_time_ms: int | None) -> None:
        """The membership service start time (epoch ms) from which the alive time counts."""
        self._start_ms = start_time_ms
        self._alive_at = -(1 << 62)
        if start_time_ms is not None:
            self.refresh_alive()

    def refresh_alive(self, now_ms: int | None = None) -> Member:
        """Patch alive = uptime into the cached member bytes (getLocalMember(true))."""
        if self._start_ms is None:
            return self._member
        now = wall_clock_ms() if now_ms is None else now_ms
        alive = max(0, now - self._start_ms)
        self._member_bytes = patch_alive(self._member_bytes, alive)
        self._member = self._member.with_alive(alive)
        self._alive_at = now
        return self._member

    # --- listeners -------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Called for every received message, in registration order (GroupChannel)."""
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            listeners = list(self._listeners)
            listeners.remove(listener)
            self._listeners = tuple(listeners)

    async def _deliver(self, cd: ChannelData) -> None:
        for listener in self._listeners:
            await listener(cd)

    # --- sending ---------------------------------------------------------------------------------

    def frame(self, message: bytes | bytearray | memoryview, options: int) -> bytes:
        """A complete package for `message` from the local member (fresh uniqueId, now)."""
        now = wall_clock_ms()
        if self._start_ms is not None and now - self._alive_at >= self._alive_refresh_ms:
            self.refresh_alive(now)
        return frame_channel_data(options, now, new_unique_id(), self._member_bytes, message)

    async def send(
        self,
        members: Iterable[Member],
        message: bytes | bytearray | memoryview,
        options: int,
        *,
        byte_message: bool,
    ) -> SendResult:
        """GroupChannel.send: `message` is the payload (raw bytes or a Java stream)."""
        options = options | _BYTE_MESSAGE if byte_message else options & ~_BYTE_MESSAGE
        targets = list(members)
        if not targets:
            return SendResult()
        frame = self.frame(message, options)
        if options & _ASYNCHRONOUS and self._nursery is not None:
            return await self._enqueue(targets, frame, options)
        return await self.sender.send(targets, frame, options)

    @property
    def queued_bytes(self) -> int:
        """Frame bytes waiting in the asynchronous queue."""
        return self._queued_bytes

    async def _enqueue(self, members: list[Member], frame: bytes, options: int) -> SendResult:
        size = len(frame)
        if self._queued_bytes + size > self.max_queue_bytes:
            if not self.always_send:
                raise QueueFull(f"asynchronous queue holds {self._queued_bytes} bytes")
            return await self.sender.send(members, frame, options)
        key = tuple(m.key for m in members)
        lane = self._lanes.get(key)
        if lane is None:
            assert self._nursery is not None
            lane = self._lanes[key] = deque()
            self._nursery.start_soon(self._drain_lane, key, lane)
        lane.append((members, frame, options))
        if self._queued_bytes == 0:
            self._drained = trio.Event()
        self._queued_bytes += size
        await trio.lowlevel.checkpoint()
        return SendResult(queued=True)

    async def _drain_lane(self, key: tuple[MemberKey, ...], lane: deque[_Item]) -> None:
        try:
            while lane:
                members, frame, options = lane[0]
                count, data = 1, frame
                if not options & _USE_ACK and len(lane) > 1:
                    count, data = _batch(lane)
                try:
                    async with self._workers:
                        result = await self.sender.send(members, data, options)
                except trio.ClosedResourceError:
                    result = SendResult()
                finally:
                    for _ in range(count):
                        self._queued_bytes -= len(lane.popleft()[1])
                if result.faulty:
                    log_event(
                        "async_send_failed",
                        level=logging.DEBUG,
                        members=",".join(m.name for m in result.faulty),
                        error=describe(next(iter(result.faulty.values()))),
                    )
        finally:
            del self._lanes[key]
            if lane:  # cancelled: the rest is dropped, as Tomcat drops its queue on stop
                dropped = sum(len(item[1]) for item in lane)
                self._queued_bytes -= dropped
                log_event("async_queue_dropped", level=logging.INFO, messages=len(lane))
            if not self._lanes:
                self._drained.set()

    async def drain(self) -> None:
        """Wait until the asynchronous queue is empty."""
        while self._queued_bytes or self._lanes:
            await self._drained.wait()

    # --- probes ----------------------------------------------------------------------------------

    async def probe(
        self,
        member: Member,
        *,
        connect_timeout: float = 1.0,
        send_test: bool = True,
        read_test: bool = False,
        read_timeout: float = 5.0,
    ) -> bool:
        """TcpFailureDetector.memberAlive: fresh socket, one TCP_FAIL_DETECT package, close."""
        return await self.sender.probe(
            member,
            connect_timeout=connect_timeout,
            send_test=send_test,
            read_test=read_test,
            read_timeout=read_timeout,
        )

    async def reachable(self, member: Member, timeout: float = 0.5) -> bool:
        """StaticMembershipProvider.getAliveMembers: plain connect + close."""
        return await reachable(member, timeout)

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind and serve; reports the bound port.  A local member with port 0 gets the real one."""
        try:
            with trio.CancelScope() as scope:
                self._run_scope = scope
                async with trio.open_nursery() as nursery:
                    port = await nursery.start(self.receiver.serve)
                    if self._member.port != port:
                        self.update_local_member(replace(self._member, port=port))
                        if self._start_ms is not None:
                            self.refresh_alive()
                    self._nursery = nursery
                    task_status.started(port)
                    await trio.sleep(math.inf)
        finally:
            self._nursery = None
            self._run_scope = None

    async def aclose(self) -> None:
        """Stop receiving, drop the asynchronous queue, close pooled connections."""
        if self._run_scope is not None:
            self._run_scope.cancel()
        await self.sender.aclose()


__all__ = ["Channel", "Listener", "QueueFull"]
