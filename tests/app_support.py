"""Helpers for the app tests: an in-memory cluster with `open_cluster`'s surface (one real
`SessionManager`, no network), an app on it, and an httpx client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

from app.cluster import NodeIdentity
from app.db import Database, sqlite_url
from app.events import EventLog
from app.web import AppContext, create_app
from tribes.config import NodeConfig, ReceiverConfig
from tribes.session import Session, SessionManager
from tribes.wire.member import Member


@dataclass
class FakeStatic:
    """`StaticMembership`'s surface the monitor reads: the configured peers, and whether we
    know a member's Tomcat line (learned or configured)."""

    peers: list[Member] = field(default_factory=list)
    unknown: set[tuple[bytes, int, bytes]] = field(default_factory=set)

    def version_known(self, member: Member) -> bool:
        return member.key not in self.unknown


@dataclass
class FakeNode:
    config: NodeConfig
    static: FakeStatic = field(default_factory=FakeStatic)

    @property
    def local_member(self) -> Member:
        return self.config.local_member(alive=1234)

    @property
    def name(self) -> str:
        return self.config.local_name

    def version_of(self, member: Member) -> int:
        return 9 if member.port == 4009 else 10


class FakeCluster:
    """`open_cluster`'s surface over one local SessionManager.  `log` records the calls;
    `gate`, when set, holds `complete()` until it is set."""

    def __init__(self, host: str = "127.0.0.11", port: int = 4000) -> None:
        self._node = FakeNode(
            NodeConfig(unique_id=bytes(15) + b"\x0b", receiver=ReceiverConfig(host, port))
        )
        self._manager = SessionManager("localhost#/jw", tomcat_version=10)
        self.log: list[tuple[str, str]] = []
        self.gate: trio.Event | None = None
        self.fake_members: list[Member] = []

    @property
    def node(self) -> FakeNode:
        return self._node

    def members(self) -> list[Member]:
        return list(self.fake_members)

    def manager(self, context_path: str) -> SessionManager:
        assert context_path == "/jw"
        return self._manager

    def find_session(self, context_path: str, session_id: str | None) -> Session | None:
        s = self.manager(context_path).find_session(session_id)
        self.log.append(("find", str(session_id)))
        return s

    def create_session(self, context_path: str) -> Session:
        s = self.manager(context_path).create_session()
        self.log.append(("create", s.id))
        return s

    async def complete(self, session: Session) -> list[object]:
        self.log.append(("complete-start", session.id))
        if self.gate is not None:
            await self.gate.wait()
        await trio.sleep(0.01)
        session.manager.request_completed(session)
        self.log.append(("complete", session.id))
        return []

    async def invalidate(self, session: Session) -> list[object]:
        session.invalidate()
        self.log.append(("invalidate", session.id))
        return []

    async def change_session_id(self, session: Session, new_id: str | None = None) -> str:
        old = session.id
        new = session.manager.change_session_id(session, new_id)
        self.log.append(("change-id", f"{old}->{new}"))
        return new


@dataclass
class AppUnderTest:
    cluster: FakeCluster
    db: Database
    ctx: AppContext
    client: httpx.AsyncClient


@asynccontextmanager
async def app_client(tmp_path: Path, *, name: str = "node-a") -> AsyncIterator[AppUnderTest]:
    cluster = FakeCluster()
    db = Database(sqlite_url(tmp_path / "app.db"))
    await db.run(db.create_schema)
    ctx = AppContext(
        cluster=cluster,
        db=db,
        identity=NodeIdentity(name, "127.0.0.11", 8081),
        events=EventLog(local=("tcp://127.0.0.11:4000",)),
    )
    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.11:8081", follow_redirects=False
    ) as client:
        try:
            yield AppUnderTest(cluster, db, ctx, client)
        finally:
            db.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="_csrf" value="([^"]*)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


async def log_in(
    client: httpx.AsyncClient, username: str = "admin", password: str = "admin"
) -> httpx.Response:
    r = await client.post("/jw/web/login", data={"username": username, "password": password})
    assert r.status_code == 303, r.text
    return r
