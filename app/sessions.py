"""`ReplicatedSessionMiddleware`: HTTP sessions on top of the replicated DeltaManager sessions.

Per request:

* the ``JSESSIONID`` cookie(s) name the session; nothing is looked up until the endpoint
  touches ``request.session`` (a `SessionHandle`), and nothing is created until something is
  stored in it (lazy creation: pages that only read never create sessions);
* new ids are Tomcat's (32 upper-case hex digits, from the session manager); an id the client
  made up is never adopted;
* the cookie is ``JSESSIONID=<id>; Path=<context>; HttpOnly`` (plus ``Secure`` when the
  request came over HTTPS, ``X-Forwarded-Proto: https`` from the balancer included), sent when
  the session was created or its id changed in this request; an invalidated session whose
  client still holds its cookie gets an expired cookie;
* the response is released (``http.response.start`` is sent on) only after
  ``await cluster.complete(session)`` returned, i.e. after the other nodes acknowledged the
  request's changes (channelSendOptions 6): with a non-sticky balancer the next request may land
  on any node, which must already see them;
* ``await handle.change_id()`` rotates the id (session-fixation protection at login) and
  ``await handle.invalidate()`` ends the session, both replicated before they return.

A session attribute stored here is a Java value a Tomcat node of the same context reads as
usual (``String``, ``Integer``, ``Long``, ``Boolean``, ``byte[]``, ``ArrayList``, ...); see
`tribes.session.values` for the mapping, or pass ``java_type=``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, MutableMapping
from http.cookies import SimpleCookie
from typing import Any, Final

import trio
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tribes.session import InvalidSessionError, Session

from .cluster import ClusterLike

log = logging.getLogger("app.sessions")

COOKIE_NAME: Final = "JSESSIONID"
#: The scope key of the `SessionHandle` (``scope["session"]`` holds it too).
SCOPE_KEY: Final = "tribes.session"
#: Upper bound on waiting for replication when finishing a request.
COMPLETE_TIMEOUT: Final = 30.0
#: Cookie values `SimpleCookie` writes unquoted (its ``_LegalChars``): session ids always are.
_PLAIN_COOKIE_VALUE: Final = re.compile(r"[\w!#$%&'*+\-.^`|~:]+", re.ASCII)
#: What `SimpleCookie` appends to an expired cookie (its attribute order: expires first).
_EXPIRED: Final = "; expires=Thu, 01 Jan 1970 00:00:00 GMT"


def _session_ids(scope: Scope, cookie_name: str) -> list[str]:
    """Every value of the session cookie, in header order (a browser may send several)."""
    ids: list[str] = []
    for key, value in scope.get("headers", ()):
        if key != b"cookie":
            continue
        text = value.decode("latin-1")
        if cookie_name not in text:
            continue
        for part in text.split(";"):
            name, sep, val = part.strip().partition("=")
            if sep and name == cookie_name:
                val = val.strip().strip('"')
                if val and val not in ids:
                    ids.append(val)
    return ids


def _is_secure(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    for key, value in scope.get("headers", ()):
        if key == b"x-forwarded-proto":
            proto: bytes = value
            return proto.decode("latin-1").split(",")[0].strip().lower() == "https"
    return False


class SessionHandle(MutableMapping[str, object]):
    """The session of one request: ``request.session``.

    Reading (``get``, ``[]``, ``in``, ``len``, iteration, `java_type`) never creates a session;
    storing (``[]=``, `set`) creates one when there is none.  Values are the Java values the
    session holds (``JInteger``, ``JLong``, ``bytes``, lists, dicts, ... -- plain Python types
    or subclasses of them).
    """

    def __init__(self, cluster: ClusterLike, context_path: str, requested: list[str]) -> None:
        self._cluster = cluster
        self._context = context_path
        self._requested = requested
        self._session: Session | None = None
        self._looked_up = False
        #: Sessions this request used that still need `complete` (a rotated-away invalid one
        #: does not).
        self._used: list[Session] = []
        self.created = False
        self.id_changed = False
        self.invalidated = False

    # --- the session ----------------------------------------------------------------------------

    @property
    def requested_id(self) -> str | None:
        """The first session id the client sent."""
        return self._requested[0] if self._requested else None

    @property
    def session(self) -> Session | None:
        """The request's session, or None (looked up once; never created here)."""
        if not self._looked_up:
            self._looked_up = True
            for sid in self._requested:
                found = self._cluster.find_session(self._context, sid)
                if found is not None:
                    self._session = found
                    self._used.append(found)
                    break
        if self._session is not None and not self._session.is_valid:
            self._session = None
        return self._session

    @property
    def exists(self) -> bool:
        return self.session is not None

    @property
    def id(self) -> str | None:
        s = self.session
        return None if s is None else s.id

    def require(self) -> Session:
        """The session, created when there is none."""
        s = self.session
        if s is None:
            s = self._cluster.create_session(self._context)
            self._session = s
            self._used.append(s)
            self.created = True
        return s

    # --- attributes -----------------------------------------------------------------------------

    def __getitem__(self, name: str) -> object:
        s = self.session
        if s is None:
            raise KeyError(name)
        return s[name]

    def __setitem__(self, name: str, value: object) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        s = self.session
        if s is None or name not in s:
            raise KeyError(name)
        s.remove(name)

    def __iter__(self) -> Iterator[str]:
        s = self.session
        return iter(() if s is None else s.names())

    def __len__(self) -> int:
        s = self.session
        return 0 if s is None else len(s.attributes)

    def __contains__(self, name: object) -> bool:
        s = self.session
        return s is not None and name in s

    def get(self, name: str, default: Any = None) -> Any:
        s = self.session
        return default if s is None else s.get(name, default)

    def get_str(self, name: str) -> str | None:
        """A String attribute, or None when missing or of another type."""
        v = self.get(name)
        return str(v) if isinstance(v, str) else None

    def set(self, name: str, value: object, *, java_type: str | None = None) -> None:
        """Store `value` (None removes), as `java_type` when given ("Long", "byte[]", ...)."""
        if value is None:
            self.remove(name)
            return
        self.require().set(name, value, java_type=java_type)

    def remove(self, name: str) -> None:
        s = self.session
        if s is not None:
            s.remove(name)

    def java_type(self, name: str) -> str:
        s = self.session
        if s is None:
            raise KeyError(name)
        return s.java_type(name)

    def mark_accessed(self) -> None:
        """Starlette calls this on ``request.session``; access is tracked by the manager."""

    # --- replicated operations ------------------------------------------------------------------

    async def invalidate(self) -> None:
        """End the session everywhere (no-op without one); storing afterwards starts a new one."""
        s = self.session
        if s is None:
            return
        with contextlib.suppress(InvalidSessionError):
            await self._cluster.invalidate(s)
        if s in self._used:
            self._used.remove(s)
        self._session = None
        self.invalidated = True
        self.created = False
        self.id_changed = False

    async def change_id(self) -> str:
        """A new id for the session (created when there is none), replicated; the new id."""
        s = self.require()
        if not self.created:
            await self._cluster.change_session_id(s)
            self.id_changed = True
        return s.id

    async def _finish(self) -> None:
        """Complete every session used so far, once (a second call, e.g. after a timeout, finds
        nothing left to do)."""
        used, self._used = self._used, []
        for s in used:
            if not s.is_valid:
                continue
            try:
                await self._cluster.complete(s)
            except Exception:
                log.exception("replicating session %s failed", s.id)

    def cookie_to_set(self) -> str | None:
        """The new cookie value when the client must learn an id, "" to clear it, else None."""
        s = self._session
        if s is not None and s.is_valid:
            if self.created or self.id_changed or s.id not in self._requested:
                return s.id
            return None
        if self.invalidated and self._requested:
            return ""
        return None


def get_session(conn: HTTPConnection) -> SessionHandle:
    """The request's `SessionHandle` (typed ``request.session``)."""
    handle = conn.scope.get(SCOPE_KEY)
    if not isinstance(handle, SessionHandle):
        raise RuntimeError("ReplicatedSessionMiddleware is not installed")
    return handle


class ReplicatedSessionMiddleware:
    """ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cluster: ClusterLike,
        context_path: str,
        cookie_name: str = COOKIE_NAME,
        cookie_path: str | None = None,
    ) -> None:
        self.app = app
        self.cluster = cluster
        self.context_path = context_path
        self.cookie_name = cookie_name
        self.cookie_path = cookie_path or context_path or "/"
        self._prefix = context_path.rstrip("/") + "/"
        # the attributes after the value, as `SimpleCookie` orders them (expires, HttpOnly,
        # Max-Age, Path, Secure): built once, not per response
        self._attrs = {
            (expired, secure): (
                (_EXPIRED if expired else "")
                + "; HttpOnly"
                + ("; Max-Age=0" if expired else "")
                + self._path_attr()
                + ("; Secure" if secure else "")
            )
            for expired in (False, True)
            for secure in (False, True)
        }

    def _path_attr(self) -> str:
        """``; Path=...`` exactly as `SimpleCookie` writes it (it quotes odd paths)."""
        c: SimpleCookie = SimpleCookie()
        c["x"] = "x"
        c["x"]["path"] = self.cookie_path
        return c["x"].OutputString()[len("x=x") :]

    def _in_context(self, path: str) -> bool:
        """Whether `path` is inside the context (the middleware may wrap a whole app)."""
        return self._prefix == "/" or path.startswith(self._prefix) or path == self.context_path

    def _cookie_header(self, value: str, secure: bool) -> bytes:
        """``JSESSIONID=<id>; HttpOnly; Path=/jw[; Secure]`` (or the expired cookie for ""),
        byte for byte what `SimpleCookie` makes, without building one per response."""
        if value == "":
            text = f'{self.cookie_name}=""'
        elif _PLAIN_COOKIE_VALUE.fullmatch(value):
            text = f"{self.cookie_name}={value}"
        else:  # pragma: no cover - ids are hex (with a jvmRoute suffix at most)
            c: SimpleCookie = SimpleCookie()
            c[self.cookie_name] = value
            text = c[self.cookie_name].OutputString()
        return (text + self._attrs[value == "", secure]).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._in_context(scope["path"]):
            await self.app(scope, receive, send)
            return
        requested = _session_ids(scope, self.cookie_name)
        handle = SessionHandle(self.cluster, self.context_path, requested)
        scope[SCOPE_KEY] = handle
        scope["session"] = handle

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._finish(handle)
                value = handle.cookie_to_set()
                if value is not None:
                    headers = list(message.get("headers", ()))
                    headers.append((b"set-cookie", self._cookie_header(value, _is_secure(scope))))
                    if not any(k.lower() == b"cache-control" for k, _ in headers):
                        headers.append((b"cache-control", b"no-store"))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            await self._finish(handle)

    @staticmethod
    async def _finish(handle: SessionHandle) -> None:
        """Complete the request's sessions (once: `_finish` empties the list).  Replication must
        happen even when the client went away meanwhile: one shielded scope with its own
        deadline (a shield does not stop the scope's own deadline)."""
        if handle._used:
            with trio.CancelScope(shield=True, relative_deadline=COMPLETE_TIMEOUT):
                await handle._finish()
