"""End to end: two app nodes in this process, each a real `open_cluster` node with Hypercorn on
trio, on 127.0.0.11 / 127.0.0.12 (loopback), sharing one SQLite file.  A login on node 1 is a
login on node 2; every change is visible on the other node as soon as the response arrived
(no sleeping: the response is released after the replication was acknowledged)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import trio

from app.db import Database, sqlite_url
from app.events import EventLog
from app.serve import AppRuntime, make_event_log, serve_app
from tests.cluster_support import start_cluster, wait_for
from tests.support import common_port, uid_of
from tribes.config import (
    FailureDetectorConfig,
    ManagerConfig,
    MembershipConfig,
    NodeConfig,
    ReceiverConfig,
    StaticMemberConfig,
)
from tribes.net.cluster import Cluster

A, B = "127.0.0.11", "127.0.0.12"


def node_config(host: str, port: int, db_url: str) -> NodeConfig:
    return NodeConfig(
        unique_id=uid_of(host),
        receiver=ReceiverConfig(address=host, port=port),
        membership=MembershipConfig(
            expiration_time=1.5,
            connect_timeout=0.3,
            rpc_timeout=0.5,
            ping_interval=0.5,
            members=tuple(
                StaticMemberConfig(host=h, port=port, unique_id=uid_of(h))
                for h in (A, B)
                if h != host
            ),
        ),
        failure_detector=FailureDetectorConfig(connect_timeout=0.3),
        manager=ManagerConfig(state_transfer_timeout=5),
        http=(host, 0),
        db=db_url,
    )


@dataclass
class AppNode:
    cluster: Cluster
    runtime: AppRuntime
    url: str


@contextmanager
def event_log(cfg: NodeConfig) -> Iterator[EventLog]:
    events = make_event_log(cfg)
    try:
        yield events
    finally:
        events.uninstall()


@asynccontextmanager
async def two_nodes(tmp_path: Path) -> AsyncIterator[tuple[AppNode, AppNode]]:
    port = common_port(A, B)
    db_url = sqlite_url(tmp_path / "shared.db")
    with ExitStack() as stack:
        async with trio.open_nursery() as nursery:
            nodes = []
            for host, name in ((A, "node1"), (B, "node2")):
                cfg = node_config(host, port, db_url)
                # installed before the node starts, as `pytribes node --http` does
                events = stack.enter_context(event_log(cfg))
                running = await start_cluster(nursery, cfg)
                runtime: AppRuntime = await nursery.start(
                    partial(serve_app, running.cluster, cfg, name=name, events=events)
                )
                nodes.append(AppNode(running.cluster, runtime, runtime.binds[0]))
            n1, n2 = nodes
            await wait_for(
                lambda: len(n1.cluster.members()) == 1 and len(n2.cluster.members()) == 1
            )
            try:
                yield n1, n2
            finally:
                nursery.cancel_scope.cancel()


def sid_of(r: httpx.Response) -> str:
    m = re.search(r"JSESSIONID=([0-9A-F]{32})", r.headers.get("set-cookie", ""))
    assert m, r.headers
    return m.group(1)


async def test_one_login_two_nodes(tmp_path: Path) -> None:
    async with two_nodes(tmp_path) as (n1, n2), httpx.AsyncClient(timeout=10) as c:
        assert n1.url.startswith(f"http://{A}:") and n2.url.startswith(f"http://{B}:")

        # both nodes see both members, each marking itself current
        for node, host, name in ((n1, A, "node1"), (n2, B, "node2")):
            body = (await c.get(f"{node.url}/jw/api/cluster")).json()
            assert body["local"]["host"] == host and body["local"]["name"] == name
            assert {m["host"] for m in body["members"]} == {A, B}
            assert [m["host"] for m in body["members"] if m["current"]] == [host]
            assert all(m["state"] == "alive" for m in body["members"])

        # an anonymous session on node 2, then a login on node 1: the id changes everywhere
        r = await c.put(f"{n2.url}/jw/api/session/attributes/cart", json={"value": ["a"]})
        anon = sid_of(r)
        r = await c.post(
            f"{n1.url}/jw/web/login?next=/jw/web/records",
            data={"username": "admin", "password": "admin"},
            headers={"Cookie": f"JSESSIONID={anon}"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/jw/web/records"
        sid = sid_of(r)
        assert sid != anon
        cookie = {"Cookie": f"JSESSIONID={sid}"}
        assert anon not in n2.cluster.manager("/jw")

        # node 2 knows the login at once
        info = (await c.get(f"{n2.url}/jw/api/session", headers=cookie)).json()
        assert info["id"] == sid
        assert info["attributes"]["username"] == {
            "name": "username",
            "type": "java.lang.String",
            "value": "admin",
        }
        assert info["attributes"]["cart"]["value"] == ["a"]
        assert info["attributes"]["loginNode"]["value"] == "node1"
        assert info["metadata"]["principal"] == "admin"
        r = await c.get(f"{n2.url}/jw/web/userview", headers=cookie)
        assert r.status_code == 200 and 'id="current-node">node2<' in r.text

        # a write on one node is readable on the other right after the response
        for i in range(20):
            writer, reader = (n1, n2) if i % 2 else (n2, n1)
            r = await c.put(
                f"{writer.url}/jw/api/session/attributes/counter",
                json={"value": i, "type": "Long"},
                headers=cookie,
            )
            assert r.status_code == 200
            got = (await c.get(f"{reader.url}/jw/api/session", headers=cookie)).json()
            assert got["attributes"]["counter"] == {
                "name": "counter",
                "type": "java.lang.Long",
                "value": i,
            }

        # records: one shared database
        page = await c.get(f"{n1.url}/jw/web/records/new", headers=cookie)
        token = re.search(r'name="_csrf" value="([^"]*)"', page.text)
        assert token
        r = await c.post(
            f"{n1.url}/jw/web/records",
            data={"_csrf": token.group(1), "name": "Shared", "email": "s@x.org", "notes": ""},
            headers=cookie,
        )
        assert r.status_code == 303
        listing = await c.get(f"{n2.url}/jw/web/records", headers=cookie)
        assert "Shared" in listing.text and "node1" in listing.text

        # the monitor page alternates with the node that served it
        for node, name in ((n1, "node1"), (n2, "node2"), (n1, "node1")):
            html = (await c.get(f"{node.url}/jw/web/console/monitor/slogs", headers=cookie)).text
            row = re.search(r'<tr class="current">(.*?)</tr>', html, re.S)
            assert row and name in row.group(1)
            assert "member_added" in html or "state_transfer_done" in html
        assert 'id="previous-node">node2<' in html

        # logout on node 2 ends the session on node 1
        r = await c.post(f"{n2.url}/jw/web/logout", data={"_csrf": token.group(1)}, headers=cookie)
        assert r.status_code == 303
        assert sid not in n1.cluster.manager("/jw")
        r = await c.get(f"{n1.url}/jw/web/userview", headers=cookie)
        assert r.status_code == 303


async def test_the_database_schema_is_shared(tmp_path: Path) -> None:
    async with two_nodes(tmp_path) as (n1, n2):
        db = Database(sqlite_url(tmp_path / "shared.db"))
        assert db.authenticate("admin", "admin") is not None  # created once
        assert n1.runtime.context.db.url == n2.runtime.context.db.url
        db.close()
