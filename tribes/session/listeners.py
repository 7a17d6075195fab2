"""Session and attribute listeners (HttpSessionListener, HttpSessionAttributeListener,
HttpSessionIdListener), with the same firing rules as Tomcat.

Subclass `SessionListener` and override what you need; register it with
`SessionManager.add_listener`. A listener that raises is logged and ignored, as in Tomcat.

When they fire:

* local create: `session_created`; local expiry / invalidate: `session_destroyed`, then
  `attribute_removed` for each attribute; local set/remove: `attribute_added` /
  `attribute_replaced` (also for an unchanged value, `notifyAttributeListenerOnUnchangedValue`)
  / `attribute_removed`; local id change: `session_id_changed`.
* replicated CREATED, full state (ALL_SESSION_DATA) and CHANGE_SESSION_ID: only with
  `notify_session_listeners_on_replication` (default true); replicated EXPIRED: destroyed +
  removed only with that flag.
* attributes of a replicated DELTA: only with `notify_listeners_on_replication` (default true).
* a backup expiring by itself (idle 2 x maxInactiveInterval): always (Tomcat calls
  `expire(true, false)`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .session import Session


class SessionListener:
    """No-op base class."""

    def session_created(self, session: Session) -> None:
        pass

    def session_destroyed(self, session: Session) -> None:
        pass

    def session_id_changed(self, session: Session, old_id: str) -> None:
        pass

    def attribute_added(self, session: Session, name: str, value: object) -> None:
        pass

    def attribute_replaced(
        self, session: Session, name: str, old_value: object, new_value: object
    ) -> None:
        pass

    def attribute_removed(self, session: Session, name: str, value: object) -> None:
        pass
