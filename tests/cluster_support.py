"""Helpers for tests that run `open_cluster` nodes: a cluster in its own task (so that nodes can
start and stop in any order), log-event capture, polling."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from tribes.config import NodeConfig
from tribes.net.cluster import Cluster, open_cluster


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
