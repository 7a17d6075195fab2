"""Helpers for tests that run `open_cluster` nodes: a cluster in its own task (so that nodes can
start and stop in any order), log-event capture, polling."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

import tribes.net.sender
from tribes.config import NodeConfig
from tribes.net.cluster import Cluster, open_cluster
from tribes.net.transport import Connection


@dataclass
class Running:
    """A cluster node running in its own task: `stop()` leaves its block (graceful stop)."""

    cluster: Cluster
    leave: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)
    #: trio.current_time() spent in open_cluster before it yielded (start + state transfer)
    start_seconds: float = 0.0

    async def stop(self) -> None:
        self.leave.set()
        await self.done.wait()


async def _run(
    config: NodeConfig, kwargs: dict[str, Any], task_status: trio.TaskStatus[Running]
) -> None:
    t0 = trio.current_time()
    running: Running | None = None
    try:
        async with open_cluster(config, **kwargs) as cluster:
            running = Running(cluster, start_seconds=trio.current_time() - t0)
            task_status.started(running)
            await running.leave.wait()
    finally:
        if running is not None:
            running.done.set()


async def start_cluster(nursery: trio.Nursery, config: NodeConfig, **kwargs: Any) -> Running:
    """`open_cluster(config, **kwargs)` in a task of `nursery`; returns once it yielded."""
    running: Running = await nursery.start(_run, config, kwargs)
    return running


class Partition:
    """A network partition between the pytribes nodes of this process, as a cut link looks to
    them: every connect to a cut-off address hangs (a SYN nobody answers: the caller's own
    timeout fires), and the pooled connections between the nodes are closed (what was
    written on them before is delivered, as it would have been). Nothing else changes: the
    nodes keep running, their failure detectors and static membership notice by themselves.

    Every node is reached through `tribes.net.sender.open_connection` (sends, probes,
    reachability checks), which this replaces while it is cut."""

    def __init__(self, clusters: Iterable[Cluster]) -> None:
        self.clusters = list(clusters)
        self.blocked = {(c.config.receiver.address, c.config.receiver.port) for c in self.clusters}
        self._original = tribes.net.sender.open_connection
        self.cut_connects = 0

    @property
    def active(self) -> bool:
        return tribes.net.sender.open_connection is not self._original

    async def _open(self, host: str, port: int) -> Connection:
        if (host, port) in self.blocked:
            self.cut_connects += 1
            await trio.sleep_forever()
        return await self._original(host, port)

    def cut(self) -> None:
        tribes.net.sender.open_connection = self._open
        for c in self.clusters:
            sender = c.node.channel.sender
            for other in self.clusters:
                if other is not c:
                    sender.close(other.node.local_member)

    def heal(self) -> None:
        tribes.net.sender.open_connection = self._original


@contextmanager
def partitioned(*clusters: Cluster) -> Iterator[Partition]:
    """Cut the nodes off from each other for the block (see `Partition`)."""
    partition = Partition(clusters)
    partition.cut()
    try:
        yield partition
    finally:
        partition.heal()


class EventLog(logging.Handler):
    """Collects the `log_event` records of the "tribes" logger: [(event, fields)]."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "tribes_event", None)
        if event is not None:
            self.events.append((event, dict(getattr(record, "tribes_fields", {}))))

    def named(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            f for e, f in self.events if e == event and all(f.get(k) == v for k, v in match.items())
        ]


@contextmanager
def capture_events() -> Iterator[EventLog]:
    logger = logging.getLogger("tribes")
    handler = EventLog()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


async def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.01
) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(step)


def poll(predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.02) -> None:
    """Blocking poll (for use in worker threads)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
