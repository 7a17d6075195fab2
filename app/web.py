"""The Starlette application: login, the records form, the monitor page, the JSON API.

Paths (context ``/jw``):

==========================================  =====================================================
``GET  /jw/``                               303 to ``/jw/web/userview``
``GET  /jw/web/userview``                   home (login required)
``GET|POST /jw/web/login``                  form ``username``, ``password``, optional ``next``;
                                            success: 303 to ``next`` (or home); failure: 401 page
``GET|POST /jw/web/logout``                 invalidates the session, 303 to the login page
``GET|POST /jw/web/account/password``       change the password (``current_password``,
                                            ``new_password``, ``confirm_password``)
``GET|POST /jw/web/records``                list / create (``name``, ``email``, ``notes``)
``GET  /jw/web/records/new``                the empty form
``GET|POST /jw/web/records/{id}``           edit form / update
``POST /jw/web/records/{id}/delete``        delete
``GET  /jw/web/console/monitor/slogs``      Cluster Nodes (this node marked Current) + events
``GET  /jw/api/session``                    the session: id, metadata, typed attributes
``PUT  /jw/api/session/attributes/{name}``  ``{"value": ..., "type": "Long", "encoding": ...}``
``DELETE /jw/api/session/attributes/{name}``
``POST /jw/api/session/invalidate``
``GET  /jw/api/cluster``                    ``local`` and ``members``
``GET|POST /jw/api/records``, ``GET|PUT|DELETE /jw/api/records/{id}``  (login required)
``GET  /jw/health``                         200 ``{"status": "ok"}`` (503 when the DB fails)
==========================================  =====================================================

Pages that need a login answer 303 to ``/jw/web/login?next=<the page>``; the records API
answers 401.  HTML form posts (other than the login) must carry the session's CSRF token as
``_csrf`` (403 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tribes.jserial import java_type_name, to_json
from tribes.session import InvalidSessionError

from . import auth
from .cluster import ClusterLike, NodeIdentity, local_json, members_json
from .db import EMAIL_MAX, NAME_MAX, NOTES_MAX, Database, Record
from .events import EventLog
from .html import esc, page, table
from .sessions import ReplicatedSessionMiddleware, SessionHandle, get_session

log = logging.getLogger("app.web")

CONTEXT_PATH = "/jw"
#: PUT body limit of the session API.
MAX_JSON_BODY = 1 << 20
#: The short type names the session API accepts (anything `tribes.session.to_java` knows
#: works too, e.g. "java.lang.Long", "Short", "Date"...).
API_TYPES = ("String", "Integer", "Long", "Boolean", "Double", "byte[]", "ArrayList", "HashMap")


#: `JSONResponse`'s encoder settings; `json.dumps` with these builds a new encoder per call.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


class JSONResponse(StarletteJSONResponse):
    """Starlette's `JSONResponse` (the same bytes) with one shared encoder."""

    def render(self, content: Any) -> bytes:
        return _JSON.encode(content).encode("utf-8")


@dataclass
class AppContext:
    """Everything the endpoints share."""

    cluster: ClusterLike
    db: Database
    identity: NodeIdentity
    events: EventLog = field(default_factory=EventLog)
    context_path: str = CONTEXT_PATH
    started: float = field(default_factory=time.time)

    @property
    def home(self) -> str:
        return f"{self.context_path}/web/userview"

    @property
    def login_path(self) -> str:
        return f"{self.context_path}/web/login"

    def login_redirect(self, request: Request) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"{self.login_path}?{urlencode({'next': target})}", status_code=303)


def _ctx(request: Request) -> AppContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, AppContext)
    return ctx


def _page(
    ctx: AppContext, session: SessionHandle, title: str, body: str, status_code: int = 200
) -> Response:
    user = auth.current_user(session)
    csrf = auth.csrf_token(session) if user else None
    return page(
        title,
        body,
        user=user,
        node=ctx.identity.name,
        context=ctx.context_path,
        status_code=status_code,
        csrf=csrf,
    )


def _form_str(form: FormData, name: str) -> str:
    v = form.get(name)
    return v if isinstance(v, str) else ""


@dataclass(frozen=True, slots=True)
class Visit:
    """A request by a logged-in user: what every login-required handler starts from."""

    ctx: AppContext
    session: SessionHandle
    user: str


VisitHandler = Callable[[Request, Visit], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def login_required(*, api: bool = False) -> Callable[[VisitHandler], Endpoint]:
    """Run the handler only for a logged-in user; anyone else gets the login page (303) or,
    for the JSON API (`api`), a 401."""

    def wrap(handler: VisitHandler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            ctx = _ctx(request)
            session = get_session(request)
            user = auth.current_user(session)
            if user is None:
                return _error(401, "login required") if api else ctx.login_redirect(request)
            return await handler(request, Visit(ctx, session, user))

        return endpoint

    return wrap


async def _posted_form(request: Request, visit: Visit) -> FormData | Response:
    """The posted form, or the 403 page when it lacks the session's CSRF token."""
    form = await request.form()
    if not auth.csrf_ok(visit.session, form.get(auth.CSRF_FIELD)):
        return _page(visit.ctx, visit.session, "Forbidden", "<p>Invalid form token.</p>", 403)
    return form


# --- login ----------------------------------------------------------------------------------------


def _login_form(ctx: AppContext, next_url: str, error: str | None, username: str = "") -> str:
    err = f'<p class="error" id="login-error">{esc(error)}</p>' if error else ""
    return (
        f'{err}<form method="post" action="{esc(ctx.login_path)}" id="loginForm">'
        f'<input type="hidden" name="next" value="{esc(next_url)}">'
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" value="{esc(username)}" '
        'autocomplete="username" autofocus required>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password" '
        "required>"
        '<button type="submit" id="submit">Log in</button></form>'
        '<p class="muted">Default account: admin / admin (change it under Password).</p>'
    )


async def login(request: Request) -> Response:
    ctx = _ctx(request)
    session = get_session(request)
    if request.method == "GET":
        next_url = auth.safe_next(request.query_params.get("next"), ctx.context_path, ctx.home)
        if auth.current_user(session):
            return RedirectResponse(next_url, status_code=303)
        return _page(ctx, session, "Log in", _login_form(ctx, next_url, None))
    form = await request.form()
    username = _form_str(form, "username").strip()
    password = _form_str(form, "password")
    next_url = auth.safe_next(
        _form_str(form, "next") or request.query_params.get("next"), ctx.context_path, ctx.home
    )
    user = None
    if username and password and len(username) <= 100 and len(password) <= 1024:
        user = await ctx.db.run(ctx.db.authenticate, username, password)
    if user is None:
        return _page(
            ctx,
            session,
            "Log in",
            _login_form(ctx, next_url, "Invalid username or password.", username),
            status_code=401,
        )
    await auth.log_in(session, user.username, user.roles or ("user",), ctx.identity.name)
    return RedirectResponse(next_url, status_code=303)


async def logout(request: Request) -> Response:
    ctx = _ctx(request)
    session = get_session(request)
    await session.invalidate()
    return RedirectResponse(ctx.login_path, status_code=303)


# --- home, password -------------------------------------------------------------------------------


async def root(request: Request) -> Response:
    return RedirectResponse(_ctx(request).home, status_code=303)


@login_required()
async def home(request: Request, visit: Visit) -> Response:
    ctx, session, user = visit.ctx, visit.session, visit.user
    count = await ctx.db.run(ctx.db.count_records)
    c = ctx.context_path
    body = (
        f"<p>Welcome, <b>{esc(user)}</b>. This page was served by node "
        f'<b id="current-node">{esc(ctx.identity.name)}</b>.</p>'
        f'<ul><li><a href="{c}/web/records">Records</a> ({count})</li>'
        f'<li><a href="{c}/web/records/new">New record</a></li>'
        f'<li><a href="{c}/web/console/monitor/slogs">Monitor: cluster nodes and events</a></li>'
        f'<li><a href="{c}/web/account/password">Change password</a></li>'
        f'<li><a href="{c}/api/session">Session (JSON)</a> · '
        f'<a href="{c}/api/cluster">Cluster (JSON)</a></li></ul>'
    )
    return _page(ctx, session, "Home", body)


def _password_form(ctx: AppContext, csrf: str, message: str = "", ok: bool = False) -> str:
    msg = f'<p class="{"ok" if ok else "error"}" id="message">{esc(message)}</p>' if message else ""
    fields = "".join(
        f'<label for="{n}">{esc(label)}</label>'
        f'<input type="password" id="{n}" name="{n}" autocomplete="{ac}" required>'
        for n, label, ac in (
            ("current_password", "Current password", "current-password"),
            ("new_password", "New password", "new-password"),
            ("confirm_password", "Repeat the new password", "new-password"),
        )
    )
    return (
        f'{msg}<form method="post" action="{esc(ctx.context_path)}/web/account/password">'
        f'<input type="hidden" name="{auth.CSRF_FIELD}" value="{esc(csrf)}">{fields}'
        '<button type="submit">Change password</button></form>'
    )


@login_required()
async def password(request: Request, visit: Visit) -> Response:
    ctx, session, user = visit.ctx, visit.session, visit.user
    csrf = auth.csrf_token(session)
    if request.method == "GET":
        return _page(ctx, session, "Change password", _password_form(ctx, csrf))
    form = await _posted_form(request, visit)
    if isinstance(form, Response):
        return form
    current = _form_str(form, "current_password")
    new = _form_str(form, "new_password")
    confirm = _form_str(form, "confirm_password")
    problem = None
    if len(new) < 5:
        problem = "The new password needs at least 5 characters."
    elif len(new) > 1024:
        problem = "The new password is too long."
    elif new != confirm:
        problem = "The new passwords differ."
    elif await ctx.db.run(ctx.db.authenticate, user, current) is None:
        problem = "The current password is wrong."
    if problem is not None:
        return _page(ctx, session, "Change password", _password_form(ctx, csrf, problem), 400)
    await ctx.db.run(ctx.db.set_password, user, new)
    return _page(
        ctx, session, "Change password", _password_form(ctx, csrf, "Password changed.", ok=True)
    )


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordInput:
    name: str
    email: str
    notes: str

    @classmethod
    def parse(cls, data: dict[str, object]) -> tuple[RecordInput, dict[str, str]]:
        def text(key: str) -> str:
            v = data.get(key)
            return v.strip() if isinstance(v, str) else ""

        rec = cls(text("name"), text("email"), text("notes"))
        errors: dict[str, str] = {}
        if not rec.name:
            errors["name"] = "Name is required."
        elif len(rec.name) > NAME_MAX:
            errors["name"] = f"Name: at most {NAME_MAX} characters."
        if rec.email and (
            len(rec.email) > EMAIL_MAX
            or "@" not in rec.email
            or any(c.isspace() for c in rec.email)
        ):
            errors["email"] = "Email is not a valid address."
        if len(rec.notes) > NOTES_MAX:
            errors["notes"] = f"Notes: at most {NOTES_MAX} characters."
        return rec, errors


def _record_fields(ctx: AppContext, values: RecordInput, user: str) -> dict[str, str]:
    """The columns a create or update writes: the validated input, who, and which node."""
    return {
        "name": values.name,
        "email": values.email,
        "notes": values.notes,
        "user": user,
        "node": ctx.identity.name,
    }


def _record_form(
    ctx: AppContext,
    csrf: str,
    action: str,
    values: RecordInput,
    errors: dict[str, str],
    record_id: int | None = None,
) -> str:
    errs = "".join(f'<p class="error">{esc(e)}</p>' for e in errors.values())
    delete = ""
    if record_id is not None:
        delete = (
            f'<form method="post" action="{esc(ctx.context_path)}/web/records/{record_id}/delete"'
            " onsubmit=\"return confirm('Delete this record?')\">"
            f'<input type="hidden" name="{auth.CSRF_FIELD}" value="{esc(csrf)}">'
            '<button type="submit" id="delete">Delete</button></form>'
        )
    return (
        f'{errs}<form method="post" action="{esc(action)}" id="recordForm">'
        f'<input type="hidden" name="{auth.CSRF_FIELD}" value="{esc(csrf)}">'
        '<label for="name">Name</label>'
        f'<input type="text" id="name" name="name" value="{esc(values.name)}" '
        f'maxlength="{NAME_MAX}" required>'
        '<label for="email">Email</label>'
        f'<input type="email" id="email" name="email" value="{esc(values.email)}" '
        f'maxlength="{EMAIL_MAX}">'
        '<label for="notes">Notes</label>'
        f'<textarea id="notes" name="notes" rows="5" maxlength="{NOTES_MAX}">'
        f"{esc(values.notes)}</textarea>"
        '<button type="submit" id="save">Save</button></form>'
        f"{delete}"
        f'<p><a href="{esc(ctx.context_path)}/web/records">Back to the list</a></p>'
    )


@login_required()
async def records_page(request: Request, visit: Visit) -> Response:
    ctx, session, user = visit.ctx, visit.session, visit.user
    csrf = auth.csrf_token(session)
    c = ctx.context_path
    if request.method == "POST":
        form = await _posted_form(request, visit)
        if isinstance(form, Response):
            return form
        values, errors = RecordInput.parse(dict(form))
        if errors:
            body = _record_form(ctx, csrf, f"{c}/web/records", values, errors)
            return _page(ctx, session, "New record", body, 400)
        await ctx.db.run(lambda: ctx.db.create_record(**_record_fields(ctx, values, user)))
        return RedirectResponse(f"{c}/web/records", status_code=303)
    rows = await ctx.db.run(ctx.db.list_records)
    cells = [
        [
            f'<a href="{c}/web/records/{r.id}">{r.id}</a>',
            esc(r.name),
            esc(r.email),
            esc(r.notes[:80] + ("…" if len(r.notes) > 80 else "")),
            esc(f"{r.updated_at:%Y-%m-%d %H:%M:%S} by {r.updated_by}"),
            esc(r.updated_on),
        ]
        for r in rows
    ]
    body = (
        f'<p><a href="{c}/web/records/new" id="new-record">New record</a></p>'
        + table(["#", "Name", "Email", "Notes", "Updated", "On node"], cells)
        + (f'<p class="muted">{len(rows)} record(s).</p>')
    )
    return _page(ctx, session, "Records", body)


@login_required()
async def record_new(request: Request, visit: Visit) -> Response:
    ctx, session = visit.ctx, visit.session
    csrf = auth.csrf_token(session)
    body = _record_form(ctx, csrf, f"{ctx.context_path}/web/records", RecordInput("", "", ""), {})
    return _page(ctx, session, "New record", body)


@login_required()
async def record_edit(request: Request, visit: Visit) -> Response:
    ctx, session, user = visit.ctx, visit.session, visit.user
    csrf = auth.csrf_token(session)
    record_id: int = request.path_params["record_id"]
    action = f"{ctx.context_path}/web/records/{record_id}"
    if request.method == "POST":
        form = await _posted_form(request, visit)
        if isinstance(form, Response):
            return form
        values, errors = RecordInput.parse(dict(form))
        if errors:
            body = _record_form(ctx, csrf, action, values, errors, record_id)
            return _page(ctx, session, f"Record {record_id}", body, 400)
        updated = await ctx.db.run(
            lambda: ctx.db.update_record(record_id, **_record_fields(ctx, values, user))
        )
        if updated is None:
            return _page(ctx, session, "Not found", "<p>No such record.</p>", 404)
        return RedirectResponse(f"{ctx.context_path}/web/records", status_code=303)
    rec = await ctx.db.run(ctx.db.get_record, record_id)
    if rec is None:
        return _page(ctx, session, "Not found", "<p>No such record.</p>", 404)
    body = _record_form(
        ctx, csrf, action, RecordInput(rec.name, rec.email, rec.notes), {}, record_id
    ) + (
        f'<p class="muted">Created {rec.created_at:%Y-%m-%d %H:%M:%S} by {esc(rec.created_by)};'
        f" updated {rec.updated_at:%Y-%m-%d %H:%M:%S} by {esc(rec.updated_by)}"
        f" on {esc(rec.updated_on)}.</p>"
    )
    return _page(ctx, session, f"Record {record_id}", body)


@login_required()
async def record_delete(request: Request, visit: Visit) -> Response:
    ctx, session = visit.ctx, visit.session
    form = await _posted_form(request, visit)
    if isinstance(form, Response):
        return form
    record_id: int = request.path_params["record_id"]
    if not await ctx.db.run(ctx.db.delete_record, record_id):
        return _page(ctx, session, "Not found", "<p>No such record.</p>", 404)
    return RedirectResponse(f"{ctx.context_path}/web/records", status_code=303)


# --- monitor --------------------------------------------------------------------------------------


def _fmt_ms(ms: object) -> str:
    if not isinstance(ms, int) or ms < 0:
        return ""
    s = ms // 1000
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@login_required()
async def monitor(request: Request, visit: Visit) -> Response:
    ctx, session = visit.ctx, visit.session
    previous = session.get_str(auth.ATTR_LAST_NODE)
    hits = session.get(auth.ATTR_MONITOR_HITS)
    hits = int(hits) + 1 if isinstance(hits, int) and not isinstance(hits, bool) else 1
    session.set(auth.ATTR_LAST_NODE, ctx.identity.name, java_type="String")
    session.set(auth.ATTR_MONITOR_HITS, hits, java_type="Integer")

    members = members_json(ctx.cluster, ctx.identity, ctx.context_path)
    rows = []
    classes = []
    for m in members:
        badges = f'<span class="badge {esc(m["state"])}">{esc(m["state"])}</span>'
        if m["current"]:
            badges = '<span class="badge current" id="current-marker">Current</span> ' + badges
        kind = m["server"] or ""
        version = f"Tomcat {m['version']} wire" if m["version"] else ""
        rows.append(
            [
                esc(m["display_name"])
                + (f"<br><span class=muted>{esc(m['name'])}</span>" if m["local"] else ""),
                esc(f"{m['host']}:{m['port']}"),
                badges,
                esc(kind) + (f"<br><span class=muted>{esc(version)}</span>" if version else ""),
                esc("" if m["sessions"] is None else m["sessions"]),
                esc(_fmt_ms(m["alive_ms"])),
            ]
        )
        classes.append("current" if m["current"] else "")
    nodes = table(
        ["Node", "Address", "State", "Server", "Sessions", "Up"], rows, row_classes=classes
    )
    events = ctx.events.recent(100)
    ev_rows = [
        [
            esc(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time))),
            esc(e.level),
            f"<code>{esc(e.event)}</code>",
            esc(e.member or ""),
            f"<span class=muted>{esc(e.summary())}</span>",
        ]
        for e in events
    ]
    ev_table = (
        table(["Time", "Level", "Event", "Member", "Details"], ev_rows)
        if ev_rows
        else '<p class="muted">No cluster events yet.</p>'
    )
    refresh = request.query_params.get("refresh", "")
    meta = ""
    if refresh.isdigit() and 0 < int(refresh) <= 3600:
        meta = f'<meta http-equiv="refresh" content="{int(refresh)}">'
    served = (
        f'<p>This request was served by <b id="current-node">{esc(ctx.identity.name)}</b>'
        f" ({esc(local_json(ctx.cluster, ctx.identity)['member'])})"
        + (f'; the previous one by <b id="previous-node">{esc(previous)}</b>.' if previous else ".")
        + f' Session <code id="session-id">{esc(session.id)}</code>, '
        f'monitor views in this session: <b id="hits">{hits}</b>.</p>'
    )
    c = ctx.context_path
    body = (
        f"{meta}{served}<h2>Cluster Nodes</h2>{nodes}"
        f'<p class="muted">Reload to see the balancer switch nodes, or '
        f'<a href="{c}/web/console/monitor/slogs?refresh=2">refresh every 2 s</a>.</p>'
        f"<h2>Cluster Events</h2>{ev_table}"
    )
    return _page(ctx, session, "System Logs", body)


# --- JSON API -------------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _attribute_json(name: str, value: object) -> dict[str, Any]:
    try:
        jtype = java_type_name(value)
    except TypeError:
        jtype = type(value).__name__
    out: dict[str, Any] = {"name": name, "type": jtype}
    if isinstance(value, bytes | bytearray):
        out["value"] = base64.b64encode(bytes(value)).decode("ascii")
        out["encoding"] = "base64"
    else:
        out["value"] = to_json(value)
    return out


def _session_json(ctx: AppContext, session: SessionHandle) -> dict[str, Any]:
    s = session.session
    base: dict[str, Any] = {"node": ctx.identity.name, "context": ctx.context_path}
    if s is None:
        return {**base, "id": None, "exists": False, "metadata": None, "attributes": {}}
    principal = s.principal
    metadata = {
        "creation_time": s.creation_time,
        "last_accessed_time": s.last_accessed_time,
        "this_accessed_time": s.this_accessed_time,
        "max_inactive_interval": s.max_inactive_interval,
        "is_new": s.is_new,
        "is_valid": s.is_valid,
        "is_primary": s.is_primary,
        "version": s.version,
        "principal": principal.name if principal is not None else None,
        "roles": list(principal.roles) if principal is not None else None,
        "auth_type": s.auth_type,
        "manager": s.manager.name,
    }
    return {
        **base,
        "id": s.id,
        "exists": True,
        "metadata": metadata,
        "attributes": {n: _attribute_json(n, s.get(n)) for n in sorted(s.names())},
    }


async def api_session(request: Request) -> Response:
    ctx = _ctx(request)
    return JSONResponse(_session_json(ctx, get_session(request)))


def _decode_value(body: dict[str, Any]) -> tuple[object, str | None]:
    if "value" not in body:
        raise ValueError('the body needs a "value"')
    value = body["value"]
    jtype = body.get("type")
    if jtype is not None and not isinstance(jtype, str):
        raise ValueError('"type" must be a string')
    if value is None:
        raise ValueError('"value" must not be null (DELETE removes an attribute)')
    if jtype in ("byte[]", "[B"):
        encoding = body.get("encoding", "base64")
        if not isinstance(value, str):
            raise ValueError("a byte[] value is a base64 (or hex) string")
        try:
            if encoding == "hex":
                value = bytes.fromhex(value)
            elif encoding == "base64":
                value = base64.b64decode(value, validate=True)
            else:
                raise ValueError('"encoding" is "base64" or "hex"')
        except binascii.Error as e:
            raise ValueError(f"bad {encoding} data: {e}") from None
    return value, jtype


async def api_attribute(request: Request) -> Response:
    ctx = _ctx(request)
    session = get_session(request)
    name: str = request.path_params["name"]
    if not name:
        return _error(400, "an attribute name is required")
    if request.method == "DELETE":
        if name not in session:
            return _error(404, f"no attribute {name!r}")
        session.remove(name)
        return JSONResponse({"removed": name, "session": _session_json(ctx, session)})
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        return _error(413, "body too large")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return _error(400, f"the body is not JSON: {e}")
    if not isinstance(body, dict):
        return _error(400, 'the body is a JSON object {"value": ..., "type": ...}')
    try:
        value, jtype = _decode_value(body)
        session.set(name, value, java_type=jtype)
    except (TypeError, ValueError, OverflowError) as e:
        return _error(400, str(e))
    except InvalidSessionError as e:  # pragma: no cover - concurrent invalidation
        return _error(409, str(e))
    info = _session_json(ctx, session)
    attribute = info["attributes"].get(name)  # the same dict, not computed twice
    if attribute is None:  # pragma: no cover - it was just stored
        attribute = _attribute_json(name, session.get(name))
    return JSONResponse({"attribute": attribute, "session": info})


async def api_invalidate(request: Request) -> Response:
    session = get_session(request)
    old = session.id
    await session.invalidate()
    return JSONResponse({"invalidated": old is not None, "id": old})


async def api_cluster(request: Request) -> Response:
    ctx = _ctx(request)
    members = members_json(ctx.cluster, ctx.identity, ctx.context_path)
    local = local_json(ctx.cluster, ctx.identity)
    try:
        manager = ctx.cluster.manager(ctx.context_path)
        mgr: dict[str, Any] | None = {"name": manager.name, "sessions": len(manager)}
    except Exception:
        mgr = None
    return JSONResponse(
        {
            "local": local,
            "members": members,
            "manager": mgr,
            "events": [e.to_json() for e in ctx.events.recent(20)],
        }
    )


async def health(request: Request) -> Response:
    ctx = _ctx(request)
    try:
        db_ok = await ctx.db.run(ctx.db.ping)
    except Exception as e:
        log.warning("health: database check failed: %s", e)
        db_ok = False
    return JSONResponse(
        {"status": "ok" if db_ok else "db-unavailable", "node": ctx.identity.name, "db": db_ok},
        status_code=200 if db_ok else 503,
    )


@login_required(api=True)
async def api_records(request: Request, visit: Visit) -> Response:
    ctx, user = visit.ctx, visit.user
    if request.method == "GET":
        rows: list[Record] = await ctx.db.run(ctx.db.list_records)
        return JSONResponse({"records": [r.to_json() for r in rows]})
    body = await _json_body(request)
    if not isinstance(body, dict):
        return _error(400, "the body is a JSON object {name, email, notes}")
    values, errors = RecordInput.parse(body)
    if errors:
        return JSONResponse({"error": "invalid record", "fields": errors}, status_code=400)
    rec = await ctx.db.run(lambda: ctx.db.create_record(**_record_fields(ctx, values, user)))
    return JSONResponse(rec.to_json(), status_code=201)


@login_required(api=True)
async def api_record(request: Request, visit: Visit) -> Response:
    ctx, user = visit.ctx, visit.user
    record_id: int = request.path_params["record_id"]
    if request.method == "GET":
        rec = await ctx.db.run(ctx.db.get_record, record_id)
        return _error(404, "no such record") if rec is None else JSONResponse(rec.to_json())
    if request.method == "DELETE":
        ok = await ctx.db.run(ctx.db.delete_record, record_id)
        return JSONResponse({"deleted": record_id}) if ok else _error(404, "no such record")
    body = await _json_body(request)
    if not isinstance(body, dict):
        return _error(400, "the body is a JSON object {name, email, notes}")
    values, errors = RecordInput.parse(body)
    if errors:
        return JSONResponse({"error": "invalid record", "fields": errors}, status_code=400)
    updated = await ctx.db.run(
        lambda: ctx.db.update_record(record_id, **_record_fields(ctx, values, user))
    )
    return _error(404, "no such record") if updated is None else JSONResponse(updated.to_json())


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


# --- assembly -------------------------------------------------------------------------------------


def routes(prefix: str = "") -> list[BaseRoute]:
    """The routes of the context, under `prefix` (the context path, or "" for relative ones).

    The router tries them in order and no two match the same path, so the JSON API, the
    machine-driven part, comes first: its requests skip the page patterns."""
    return [
        Route(
            f"{prefix}/api/session/attributes/{{name:path}}",
            api_attribute,
            methods=["PUT", "DELETE"],
        ),
        Route(f"{prefix}/api/session", api_session),
        Route(f"{prefix}/api/session/invalidate", api_invalidate, methods=["POST"]),
        Route(f"{prefix}/api/cluster", api_cluster),
        Route(f"{prefix}/api/records", api_records, methods=["GET", "POST"]),
        Route(
            f"{prefix}/api/records/{{record_id:int}}", api_record, methods=["GET", "PUT", "DELETE"]
        ),
        Route(f"{prefix}/health", health),
        Route(f"{prefix}/", root),
        Route(f"{prefix}/web/userview", home),
        Route(f"{prefix}/web/login", login, methods=["GET", "POST"]),
        Route(f"{prefix}/web/logout", logout, methods=["GET", "POST"]),
        Route(f"{prefix}/web/account/password", password, methods=["GET", "POST"]),
        Route(f"{prefix}/web/records", records_page, methods=["GET", "POST"]),
        Route(f"{prefix}/web/records/new", record_new),
        Route(f"{prefix}/web/records/{{record_id:int}}", record_edit, methods=["GET", "POST"]),
        Route(f"{prefix}/web/records/{{record_id:int}}/delete", record_delete, methods=["POST"]),
        Route(f"{prefix}/web/console/monitor/slogs", monitor),
    ]


async def _to_context(request: Request) -> Response:
    return RedirectResponse(f"{_ctx(request).context_path}/", status_code=303)


def create_app(ctx: AppContext) -> Starlette:
    """The ASGI application: the context's routes under ``ctx.context_path`` and ``/``
    redirecting into it, behind the session middleware (which only acts inside the context).

    One flat router rather than a `Mount` of the context: the mount cost a second router, its
    path matching and a scope copy on every request, and routed to the same endpoints."""
    app = Starlette(
        routes=[Route("/", _to_context), *routes(ctx.context_path)],
        middleware=[
            Middleware(
                ReplicatedSessionMiddleware,
                cluster=ctx.cluster,
                context_path=ctx.context_path,
            )
        ],
    )
    app.state.ctx = ctx
    return app
