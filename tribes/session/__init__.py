"""Tomcat DeltaManager session replication for Python web frameworks (TRIBES.md §8).

* `SessionManager`: one context's DeltaManager, sans-io (time is a parameter, messages go to
  an outbox as `Send` actions); `Session`: one replicated session.
* `SessionRegistry`: the managers of a node, routed by context name.
* `SessionReplicator`: the trio adapter using only ``await send(message, dest, options)`` and
  ``members()``.
* catch-up after a partition (ours): `SessionManager.catch_up` / `merge_sessions`, `CatchUp`,
  `MergeResult`.
"""

from .config import (
    ALL,
    OPTIONS_ASYNCHRONOUS,
    OPTIONS_SYNC_ACK,
    CatchUpState,
    ManagerConfig,
    Send,
    TransferState,
    manager_name,
    wall_clock_ms,
)
from .listeners import SessionListener
from .manager import CatchUp, MergeResult, SessionManager, TooManyActiveSessions
from .registry import SessionRegistry
from .replicator import Delivery, SessionReplicator
from .session import EXCLUDED_ATTRIBUTES, InvalidSessionError, Session
from .values import JAVA_TYPES, to_java

__all__ = [
    "ALL",
    "EXCLUDED_ATTRIBUTES",
    "JAVA_TYPES",
    "OPTIONS_ASYNCHRONOUS",
    "OPTIONS_SYNC_ACK",
    "CatchUp",
    "CatchUpState",
    "Delivery",
    "InvalidSessionError",
    "ManagerConfig",
    "MergeResult",
    "Send",
    "Session",
    "SessionListener",
    "SessionManager",
    "SessionRegistry",
    "SessionReplicator",
    "TooManyActiveSessions",
    "TransferState",
    "manager_name",
    "to_java",
    "wall_clock_ms",
]
