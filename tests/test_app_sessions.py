"""`ReplicatedSessionMiddleware`: lazy creation, the cookie, Tomcat ids, release of the response
after replication, id change at login, invalidation (on an in-memory cluster)."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.sessions import ReplicatedSessionMiddleware, SessionHandle, get_session
from tests.app_support import FakeCluster, app_client, log_in
from tribes.jserial import java_type_name

TOMCAT_ID = re.compile(r"^[0-9A-F]{32}$")


def set_cookies(r: httpx.Response) -> list[str]:
    return r.headers.get_list("set-cookie")


def cookie_id(r: httpx.Response) -> str:
    [header] = set_cookies(r)
    m = re.match(r"JSESSIONID=([^;]*)", header)
    assert m, header
    return m.group(1)


async def test_reading_never_creates_a_session(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        for path in ("/jw/api/session", "/jw/web/login", "/jw/api/cluster", "/jw/health"):
            r = await t.client.get(path)
            assert r.status_code == 200, path
            assert set_cookies(r) == [], path
        r = await t.client.get("/jw/web/records")  # login required: redirect, no session
        assert r.status_code == 303
        assert set_cookies(r) == []
        assert (await t.client.get("/jw/api/session")).json()["id"] is None
        assert not [c for c in t.cluster.log if c[0] == "create"]
        assert len(t.cluster.manager("/jw")) == 0


async def test_storing_creates_a_tomcat_session_with_the_cookie(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.put("/jw/api/session/attributes/color", json={"value": "blue"})
        assert r.status_code == 200, r.text
        [header] = set_cookies(r)
        sid = cookie_id(r)
        assert TOMCAT_ID.match(sid)
        parts = [p.strip() for p in header.split(";")]
        assert "Path=/jw" in parts
        assert "HttpOnly" in parts
        assert "Secure" not in parts
        assert r.headers["cache-control"] == "no-store"
        session = t.cluster.manager("/jw").find(sid)
        assert session is not None and session["color"] == "blue"

        # the cookie comes back: same session, no new cookie
        r2 = await t.client.put("/jw/api/session/attributes/size", json={"value": 3})
        assert set_cookies(r2) == []
        assert r2.json()["session"]["id"] == sid
        assert session["size"] == 3 and java_type_name(session["size"]) == "java.lang.Integer"


async def test_secure_cookie_behind_https(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.put(
            "/jw/api/session/attributes/a",
            json={"value": "x"},
            headers={"X-Forwarded-Proto": "https"},
        )
        [header] = set_cookies(r)
        assert "Secure" in [p.strip() for p in header.split(";")]


async def test_an_unknown_id_is_not_adopted(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        t.client.cookies.set("JSESSIONID", "ATTACKERCHOSEN00000000000000000", path="/jw")
        r = await t.client.put("/jw/api/session/attributes/a", json={"value": "x"})
        sid = cookie_id(r)
        assert sid != "ATTACKERCHOSEN00000000000000000" and TOMCAT_ID.match(sid)


async def test_first_known_id_of_several_cookies_wins(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        s = t.cluster.create_session("/jw")
        s.set("who", "me")
        t.cluster.manager("/jw").request_completed(s)
        r = await t.client.get(
            "/jw/api/session", headers={"Cookie": f"JSESSIONID=STALE; JSESSIONID={s.id}"}
        )
        assert r.json()["id"] == s.id
        assert set_cookies(r) == []


async def test_login_changes_the_session_id(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.put("/jw/api/session/attributes/cart", json={"value": ["a", "b"]})
        before = cookie_id(r)
        r = await log_in(t.client)
        after = cookie_id(r)
        assert after != before and TOMCAT_ID.match(after)
        manager = t.cluster.manager("/jw")
        assert before not in manager and after in manager
        assert manager.sessions[after]["cart"] == ["a", "b"]  # the session moved, not replaced
        assert ("change-id", f"{before}->{after}") in t.cluster.log
        info = (await t.client.get("/jw/api/session")).json()
        assert info["id"] == after
        assert info["attributes"]["username"]["value"] == "admin"


async def test_login_without_a_session_creates_one(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await log_in(t.client)
        sid = cookie_id(r)
        assert TOMCAT_ID.match(sid)
        assert not [c for c in t.cluster.log if c[0] == "change-id"]


async def test_invalidate_clears_the_cookie(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.put("/jw/api/session/attributes/a", json={"value": "x"})
        sid = cookie_id(r)
        r = await t.client.post("/jw/api/session/invalidate")
        assert r.json() == {"invalidated": True, "id": sid}
        [header] = set_cookies(r)
        assert header.startswith("JSESSIONID=;") or header.startswith('JSESSIONID="";')
        assert "Max-Age=0" in header
        assert sid not in t.cluster.manager("/jw")
        assert ("invalidate", sid) in t.cluster.log
        assert (await t.client.get("/jw/api/session")).json()["id"] is None


# --- the middleware on its own ---------------------------------------------------------------


def middleware_app(cluster: FakeCluster) -> Starlette:
    async def store(request: Request) -> Response:
        session = request.session  # Starlette's accessor returns the handle
        assert isinstance(session, SessionHandle)
        session["n"] = int(request.query_params.get("n", "1"))
        return PlainTextResponse("stored")

    async def boom(request: Request) -> Response:
        get_session(request).set("before", "crash")
        raise RuntimeError("boom")

    async def typed(request: Request) -> Response:
        s = get_session(request)
        s.set("big", 5, java_type="Long")
        s.set("raw", b"\x00\x01")
        return JSONResponse({t: s.java_type(t) for t in ("big", "raw")})

    async def read(request: Request) -> Response:
        s = get_session(request)
        return JSONResponse({"n": s.get("n"), "keys": sorted(s), "len": len(s), "id": s.id})

    return Starlette(
        routes=[
            Mount(
                "/jw",
                routes=[
                    Route("/store", store),
                    Route("/boom", boom),
                    Route("/typed", typed),
                    Route("/read", read),
                ],
                middleware=[
                    Middleware(ReplicatedSessionMiddleware, cluster=cluster, context_path="/jw")
                ],
            )
        ]
    )


async def call(
    app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """One raw ASGI request; returns the messages sent and an event trace."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers or [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.11", 8081),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return sent, []


async def test_response_is_released_only_after_complete() -> None:
    cluster = FakeCluster()
    cluster.gate = trio.Event()
    app = middleware_app(cluster)
    sent: list[dict[str, Any]] = []
    order: list[str] = []

    async def run() -> None:
        nonlocal sent
        sent, _ = await call(app, "/jw/store")
        order.append("response")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        with trio.fail_after(5):
            while not any(c[0] == "complete-start" for c in cluster.log):
                await trio.sleep(0.01)
        await trio.sleep(0.1)
        assert order == [] and sent == []  # held: replication not acknowledged yet
        order.append("ack")
        cluster.gate.set()
    assert order == ["ack", "response"]
    start = sent[0]
    assert start["type"] == "http.response.start"
    names = [c[0] for c in cluster.log]
    assert names.index("complete") > names.index("create")
    cookies = [v for k, v in start["headers"] if k == b"set-cookie"]
    assert len(cookies) == 1 and cookies[0].startswith(b"JSESSIONID=")


async def test_session_is_completed_when_the_endpoint_fails() -> None:
    cluster = FakeCluster()
    app = middleware_app(cluster)
    with pytest.raises(RuntimeError, match="boom"):
        await call(app, "/jw/boom")
    assert [c[0] for c in cluster.log] == ["create", "complete-start", "complete"]


async def test_typed_values_and_mapping_reads() -> None:
    cluster = FakeCluster()
    app = middleware_app(cluster)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.11") as c:
        r = await c.get("/jw/typed")
        assert r.json() == {"big": "java.lang.Long", "raw": "[B"}
        r = await c.get("/jw/store?n=7")
        r = await c.get("/jw/read")
        body = r.json()
        assert body["n"] == 7 and body["keys"] == ["big", "n", "raw"] and body["len"] == 3
    # one create, and each request completed exactly once
    names = [c[0] for c in cluster.log]
    assert names.count("create") == 1
    assert names.count("complete") == 3


@pytest.mark.parametrize("context", ["/jw", "", "/a b", "/x;y"])
@pytest.mark.parametrize(
    "value", ["", "0123456789ABCDEF0123456789ABCDEF", "ABC.node1", "a b", 'q"x', "x;y"]
)
@pytest.mark.parametrize("secure", [False, True])
def test_cookie_header_is_what_simplecookie_writes(context: str, value: str, secure: bool) -> None:
    """The cookie is formatted without a SimpleCookie per response: same bytes as one."""
    mw = ReplicatedSessionMiddleware(
        middleware_app(FakeCluster()), cluster=FakeCluster(), context_path=context
    )
    c: SimpleCookie = SimpleCookie()
    c["JSESSIONID"] = value
    morsel = c["JSESSIONID"]
    morsel["path"] = context or "/"
    morsel["httponly"] = True
    if secure:
        morsel["secure"] = True
    if value == "":
        morsel["max-age"] = 0
        morsel["expires"] = "Thu, 01 Jan 1970 00:00:00 GMT"
    assert mw._cookie_header(value, secure) == morsel.OutputString().encode("latin-1")


async def test_paths_outside_the_context_get_no_session() -> None:
    """Wrapping a whole app, the middleware leaves other paths alone (no handle, no lookup)."""
    cluster = FakeCluster()
    seen: list[object] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope.get("session"))
        await PlainTextResponse("ok")(scope, receive, send)

    mw = ReplicatedSessionMiddleware(inner, cluster=cluster, context_path="/jw")
    s = cluster.create_session("/jw")
    cookie = [(b"cookie", f"JSESSIONID={s.id}".encode())]
    for path in ("/", "/jwx", "/other/jw"):
        sent, _ = await call(mw, path, cookie)
        assert sent[0]["status"] == 200
    assert seen == [None, None, None]
    for path in ("/jw", "/jw/", "/jw/x"):
        await call(mw, path, cookie)
    assert all(isinstance(h, SessionHandle) for h in seen[3:]) and len(seen) == 6
    assert [c for c in cluster.log if c[0] == "find"] == []  # lazy: nothing was looked up


async def test_a_session_is_completed_once_even_after_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replication that overran `COMPLETE_TIMEOUT` is not waited for a second time."""
    import app.sessions as sessions

    monkeypatch.setattr(sessions, "COMPLETE_TIMEOUT", 0.05)
    cluster = FakeCluster()
    cluster.gate = trio.Event()  # never set: complete() hangs
    app = middleware_app(cluster)
    with trio.fail_after(5):
        sent, _ = await call(app, "/jw/store")
    assert sent[0]["status"] == 200
    assert [c[0] for c in cluster.log] == ["create", "complete-start"]
