"""Login state in the replicated session, readable by a Tomcat webapp of the same context.

Session attributes (names are a contract; Java types in brackets):

=================  ==========================  ==============================================
``username``       ``java.lang.String``        the logged-in user; absent = not logged in
``roles``          ``java.util.ArrayList``     of ``String``, the user's roles (``admin``)
``loginTime``      ``java.lang.Long``          epoch milliseconds of the login
``loginNode``      ``java.lang.String``        readable name of the node that did the login
``csrfToken``      ``java.lang.String``        the token HTML forms must echo as ``_csrf``
``lastNode``       ``java.lang.String``        the node that served the previous monitor page
``monitorHits``    ``java.lang.Integer``       how often the monitor page was shown
=================  ==========================  ==============================================

The login also sets the session's principal (a GenericPrincipal named after the user, with
its roles; it replicates as Tomcat's ``SerializablePrincipal``) and auth type ``FORM``.  A
Tomcat webapp sees the user as ``session.getAttribute("username")``; a session whose
``username`` was set by a Tomcat webapp counts as logged in here too.
"""

from __future__ import annotations

import secrets
import time
from typing import Final
from urllib.parse import urlsplit

from tribes.messages.session import Principal

from .sessions import SessionHandle

ATTR_USERNAME: Final = "username"
ATTR_ROLES: Final = "roles"
ATTR_LOGIN_TIME: Final = "loginTime"
ATTR_LOGIN_NODE: Final = "loginNode"
ATTR_CSRF: Final = "csrfToken"
ATTR_LAST_NODE: Final = "lastNode"
ATTR_MONITOR_HITS: Final = "monitorHits"

AUTH_TYPE: Final = "FORM"
#: The form field carrying the CSRF token.
CSRF_FIELD: Final = "_csrf"


def current_user(session: SessionHandle) -> str | None:
    """The logged-in user of this request's session, or None."""
    name = session.get_str(ATTR_USERNAME)
    if name:
        return name
    s = session.session
    if s is not None and s.principal is not None and s.principal.name:
        return s.principal.name
    return None


async def log_in(
    session: SessionHandle, username: str, roles: tuple[str, ...], node_name: str
) -> str:
    """Rotate the session id (or start a session), store the login; the new session id."""
    new_id = await session.change_id()
    s = session.require()
    session.set(ATTR_USERNAME, username, java_type="String")
    session.set(ATTR_ROLES, list(roles), java_type="ArrayList")
    session.set(ATTR_LOGIN_TIME, int(time.time() * 1000), java_type="Long")
    session.set(ATTR_LOGIN_NODE, node_name, java_type="String")
    session.set(ATTR_CSRF, secrets.token_urlsafe(24), java_type="String")
    s.set_principal(Principal(username, tuple(roles)))
    s.set_auth_type(AUTH_TYPE)
    return new_id


def csrf_token(session: SessionHandle) -> str:
    """The session's CSRF token (created when missing, e.g. after a login done by Tomcat)."""
    token = session.get_str(ATTR_CSRF)
    if not token:
        token = secrets.token_urlsafe(24)
        session.set(ATTR_CSRF, token, java_type="String")
    return token


def csrf_ok(session: SessionHandle, submitted: object) -> bool:
    token = session.get_str(ATTR_CSRF)
    if not token or not isinstance(submitted, str):
        return False
    return secrets.compare_digest(token.encode(), submitted.encode())


def safe_next(target: str | None, context_path: str, default: str) -> str:
    """`target` when it is a path inside this application, else `default` (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 0x20 for c in target):
        return default
    prefix = context_path.rstrip("/")
    if parts.path != prefix and not parts.path.startswith(prefix + "/"):
        return default
    if parts.path.rstrip("/") in (f"{prefix}/web/login", f"{prefix}/web/logout"):
        return default
    return target
