"""One pytribes node and one real Tomcat 9.0.70 node (tests/interop's harness, serving the test
webapp at /jw/t/...) in one cluster behind one nginx share one login session.

nginx sends ``/jw/t/`` to Tomcat (the only node with the test webapp) and the rest of ``/jw`` to
pytribes (the only node with the app): one site, one ``JSESSIONID`` cookie (path ``/jw``), two
implementations.  The login the Python app does is read by the Java webapp, and attributes the
Java webapp sets are read by the Python app.  Loopback only (the Tomcat harness takes 127.x):
Tomcat 127.0.0.61, pytribes 127.0.0.62, nginx 127.0.0.60.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import require_tomcat
from tests.interop.tomcat import StaticMemberSpec, TomcatNode, from_typed
from tests.topology.conftest import (
    USER,
    User,
    register_logs,
    require_nginx,
)
from tests.topology.harness import AppNode, Nginx, Upstream, WebClient, free_port, wait_until

TOMCAT_ADDR, PY_ADDR, LB_ADDR = "127.0.0.61", "127.0.0.62", "127.0.0.60"
TRIBES_PORT, HTTP_PORT = 4000, 8080


@dataclass
class Mixed:
    tomcat: TomcatNode
    node: AppNode
    nginx: Nginx

    def log_tails(self) -> str:
        return "\n".join(
            [
                f"--- tomcat ({self.tomcat.log_path}) ---\n" + self.tomcat.log_tail(60),
                self.node.proc.log_tail(60),
                self.nginx.log_tail(),
            ]
        )

    def user(self) -> User:
        return User(WebClient(self.nginx.base_url))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    require_tomcat(9)
    require_nginx()
    base: Path = tmp_path_factory.mktemp("mixed")
    py_spec = StaticMemberSpec(PY_ADDR, TRIBES_PORT)  # uniqueId {0,...,0,62}
    tomcat = TomcatNode(
        9,
        TOMCAT_ADDR,
        work_dir=base / "tomcat",
        http_port=HTTP_PORT,
        tribes_port=TRIBES_PORT,
        members=[py_spec],
        # the same context as the app: sessions of "localhost#/jw"
        manager_attributes={"stateTransferTimeout": 10},
    )
    node = AppNode(
        "pytribes",
        base / "pytribes",
        bind=(PY_ADDR, TRIBES_PORT),
        http=(PY_ADDR, HTTP_PORT),
        members=[(TOMCAT_ADDR, TRIBES_PORT, 61), (PY_ADDR, TRIBES_PORT, 62)],
        unique_id=62,
        db=f"sqlite:///{base / 'app.db'}",
        extra_args=["--tomcat-version", "9"],
        env={"PYTRIBES_NODE_NAME": "pytribes"},
    )
    nginx = Nginx(
        base / "nginx",
        [
            Upstream("pytribes", [(PY_ADDR, HTTP_PORT)]),
            Upstream("tomcat", [(TOMCAT_ADDR, HTTP_PORT)]),
        ],
        listen=(LB_ADDR, free_port(LB_ADDR)),
        routes={"/jw/t/": "tomcat", "/": "pytribes"},
    )
    m = Mixed(tomcat, node, nginx)
    try:
        tomcat.start()
        tomcat.wait_ready(90)
        node.start()
        node.wait_ready(60)
        node.wait_peers({TOMCAT_ADDR}, 30)
        tomcat.wait_members([py_spec], 30)
        nginx.start()
        yield m
    except BaseException:
        print(m.log_tails())
        raise
    finally:
        for step in (nginx.stop, node.stop, tomcat.close):
            with contextlib.suppress(Exception):
                step()


def _tomcat_session(user: User) -> dict[str, Any]:
    """The session as the Java webapp sees it (through nginx, the user's cookie)."""
    r = user.client.get("/jw/t/session?create=0")
    assert r.status == 200, f"/jw/t/session: {r.status} {r.text[:300]}"
    body = r.json()
    assert body["node"] == f"{TOMCAT_ADDR}:{HTTP_PORT}", "nginx sent /jw/t/ to Tomcat"
    s: dict[str, Any] = body["session"]
    assert s is not None, "Tomcat does not know the session"
    return s


def test_python_login_is_read_by_tomcat_and_tomcat_writes_are_read_by_python(
    mixed: Mixed,
) -> None:
    register_logs(mixed)
    user = mixed.user()
    user.login()
    sid = user.session_id

    # Java reads what the Python login wrote: same id, String/ArrayList/Long attributes,
    # the principal
    s = _tomcat_session(user)
    assert s["id"] == sid
    attrs = s["attributes"]
    assert attrs["username"] == {"class": "java.lang.String", "value": USER}
    assert attrs["loginNode"]["value"] == "pytribes"
    assert attrs["roles"]["class"] == "java.util.ArrayList"
    assert from_typed(attrs["roles"]) == ["admin"]
    assert attrs["loginTime"]["class"] == "java.lang.Long"
    assert s["principal"] is not None and s["principal"]["name"] == USER

    # Python writes a typed value through the JSON API; Java reads it
    user.set_attribute("fromPython", 7, "Long")
    s = _tomcat_session(user)
    assert s["attributes"]["fromPython"] == {"class": "java.lang.Long", "value": 7}

    # Java writes (the test webapp's /set through nginx); Python reads
    r = user.client.get("/jw/t/set?name=color&value=blue")
    assert r.status == 200, r.text[:300]
    r = user.client.get("/jw/t/set?name=count&type=Integer&value=42")
    assert r.status == 200, r.text[:300]
    data = user.session()
    assert data["node"] == "pytribes"
    assert data["id"] == sid
    assert data["attributes"]["color"]["value"] == "blue"
    assert data["attributes"]["count"]["value"] == 42
    assert "Integer" in data["attributes"]["count"]["type"]
    assert user.attribute(data, "username") == USER

    # the app's pages still see the user logged in, and the monitor page lists the Tomcat peer
    page = user.monitor()
    assert page.current == "pytribes"
    assert TOMCAT_ADDR in page.html
    assert user.session_id == sid, "one cookie throughout"

    # Java removes an attribute; Python no longer sees it
    r = user.client.get("/jw/t/remove?name=color")
    assert r.status == 200, r.text[:300]
    wait_until(
        lambda: "color" not in user.session()["attributes"],
        5,
        "pytribes sees the removal made on Tomcat",
    )
