"""`Node`: a running pytribes cluster member (Channel + RpcChannel + static membership +
TcpFailureDetector + TcpPingInterceptor timing) in one trio nursery.

    async with open_node(config) as node:
        node.on_member_added(lambda m: ...)
        node.add_message_listener(handle)        # SessionMessages and other non-membership
        await node.send(node.members(), message)
    # leaving the block normally: MSG_STOP (BABY-ALEX) to the members, then connections close;
    # leaving it by an exception or cancellation: connections close, nothing is sent (a "kill").

What happens, as in Tomcat with StaticMembershipService + TcpPingInterceptor +
TcpFailureDetector + MessageDispatchInterceptor:

* start: the receiver listens; uptime (our alive time) counts from here; every static peer is
  checked with a plain connect; the reachable ones get a MSG_START RPC (ALL_REPLY, options 8,
  rpc timeout); the members from the replies are probed by the failure detector and added.
  `open_node` returns when that is done.
* every heartbeat (5 s, fixed delay): the detector's basic check, its forced check (every
  member probed: TcpPingInterceptor present), then connect-check the static peers, MSG_PING RPC
  to the reachable ones, expire the members not heard from for more than expirationTime.
* START/PING RPCs from peers are answered at once with our member (never null), written with
  the MemberImpl serialVersionUID of the peer's Tomcat line, to the request's ChannelData address
  with options 0.  An RpcMessage for an id nobody serves gets a NoRpcChannelReply.
* graceful stop: the membership RpcChannel goes away, the local member's command becomes
  BABY-ALEX, a bare MSG_STOP (options 8) goes to the members, the queue drains, and the channel
  closes.

Membership events go to the log (one `event=...` line each), to callbacks and to
`subscribe()` streams.  `members()` is what the failure detector lets through, oldest first.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import trio

from ..config import NodeConfig
from ..errors import ProtocolError
from ..membership.detector import FailureDetector, Output
from ..membership.events import (
    CheckReachable,
    Event,
    MemberAdded,
    MemberDisappeared,
    MemberSuspect,
    MemberUpdated,
    MemberVerifiedAlive,
    Probe,
    RpcKind,
    RpcUnanswered,
    VersionLearned,
)
from ..membership.static import StaticMembership, StaticPeer
from ..messages.codec import (
    FailDetectProbe,
    Message,
    TcpPing,
    decode_payload,
    encode_payload,
    package_limits,
)
from ..messages.membership import MemberMessage
from ..messages.rpc import ALL_REPLY, NoRpcChannelReply, RpcMessage
from ..messages.session import SessionMessage
from ..wire.channel_data import ChannelData
from ..wire.member import SHUTDOWN_COMMAND, Member, format_unique_id
from .channel import Channel
from .rpc import RpcCallback, RpcChannel, RpcRouter
from .sender import RemoteProcessError, SendResult
from .transport import describe, log_event, wall_clock_ms

MemberCallback = Callable[[Member], object]
MessageListener = Callable[[Message, ChannelData], Awaitable[None]]
Outgoing = RpcMessage | NoRpcChannelReply | MemberMessage | SessionMessage

#: Events a `subscribe()` stream may hold before new ones are dropped (with a warning).
EVENT_BUFFER = 1024
#: Upper bound on waiting for the asynchronous queue to drain on a graceful stop.
STOP_DRAIN_TIMEOUT = 3.0


class Node:
    """One cluster member.  Create it, then `run()` it in a nursery (or use `open_node`)."""

    def __init__(self, config: NodeConfig, *, channel: Channel | None = None) -> None:
        self.config = config
        m = config.membership
        self.heartbeat_interval = m.ping_interval
        fd = config.failure_detector
        self.detector_enabled = fd.enabled
        ping = config.ping
        #: TcpPingInterceptor drives `checkMembers(true)`: on the heartbeat, or its own thread.
        self.forced_on_heartbeat = fd.enabled and ping.enabled and not ping.use_thread
        self.forced_interval = (
            ping.interval if fd.enabled and ping.enabled and ping.use_thread else None
        )
        #: What a received payload may hold: as much as the largest package we accept.
        self._limits = package_limits(config.receiver.max_package)
        local = config.local_member()
        if channel is None:
            r, s, d = config.receiver, config.sender, config.dispatch
            channel = Channel(
                local,
                bind_host=r.address,
                max_package=r.max_package,
                max_connections=r.max_connections if r.max_connections is not None else 1 << 20,
                idle_timeout=r.idle_timeout,
                timeout=s.timeout,
                max_retry_attempts=s.max_retry_attempts,
                pool_size=s.pool_size,
                max_queue_bytes=d.max_queue_bytes,
                always_send=d.always_send,
                dispatch_workers=d.max_threads,
                on_faulty=self._on_faulty,
            )
        else:
            channel.sender.on_faulty = self._on_faulty
        self.channel = channel
        self.router = RpcRouter(channel)
        self._static, self._detector = self._make_state(channel.local_member, 0.0)
        self.rpc = RpcChannel(channel, m.membership_id, _MembershipCallback(self))
        self.router.add(self.rpc)
        channel.add_listener(self._on_channel_data)
        #: A tuple, replaced on change: delivery iterates it without a copy per message.
        self._message_listeners: tuple[MessageListener, ...] = ()
        self._added_callbacks: list[MemberCallback] = []
        self._disappeared_callbacks: list[MemberCallback] = []
        self._subscribers: list[trio.MemorySendChannel[Event]] = []
        self._nursery: trio.Nursery | None = None
        self._heartbeat_scope: trio.CancelScope | None = None
        self._stop_requested = trio.Event()
        self._finished = trio.Event()
        self._closing = False
        self.running = False
        #: Without a failure detector: the members announced to listeners.
        self._plain_members: set[tuple[bytes, int, bytes]] = set()

    def _make_state(
        self, local: Member, start_time: float
    ) -> tuple[StaticMembership, FailureDetector | None]:
        m = self.config.membership
        peers = [StaticPeer(p.to_member(), p.tomcat_version) for p in m.members]
        static = StaticMembership(
            local,
            peers,
            membership_id=m.membership_id,
            start_time=start_time,
            expiration_time=m.expiration_time,
            connect_timeout=m.connect_timeout,
            rpc_timeout=m.rpc_timeout,
            default_version=self.config.tomcat_version,
        )
        detector = None
        if self.detector_enabled:
            detector = FailureDetector(
                local,
                remove_suspects_timeout=self.config.failure_detector.remove_suspects_timeout,
                forced_check=self.forced_on_heartbeat,
                is_static=static.is_static,
            )
        return static, detector

    # --- queries ---------------------------------------------------------------------------------

    @property
    def static(self) -> StaticMembership:
        return self._static

    @property
    def detector(self) -> FailureDetector | None:
        return self._detector

    @property
    def local_member(self) -> Member:
        """Our member with the current uptime as alive time."""
        return self._static.local_member(trio.current_time())

    @property
    def name(self) -> str:
        return self.channel.local_member.name

    @property
    def uptime_ms(self) -> int:
        return self._static.uptime_ms(trio.current_time())

    def members(self) -> list[Member]:
        """The cluster members (without us), oldest first: `channel.getMembers()`."""
        if self._detector is not None:
            return self._detector.members()
        return self._static.members()

    def member(self, member: Member) -> Member | None:
        """The current entry equal to `member` (host, port, uniqueId), if it is a member."""
        d = self._detector
        return d.get(member) if d is not None else self._static.get(member)

    def version_of(self, member: Member) -> int:
        """The Tomcat line (9 or 10) we write to `member`."""
        return self._static.version_of(member)

    # --- listener API ----------------------------------------------------------------------------

    def on_member_added(self, callback: MemberCallback) -> None:
        """`callback(member)` when a member joins (a returned awaitable is run in the node)."""
        self._added_callbacks.append(callback)

    def on_member_disappeared(self, callback: MemberCallback) -> None:
        """`callback(member)` when a member leaves (a returned awaitable is run in the node)."""
        self._disappeared_callbacks.append(callback)

    def subscribe(self, buffer: int = EVENT_BUFFER) -> trio.MemoryReceiveChannel[Event]:
        """A stream of every membership event (added, disappeared, suspect, verified alive,
        updated, unanswered RPCs).  Close the receive side when done."""
        send, recv = trio.open_memory_channel[Event](buffer)
        self._subscribers.append(send)
        return recv

    def add_message_listener(self, listener: MessageListener) -> None:
        """`await listener(message, channel_data)` for every received message that is not
        membership or RPC traffic (SessionMessage, ByteMessage, OtherJava), in order, before
        the ACK of a synchronous message.  An exception makes the ACK a FAIL_ACK."""
        self._message_listeners = (*self._message_listeners, listener)

    def remove_message_listener(self, listener: MessageListener) -> None:
        if listener in self._message_listeners:
            listeners = list(self._message_listeners)
            listeners.remove(listener)
            self._message_listeners = tuple(listeners)

    def rpc_channel(self, rpc_id: bytes, callback: RpcCallback) -> RpcChannel:
        """A further RpcChannel on this node (e.g. a replicated map's)."""
        rpc = RpcChannel(self.channel, rpc_id, callback)
        self.router.add(rpc)
        return rpc

    # --- sending ---------------------------------------------------------------------------------

    async def send(
        self, members: Iterable[Member], message: Outgoing, options: int | None = None
    ) -> SendResult:
        """Java-serialize `message` and send it (options default: channelSendOptions)."""
        opts = self.config.manager.channel_send_options if options is None else options
        return await self.channel.send(members, encode_payload(message), opts, byte_message=False)

    async def send_bytes(self, members: Iterable[Member], data: bytes, options: int) -> SendResult:
        """A raw ByteMessage (BYTE_MESSAGE set)."""
        return await self.channel.send(members, data, options, byte_message=True)

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, run the start sequence, report started, then heartbeat until stopped."""
        if self.running:
            raise RuntimeError("the node is already running")
        self.running = True
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                start = trio.current_time()
                self.channel.set_start_time(wall_clock_ms())
                await nursery.start(self.channel.run)
                if self.channel.local_member.key != self._static.local.key:
                    # port 0: the receiver picked the port; the tables are still empty
                    self._static, self._detector = self._make_state(
                        self.channel.local_member, start
                    )
                else:
                    self._static.start_time = start
                await self._start_membership()
                self._log(
                    "node_started",
                    unique_id=format_unique_id(self._static.local.unique_id),
                    membership=self.config.membership.membership_name,
                    tomcat_version=self.config.tomcat_version,
                    peers=len(self._static.peers),
                    members=len(self.members()),
                )
                nursery.start_soon(self._heartbeat_loop)
                if self.forced_interval is not None:
                    nursery.start_soon(self._ping_thread, self.forced_interval)
                task_status.started(self)
                await self._stop_requested.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            self.running = False
            with trio.CancelScope(shield=True):
                await self.channel.aclose()
            self._finished.set()
            for s in self._subscribers:
                s.close()

    async def stop(self) -> None:
        """Graceful stop: MSG_STOP to the members, drain the queue, close the connections."""
        if self._closing:
            await self._finished.wait()
            return
        self._closing = True
        if self._heartbeat_scope is not None:
            self._heartbeat_scope.cancel()
        self.router.remove(self.rpc)  # RpcChannel.breakdown: later RPCs get NoRpcChannelReply
        now = trio.current_time()
        action = self._static.stop(now)
        self._log(
            "node_stopping",
            members=len(self.members()),
            notified=len(action.members) if action else 0,
        )
        if action is not None and self.running:
            local = self.channel.local_member
            self.channel.update_local_member(replace(local, command=SHUTDOWN_COMMAND))
            groups: dict[bytes, list[Member]] = {}
            for dest in action.members:
                data = encode_payload(self._static.stop_message_for(dest, now))
                groups.setdefault(data, []).append(dest)
            with trio.move_on_after(STOP_DRAIN_TIMEOUT):
                for data, dests in groups.items():
                    try:
                        await self.channel.send(dests, data, action.options, byte_message=False)
                    except (trio.ClosedResourceError, OSError) as e:
                        self._log("stop_send_failed", level=logging.WARNING, error=describe(e))
                await self.channel.drain()
        self._stop_requested.set()
        if self.running:
            await self._finished.wait()
        self._log("node_stopped")

    def kill(self) -> None:
        """Stop at once without telling anybody (as a crash would)."""
        self._closing = True
        self._stop_requested.set()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # --- membership sequences --------------------------------------------------------------------

    async def _start_membership(self) -> None:
        await self._static_round(self._static.start(trio.current_time()), wait_probes=True)

    async def _heartbeat_loop(self) -> None:
        with trio.CancelScope() as scope:
            self._heartbeat_scope = scope
            while True:
                await trio.sleep(self.heartbeat_interval)
                try:
                    await self._heartbeat()
                except (
                    OSError,
                    ProtocolError,
                    trio.BrokenResourceError,
                    trio.ClosedResourceError,
                ) as e:
                    self._log("heartbeat_failed", level=logging.WARNING, error=describe(e))

    async def _heartbeat(self) -> None:
        """GroupChannel.heartbeat: interceptors (detector checks), then the static ping."""
        if self._detector is not None:
            now = trio.current_time()
            outputs = self._detector.heartbeat(now, self._static.members())
            await self._run_probes(self._detector_outputs(outputs))
        if not self._closing:
            await self._static_round(self._static.heartbeat(trio.current_time()))

    async def _ping_thread(self, interval: float) -> None:
        """TcpPingInterceptor with useThread: the forced check on its own schedule."""
        while True:
            await trio.sleep(interval)
            if self._detector is not None and not self._closing:
                outputs = self._detector.check_all(trio.current_time(), self._static.members())
                await self._run_probes(self._detector_outputs(outputs))

    async def _static_round(self, check: CheckReachable, *, wait_probes: bool = False) -> None:
        static = self._static
        reachable = await self._reachable(check.members, check.timeout)
        rpc = static.reachable_done(check, reachable, trio.current_time())
        replies: Sequence[tuple[Member, object]] = ()
        failed: list[Member] = []
        if rpc is not None:
            result = await self.rpc.send_detailed(
                rpc.members,
                lambda dest: static.request_for(rpc, dest, trio.current_time()),
                ALL_REPLY,
                rpc.options,
                rpc.timeout,
            )
            replies = result.responses
            failed = [m for m, e in result.faulty.items() if not isinstance(e, RemoteProcessError)]
        if static is not self._static or self._closing:
            return
        events = static.rpc_done(check.kind, rpc, replies, trio.current_time(), failed=failed)
        probes = self._membership_events(events)
        if wait_probes:
            await self._run_probes(probes)
        else:
            self._spawn_probes(probes)

    async def _reachable(self, members: Sequence[Member], timeout: float) -> list[Member]:
        ok: list[Member] = []

        async def check(m: Member) -> None:
            if await self.channel.reachable(m, timeout):
                ok.append(m)

        async with trio.open_nursery() as nursery:
            for m in members:
                nursery.start_soon(check, m)
        return ok

    # --- membership events -----------------------------------------------------------------------

    def _membership_events(self, events: Iterable[Event]) -> list[Probe]:
        """Route StaticMembership events: through the detector when there is one."""
        probes: list[Probe] = []
        now = trio.current_time()
        d = self._detector
        for ev in events:
            if isinstance(ev, MemberAdded):
                if d is not None:
                    probes.extend(self._detector_outputs(d.member_added(ev.member, now)))
                else:
                    self._plain_members.add(ev.member.key)
                    self._publish(ev)
            elif isinstance(ev, MemberDisappeared):
                if d is not None:
                    probes.extend(
                        self._detector_outputs(d.member_disappeared(ev.member, now, ev.reason))
                    )
                elif ev.member.key in self._plain_members:
                    self._plain_members.discard(ev.member.key)
                    self._publish(ev)
            elif isinstance(ev, MemberUpdated):
                self._log(
                    "member_updated",
                    level=logging.INFO if ev.restarted else logging.DEBUG,
                    member_fields=_member_fields(ev.member),
                    previous_alive=ev.previous_alive,
                    restarted=str(ev.restarted).lower(),
                )
                self._notify(ev)
            elif isinstance(ev, VersionLearned):
                self._log(
                    "member_version",
                    member=ev.member.name,
                    tomcat_version=ev.tomcat_version,
                    previous=ev.previous,
                )
                self._notify(ev)
            elif isinstance(ev, RpcUnanswered):
                # Tomcat warns only about a START nobody answered ("Received 0 replies")
                if ev.kind is RpcKind.START:
                    level = logging.WARNING if ev.replies == 0 else logging.INFO
                else:
                    level = logging.DEBUG
                self._log(
                    "membership_rpc_unanswered",
                    level=level,
                    kind=ev.kind.value,
                    members=",".join(m.name for m in ev.members),
                    replies=ev.replies,
                )
                self._notify(ev)
        return probes

    def _detector_outputs(self, outputs: Iterable[Output]) -> list[Probe]:
        probes: list[Probe] = []
        for o in outputs:
            if isinstance(o, Probe):
                probes.append(o)
            else:
                self._publish(o)
        return probes

    async def _run_probes(self, probes: Sequence[Probe]) -> None:
        if not probes:
            return
        async with trio.open_nursery() as nursery:
            for p in probes:
                nursery.start_soon(self._probe, p)

    def _spawn_probes(self, probes: Sequence[Probe]) -> None:
        if self._nursery is None:
            return
        for p in probes:
            self._nursery.start_soon(self._probe, p)

    async def _probe(self, probe: Probe) -> None:
        fd = self.config.failure_detector
        try:
            alive = await self.channel.probe(
                probe.member,
                connect_timeout=fd.connect_timeout,
                send_test=fd.perform_send_test,
                read_test=fd.perform_read_test,
                read_timeout=fd.read_test_timeout,
            )
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            alive = False
        d = self._detector
        if d is None:
            return
        for ev in d.probe_result(probe.member, alive, trio.current_time()):
            self._publish(ev)

    def _on_faulty(self, member: Member, exc: Exception) -> None:
        """The sender gave up on `member` (TcpFailureDetector.sendMessage): not for FAIL_ACK."""
        if isinstance(exc, RemoteProcessError) or self._detector is None or self._closing:
            return
        outputs = self._detector.send_failed(member, trio.current_time())
        self._spawn_probes(self._detector_outputs(outputs))

    def _publish(self, ev: Event) -> None:
        """One log line, then callbacks and streams."""
        if isinstance(ev, MemberAdded):
            self._log(
                "member_added",
                member_fields=_member_fields(ev.member),
                version=self.version_of(ev.member),
            )
            callbacks = self._added_callbacks
        elif isinstance(ev, MemberDisappeared):
            self._log(
                "member_disappeared",
                member_fields=_member_fields(ev.member),
                reason=ev.reason.value,
            )
            callbacks = self._disappeared_callbacks
        elif isinstance(ev, MemberSuspect):
            self._log(
                "member_suspect", member_fields=_member_fields(ev.member), reason=ev.reason.value
            )
            callbacks = []
        elif isinstance(ev, MemberVerifiedAlive):
            self._log(
                "member_verified_alive",
                member_fields=_member_fields(ev.member),
                reason=ev.reason.value,
            )
            callbacks = []
        else:
            callbacks = []
        for cb in tuple(callbacks):
            assert isinstance(ev, MemberAdded | MemberDisappeared)
            try:
                result = cb(ev.member)
            except Exception as e:
                self._log("listener_failed", level=logging.ERROR, error=describe(e))
                continue
            if inspect.isawaitable(result):
                self._spawn_awaitable(result)
        self._notify(ev)

    def _notify(self, ev: Event) -> None:
        for s in tuple(self._subscribers):
            try:
                s.send_nowait(ev)
            except trio.WouldBlock:
                self._log("event_dropped", level=logging.WARNING, event_type=type(ev).__name__)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._subscribers.remove(s)

    def _spawn_awaitable(self, aw: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await aw
            except Exception as e:
                self._log("listener_failed", level=logging.ERROR, error=describe(e))

        if self._nursery is not None:
            self._nursery.start_soon(run)
        elif inspect.iscoroutine(aw):
            aw.close()

    def _log(
        self,
        event: str,
        *,
        level: int = logging.INFO,
        member_fields: dict[str, object] | None = None,
        **fields: object,
    ) -> None:
        log_event(event, level=level, local=self.name, **(member_fields or {}), **fields)

    # --- receiving -------------------------------------------------------------------------------

    async def _on_channel_data(self, cd: ChannelData) -> None:
        try:
            msg = decode_payload(cd.message, cd.options, limits=self._limits)
        except ProtocolError as e:
            # GroupChannel: "Unable to deserialize message", dropped (a SYNC_ACK is still ACKed).
            self._log(
                "undecodable_message",
                level=logging.WARNING,
                member=cd.member.name,
                options=cd.options,
                error=describe(e),
            )
            return
        if isinstance(msg, TcpPing | FailDetectProbe):
            return
        if isinstance(msg, RpcMessage | NoRpcChannelReply):
            await self.router.deliver(msg, cd)
            return
        if isinstance(msg, MemberMessage) and self._static.accepts(msg):
            if not self._closing:
                events = self._static.handle_message(msg, trio.current_time())
                self._spawn_probes(self._membership_events(events))
            return
        for listener in self._message_listeners:
            await listener(msg, cd)


class _MembershipCallback:
    """StaticMembershipProvider as the RpcCallback of the membership RpcChannel."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def reply_request(self, message: object, sender: Member) -> object:
        node = self.node
        reply, events = node.static.reply_request(message, trio.current_time(), sender)
        if reply is None and isinstance(message, MemberMessage):
            node._log(
                "membership_request_ignored",
                member=sender.name,
                type=message.type_name,
            )
        node._spawn_probes(node._membership_events(events))
        return reply

    def left_over(self, message: object, sender: Member) -> None:
        node = self.node
        if node._closing:
            return
        events = node.static.left_over(message, trio.current_time())
        node._spawn_probes(node._membership_events(events))


def _member_fields(m: Member) -> dict[str, object]:
    fields: dict[str, object] = {
        "member": m.name,
        "unique_id": format_unique_id(m.unique_id),
        "alive": m.alive,
    }
    if m.domain:
        fields["domain"] = m.domain.decode("latin-1")
    if m.command:
        fields["command"] = m.command.decode("latin-1")
    return fields


@asynccontextmanager
async def open_node(
    config: NodeConfig, *, setup: Callable[[Node], None] | None = None, **kwargs: Any
) -> AsyncIterator[Node]:
    """Run a node for the duration of the block: started (START exchange done) on entry,
    stopped gracefully on a normal exit, killed (nothing sent) on an exception/cancellation.

    `setup(node)` runs before the node starts: register listeners there to miss nothing."""
    node = Node(config, **kwargs)
    if setup is not None:
        setup(node)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        try:
            yield node
        except BaseException:
            node.kill()
            raise
        await node.stop()


__all__ = ["EVENT_BUFFER", "MemberCallback", "MessageListener", "Node", "open_node"]
