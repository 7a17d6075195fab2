"""`EventLog`: the recent cluster events of this node, for the monitor page.

A `logging.Handler` on the ``"tribes"`` logger keeps the structured events
(``record.tribes_event`` / ``record.tribes_fields``, see `tribes.net.transport.log_event`) of
membership and state transfer in a ring buffer.  Events naming another local node (several
nodes in one process, as in the tests) are left out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

DEFAULT_CAPACITY: Final = 200
#: Event name prefixes kept (membership, node life, session state transfer and catch-up).
KEPT_PREFIXES: Final = (
    "member",
    "node_",
    "cluster",
    "state_transfer",
    "transfer",
    "session_state",
    "session_catchup",
    "sessions_",
    "context_",
    "manager_",
)


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    time: float
    level: str
    event: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def member(self) -> str | None:
        m = self.fields.get("member")
        return str(m) if m is not None else None

    def summary(self) -> str:
        parts = [f"{k}={v}" for k, v in self.fields.items() if k != "local" and v is not None]
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
            "level": self.level,
            "event": self.event,
            "fields": {k: _plain(v) for k, v in self.fields.items()},
        }


def _plain(v: object) -> object:
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)


class EventLog(logging.Handler):
    """The ring buffer; `install()` it on the ``"tribes"`` logger, `uninstall()` when done."""

    def __init__(
        self,
        *,
        local: Iterable[str] = (),
        capacity: int = DEFAULT_CAPACITY,
        prefixes: tuple[str, ...] = KEPT_PREFIXES,
        logger_name: str = "tribes",
    ) -> None:
        super().__init__(level=logging.INFO)
        self._events: deque[ClusterEvent] = deque(maxlen=capacity)
        self._lock_ = threading.Lock()
        self.local = set(local)
        self.prefixes = prefixes
        self.logger_name = logger_name

    def install(self) -> EventLog:
        logger = logging.getLogger(self.logger_name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def uninstall(self) -> None:
        logging.getLogger(self.logger_name).removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "tribes_event", None)
        if not isinstance(event, str):
            return
        if not event.startswith(self.prefixes) and record.levelno < logging.WARNING:
            return
        raw = getattr(record, "tribes_fields", None)
        fields = dict(raw) if isinstance(raw, dict) else {}
        origin = fields.get("local")
        if self.local and origin is not None and str(origin) not in self.local:
            return
        self.add(ClusterEvent(record.created, record.levelname, event, fields))

    def add(self, event: ClusterEvent) -> None:
        with self._lock_:
            self._events.append(event)

    def recent(self, limit: int | None = None) -> list[ClusterEvent]:
        """Newest first."""
        with self._lock_:
            items = list(self._events)
        items.reverse()
        return items if limit is None else items[:limit]
