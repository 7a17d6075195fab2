"""The app's pages and JSON API on an in-memory cluster and an SQLite file: login flow,
password change, records CRUD, the monitor page, and the JSON API contract."""

from __future__ import annotations

import base64
import dataclasses
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.routing import Match

from app.cluster import NodeIdentity
from app.db import Database, hash_password, sqlite_url, verify_password
from app.events import ClusterEvent
from app.web import AppContext, JSONResponse, create_app
from tests.app_support import FakeCluster, app_client, csrf_of, log_in
from tribes.jserial import java_type_name
from tribes.wire.member import Member, pytribes_payload

# --- login -------------------------------------------------------------------------------------


async def test_protected_pages_redirect_to_login_with_next(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        for path in (
            "/jw/web/userview",
            "/jw/web/records",
            "/jw/web/records/new",
            "/jw/web/records/1",
            "/jw/web/console/monitor/slogs",
            "/jw/web/account/password",
        ):
            r = await t.client.get(path + "?x=1")
            assert r.status_code == 303, path
            loc = urlsplit(r.headers["location"])
            assert loc.path == "/jw/web/login"
            assert parse_qs(loc.query)["next"] == [path + "?x=1"]
        assert (await t.client.get("/")).headers["location"] == "/jw/"
        assert (await t.client.get("/jw/")).headers["location"] == "/jw/web/userview"


async def test_login_303_to_the_page_asked_for(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.get("/jw/web/console/monitor/slogs")
        login_url = r.headers["location"]
        page = await t.client.get(login_url)
        assert page.status_code == 200
        assert 'name="username"' in page.text and 'name="password"' in page.text
        next_url = re.search(r'name="next" value="([^"]*)"', page.text)
        assert next_url and next_url.group(1) == "/jw/web/console/monitor/slogs"
        r = await t.client.post(
            "/jw/web/login",
            data={"username": "admin", "password": "admin", "next": next_url.group(1)},
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/jw/web/console/monitor/slogs"
        r = await t.client.get("/jw/web/console/monitor/slogs")
        assert r.status_code == 200 and "Cluster Nodes" in r.text


async def test_login_next_in_the_query_and_default(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.post(
            "/jw/web/login?next=/jw/web/records", data={"username": "admin", "password": "admin"}
        )
        assert r.status_code == 303 and r.headers["location"] == "/jw/web/records"
    async with app_client(tmp_path) as t:
        r = await log_in(t.client)
        assert r.headers["location"] == "/jw/web/userview"
        # logged in: the login page sends us on
        r = await t.client.get("/jw/web/login?next=/jw/web/records")
        assert r.status_code == 303 and r.headers["location"] == "/jw/web/records"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/other/app",
        "javascript:alert(1)",
        "/jw/web/logout",
    ],
)
async def test_login_never_redirects_outside(tmp_path: Path, target: str) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.post(
            "/jw/web/login", data={"username": "admin", "password": "admin", "next": target}
        )
        assert r.status_code == 303 and r.headers["location"] == "/jw/web/userview"


async def test_wrong_password_is_refused(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        for user, pw in (("admin", "wrong"), ("nobody", "admin"), ("", "")):
            r = await t.client.post("/jw/web/login", data={"username": user, "password": pw})
            assert r.status_code == 401
            assert "Invalid username or password" in r.text
            assert r.headers.get_list("set-cookie") == []
        assert (await t.client.get("/jw/web/userview")).status_code == 303


async def test_login_attributes_are_tomcat_readable(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        await log_in(t.client)
        [session] = t.cluster.manager("/jw").sessions.values()
        assert session["username"] == "admin"
        assert java_type_name(session["username"]) == "java.lang.String"
        assert session["roles"] == ["admin"]
        assert java_type_name(session["roles"]) == "java.util.ArrayList"
        assert java_type_name(session["loginTime"]) == "java.lang.Long"
        assert session["loginNode"] == "node-a"
        assert java_type_name(session["csrfToken"]) == "java.lang.String"
        assert session.principal is not None and session.principal.name == "admin"
        assert session.principal.roles == ("admin",)
        assert session.auth_type == "FORM"


async def test_a_username_set_by_tomcat_counts_as_logged_in(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        s = t.cluster.create_session("/jw")
        s.set("username", "admin")  # what a Tomcat webapp would do
        t.cluster.manager("/jw").request_completed(s)
        t.client.cookies.set("JSESSIONID", s.id, path="/jw")
        r = await t.client.get("/jw/web/userview")
        assert r.status_code == 200 and 'id="user">admin<' in r.text


async def test_logout(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        await log_in(t.client)
        home = await t.client.get("/jw/web/userview")
        assert home.status_code == 200
        r = await t.client.post("/jw/web/logout", data={"_csrf": csrf_of(home.text)})
        assert r.status_code == 303 and r.headers["location"] == "/jw/web/login"
        assert len(t.cluster.manager("/jw")) == 0
        assert (await t.client.get("/jw/web/userview")).status_code == 303
        # GET works too (a link), and without a session it is harmless
        r = await t.client.get("/jw/web/logout")
        assert r.status_code == 303


async def test_change_password(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        await log_in(t.client)
        page = await t.client.get("/jw/web/account/password")
        token = csrf_of(page.text)
        bad = await t.client.post(
            "/jw/web/account/password",
            data={
                "_csrf": token,
                "current_password": "nope",
                "new_password": "s3cret!",
                "confirm_password": "s3cret!",
            },
        )
        assert bad.status_code == 400 and "current password is wrong" in bad.text
        forged = await t.client.post(
            "/jw/web/account/password",
            data={
                "current_password": "admin",
                "new_password": "x" * 8,
                "confirm_password": "x" * 8,
            },
        )
        assert forged.status_code == 403
        ok = await t.client.post(
            "/jw/web/account/password",
            data={
                "_csrf": token,
                "current_password": "admin",
                "new_password": "s3cret!",
                "confirm_password": "s3cret!",
            },
        )
        assert ok.status_code == 200 and "Password changed" in ok.text
        await t.client.post("/jw/web/logout", data={"_csrf": token})
        r = await t.client.post("/jw/web/login", data={"username": "admin", "password": "admin"})
        assert r.status_code == 401
        await log_in(t.client, "admin", "s3cret!")


def test_passwords_are_stored_salted_and_hashed(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "x.db"))
    db.create_schema()
    db.create_schema()  # idempotent: a second node starting
    with db.engine.connect() as conn:
        [(stored,)] = conn.exec_driver_sql("SELECT password_hash FROM pyt_user").all()
    assert "admin" not in stored and stored.startswith("scrypt$")
    assert verify_password("admin", stored) and not verify_password("Admin", stored)
    assert hash_password("admin") != hash_password("admin")  # salted
    assert db.authenticate("admin", "admin") is not None
    db.close()


# --- records ---------------------------------------------------------------------------------


async def test_records_crud_through_the_forms(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        await log_in(t.client)
        form = await t.client.get("/jw/web/records/new")
        token = csrf_of(form.text)
        r = await t.client.post(
            "/jw/web/records",
            data={
                "_csrf": token,
                "name": "Ada <Lovelace>",
                "email": "ada@example.org",
                "notes": "n1",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/jw/web/records"
        listing = await t.client.get("/jw/web/records")
        assert "Ada &lt;Lovelace&gt;" in listing.text and "<Lovelace>" not in listing.text
        [rec] = await t.db.run(t.db.list_records)
        assert rec.created_by == "admin" and rec.updated_on == "node-a"

        edit = await t.client.get(f"/jw/web/records/{rec.id}")
        assert edit.status_code == 200 and "ada@example.org" in edit.text
        r = await t.client.post(
            f"/jw/web/records/{rec.id}",
            data={"_csrf": token, "name": "Ada", "email": "", "notes": "changed"},
        )
        assert r.status_code == 303
        got = await t.db.run(t.db.get_record, rec.id)
        assert got is not None and got.name == "Ada" and got.notes == "changed"

        invalid = await t.client.post(
            f"/jw/web/records/{rec.id}", data={"_csrf": token, "name": "", "email": "bad"}
        )
        assert invalid.status_code == 400
        assert "Name is required" in invalid.text and "not a valid address" in invalid.text
        forged = await t.client.post(f"/jw/web/records/{rec.id}/delete", data={"_csrf": "x"})
        assert forged.status_code == 403

        r = await t.client.post(f"/jw/web/records/{rec.id}/delete", data={"_csrf": token})
        assert r.status_code == 303
        assert await t.db.run(t.db.list_records) == []
        assert (await t.client.get(f"/jw/web/records/{rec.id}")).status_code == 404
        gone = await t.client.post(f"/jw/web/records/{rec.id}/delete", data={"_csrf": token})
        assert gone.status_code == 404


async def test_records_json_api(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        assert (await t.client.get("/jw/api/records")).status_code == 401
        await log_in(t.client)
        r = await t.client.post("/jw/api/records", json={"name": "Bob", "email": "b@x.org"})
        assert r.status_code == 201
        rec = r.json()
        assert set(rec) >= {"id", "name", "email", "notes", "created_at", "updated_at"}
        rid = rec["id"]
        r = await t.client.put(f"/jw/api/records/{rid}", json={"name": "Bob2", "notes": "hi"})
        assert r.json()["name"] == "Bob2" and r.json()["notes"] == "hi"
        assert (await t.client.get(f"/jw/api/records/{rid}")).json()["name"] == "Bob2"
        assert [x["id"] for x in (await t.client.get("/jw/api/records")).json()["records"]] == [rid]
        bad = await t.client.post("/jw/api/records", json={"name": ""})
        assert bad.status_code == 400 and "name" in bad.json()["fields"]
        assert (await t.client.delete(f"/jw/api/records/{rid}")).json() == {"deleted": rid}
        assert (await t.client.get(f"/jw/api/records/{rid}")).status_code == 404


# --- monitor -------------------------------------------------------------------------------------


async def test_monitor_lists_members_and_marks_current(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        t.cluster.fake_members = [
            Member.at("127.0.0.12", 4000, bytes(15) + b"\x0c", alive=5000),
            Member.at("127.0.0.21", 4009, bytes(15) + b"\x15", alive=9000),  # a Tomcat 9
        ]
        t.ctx.events.add(
            ClusterEvent(0.0, "INFO", "member_added", {"member": "tcp://127.0.0.12:4000"})
        )
        await log_in(t.client)
        r = await t.client.get("/jw/web/console/monitor/slogs")
        assert r.status_code == 200
        html = r.text
        assert "Cluster Nodes" in html
        assert html.count(">Current<") == 1
        current_row = re.search(r'<tr class="current">(.*?)</tr>', html, re.S)
        assert current_row and "node-a" in current_row.group(1)
        assert "127.0.0.11:4000" in current_row.group(1)
        for addr in ("127.0.0.12:4000", "127.0.0.21:4009"):
            assert addr in html
        assert "Tomcat 9.0" in html and "Tomcat 10.1+" in html
        assert "member_added" in html  # recent cluster events
        assert "Cluster Events" in html
        # the page counts its views in the session and remembers the node
        r = await t.client.get("/jw/web/console/monitor/slogs")
        assert 'id="hits">2<' in r.text and 'id="previous-node">node-a<' in r.text
        # auto refresh on request
        r = await t.client.get("/jw/web/console/monitor/slogs?refresh=2")
        assert '<meta http-equiv="refresh" content="2">' in r.text


async def test_monitor_shows_down_peers_and_labels_servers_by_what_is_known(
    tmp_path: Path,
) -> None:
    """Configured peers that are not members are listed as down (not dropped); a peer whose
    member payload says pytribes is labelled so, a Tomcat by the line it writes, a member
    whose line we do not know yet is not labelled at all; the page asks for no favicon."""
    async with app_client(tmp_path) as t:
        py_peer = Member.at("127.0.0.12", 4000, bytes(15) + b"\x0c", alive=5000)
        py_peer = dataclasses.replace(py_peer, payload=pytribes_payload("9.9"))
        tomcat9 = Member.at("127.0.0.21", 4009, bytes(15) + b"\x15", alive=9000)
        unknown = Member.at("127.0.0.22", 4000, bytes(15) + b"\x16", alive=100)
        down = Member.at("127.0.0.13", 4000, bytes(15) + b"\x0d")
        t.cluster.fake_members = [tomcat9, py_peer, unknown]
        t.cluster.node.static.peers = [py_peer, tomcat9, down]
        t.cluster.node.static.unknown = {unknown.key}
        body = (await t.client.get("/jw/api/cluster")).json()
        by_host = {m["host"]: m for m in body["members"]}
        assert [m["host"] for m in body["members"]] == [
            "127.0.0.11",
            "127.0.0.21",
            "127.0.0.12",
            "127.0.0.22",
            "127.0.0.13",
        ]
        assert (by_host["127.0.0.12"]["kind"], by_host["127.0.0.12"]["server"]) == (
            "pytribes",
            "pytribes 9.9",
        )
        assert (by_host["127.0.0.21"]["kind"], by_host["127.0.0.21"]["server"]) == (
            "tomcat",
            "Tomcat 9.0",
        )
        assert by_host["127.0.0.22"]["server"] is None and by_host["127.0.0.22"]["kind"] is None
        gone = by_host["127.0.0.13"]
        assert (gone["state"], gone["alive"], gone["server"]) == ("down", False, None)

        login_page = (await t.client.get("/jw/web/login")).text
        assert '<link rel="icon" href="data:,">' in login_page
        await log_in(t.client)
        html = (await t.client.get("/jw/web/console/monitor/slogs")).text
        row = re.search(r"<tr[^>]*>((?:(?!</tr>).)*127\.0\.0\.13:4000.*?)</tr>", html, re.S)
        assert row and 'class="badge down"' in row.group(1)
        assert "pytribes 9.9" in html and "Tomcat 9.0" in html
        assert '<link rel="icon" href="data:,">' in html


# --- JSON API contract -----------------------------------------------------------------------


async def test_api_session_contract(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        empty = (await t.client.get("/jw/api/session")).json()
        assert empty["id"] is None and empty["attributes"] == {} and empty["metadata"] is None

        cases = [
            ("s", {"value": "text", "type": "String"}, "java.lang.String", "text"),
            ("i", {"value": 42, "type": "Integer"}, "java.lang.Integer", 42),
            ("l", {"value": 42, "type": "Long"}, "java.lang.Long", 42),
            ("b", {"value": True, "type": "Boolean"}, "java.lang.Boolean", True),
            ("d", {"value": 1.5, "type": "Double"}, "java.lang.Double", 1.5),
            ("a", {"value": ["x", 1], "type": "ArrayList"}, "java.util.ArrayList", ["x", 1]),
            ("m", {"value": {"k": "v"}, "type": "HashMap"}, "java.util.HashMap", {"k": "v"}),
            ("n", {"value": 7}, "java.lang.Integer", 7),  # natural mapping without a type
            ("big", {"value": 1 << 40}, "java.lang.Long", 1 << 40),
        ]
        for name, body, jtype, value in cases:
            r = await t.client.put(f"/jw/api/session/attributes/{name}", json=body)
            assert r.status_code == 200, (name, r.text)
            attr = r.json()["attribute"]
            assert attr == {"name": name, "type": jtype, "value": value}, name

        raw = bytes(range(5))
        r = await t.client.put(
            "/jw/api/session/attributes/bytes",
            json={"value": base64.b64encode(raw).decode(), "type": "byte[]"},
        )
        assert r.json()["attribute"] == {
            "name": "bytes",
            "type": "[B",
            "value": base64.b64encode(raw).decode(),
            "encoding": "base64",
        }
        r = await t.client.put(
            "/jw/api/session/attributes/hex",
            json={"value": "00ff", "type": "byte[]", "encoding": "hex"},
        )
        assert r.json()["attribute"]["value"] == base64.b64encode(b"\x00\xff").decode()

        info = (await t.client.get("/jw/api/session")).json()
        assert re.fullmatch(r"[0-9A-F]{32}", info["id"])
        assert info["exists"] is True and info["node"] == "node-a"
        meta = info["metadata"]
        for key in (
            "creation_time",
            "last_accessed_time",
            "max_inactive_interval",
            "is_new",
            "is_valid",
            "is_primary",
            "principal",
            "auth_type",
        ):
            assert key in meta, key
        assert meta["max_inactive_interval"] == 1800 and meta["is_valid"] is True
        attrs = info["attributes"]
        assert attrs["l"]["type"] == "java.lang.Long" and attrs["bytes"]["type"] == "[B"
        assert set(attrs) == {c[0] for c in cases} | {"bytes", "hex"}

        # errors
        for body in (
            {"value": "x", "type": "Nope"},
            {"value": "x", "type": "Integer"},
            {"value": 1 << 40, "type": "Integer"},
            {"value": "!!", "type": "byte[]"},
            {"value": None},
            {"type": "String"},
            [1, 2],
        ):
            r = await t.client.put("/jw/api/session/attributes/e", json=body)
            assert r.status_code == 400, body
            assert "error" in r.json()
        r = await t.client.put(
            "/jw/api/session/attributes/e",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400

        r = await t.client.delete("/jw/api/session/attributes/s")
        assert r.status_code == 200 and r.json()["removed"] == "s"
        assert "s" not in r.json()["session"]["attributes"]
        assert (await t.client.delete("/jw/api/session/attributes/s")).status_code == 404

        r = await t.client.post("/jw/api/session/invalidate")
        assert r.json() == {"invalidated": True, "id": info["id"]}
        r = await t.client.post("/jw/api/session/invalidate")
        assert r.json() == {"invalidated": False, "id": None}


async def test_api_cluster_contract(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        t.cluster.fake_members = [Member.at("127.0.0.12", 4000, bytes(15) + b"\x0c", alive=5)]
        body = (await t.client.get("/jw/api/cluster")).json()
        local = body["local"]
        assert local["name"] == "node-a"
        assert local["host"] == "127.0.0.11" and local["port"] == 4000
        assert local["http_host"] == "127.0.0.11" and local["http_port"] == 8081
        members = body["members"]
        assert [(m["host"], m["port"]) for m in members] == [
            ("127.0.0.11", 4000),
            ("127.0.0.12", 4000),
        ]
        me, other = members
        assert me["current"] is True and me["local"] is True and me["state"] == "alive"
        assert other["current"] is False and other["state"] == "alive" and other["alive"] is True
        for m in members:
            assert {"name", "host", "port", "state", "alive", "version", "sessions"} <= set(m)
        assert body["manager"] == {"name": "localhost#/jw", "sessions": 0}


async def test_health(tmp_path: Path) -> None:
    async with app_client(tmp_path) as t:
        r = await t.client.get("/jw/health")
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "node": "node-a", "db": True}


@pytest.mark.parametrize(
    "content",
    [{"a": [1, 2.5, None, True]}, {"ü": "\u2028€\x00", "n": -(2**70)}, [], "x", 0],
)
def test_json_response_bytes_are_starlettes(content: object) -> None:
    """The shared-encoder JSONResponse renders exactly what Starlette's does."""
    mine, theirs = JSONResponse(content), StarletteJSONResponse(content)
    assert mine.body == theirs.body and mine.raw_headers == theirs.raw_headers
    with pytest.raises(ValueError):
        JSONResponse({"nan": float("nan")})


def test_no_two_routes_match_one_path(tmp_path: Path) -> None:
    """The routes are ordered for speed (the API first), which is safe only while no path
    matches two of them (then the order cannot change which one answers)."""
    db = Database(sqlite_url(tmp_path / "app.db"))
    app = create_app(AppContext(cluster=FakeCluster(), db=db, identity=NodeIdentity("n")))
    db.close()
    paths = [
        "/", "/jw/", "/jw/web/userview", "/jw/web/login", "/jw/web/logout",
        "/jw/web/account/password", "/jw/web/records", "/jw/web/records/new",
        "/jw/web/records/12", "/jw/web/records/12/delete", "/jw/web/console/monitor/slogs",
        "/jw/api/session", "/jw/api/session/invalidate", "/jw/api/session/attributes/x",
        "/jw/api/session/attributes/invalidate", "/jw/api/session/attributes/a/b",
        "/jw/api/cluster", "/jw/api/records", "/jw/api/records/3", "/jw/health",
    ]  # fmt: skip
    for path in paths:
        scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        matching = [r for r in app.routes if r.matches(scope)[0] is not Match.NONE]
        assert len(matching) == 1, (path, matching)
