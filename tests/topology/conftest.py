"""Fixtures of the topology tests: the seed's deployment (nginx round robin in front of pytribes
app nodes, one MariaDB) run for real, see tests/topology/harness.py and README.md here.

* ``stack`` -- the network-namespace topology, shared by the whole test session and checked
  healthy before each test: hosts ``db`` (10.231.X.5, MariaDB), ``n1`` / ``n2``
  (10.231.X.11/.12, ``pytribes node`` with ``--db mysql+pymysql://...``), the balancer in the
  root namespace on 127.0.0.1 (the bridge holds 10.231.X.1).  :class:`Stack` has
  ``cut/heal/kill/restart`` for the nodes.
* ``loopback_tools`` etc.: the ``require_*`` checks -- a missing nginx / MariaDB / Chromium /
  ``ip netns`` / root skips the test, and fails it under ``CI=true``.

When a test fails, the log tails of everything it used are printed (captured output of the
failing test).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import require
from tests.topology.harness import (
    AppNode,
    HarnessError,
    MariaDB,
    Nginx,
    Topology,
    Upstream,
    WebClient,
    chromium_binary,
    html_forms,
    netns_supported,
    wait_until,
)

#: The seed's ports: Tribes receivers on 4000, the app's HTTP on 8080, MySQL on 3306.
TRIBES_PORT = 4000
HTTP_PORT = 8080
DB_PORT = 3306
DB_NAME, DB_USER, DB_PASSWORD = "jwdb", "jwdb", "jwdb-secret"
USER, PASSWORD = "admin", "admin"


# --------------------------------------------------------------------------- requirements


def require_netns() -> None:
    why = netns_supported()
    require(why is None, f"network namespaces ({why})")


def require_nginx() -> None:
    import shutil

    require(
        (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")) is not None,
        "the program 'nginx'",
    )


def require_mariadb() -> None:
    missing = [n for n, p in MariaDB.programs().items() if p is None]
    require(not missing, f"MariaDB ({', '.join(missing)})")


def require_chromium() -> str:
    path = chromium_binary()
    require(path is not None, "the program 'chromium' (Debian package chromium)")
    assert path is not None
    return path


# --------------------------------------------------------------------------- failure reports


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


_LOG_SOURCES: list[Any] = []


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Prints the log tails of the topology's processes after a failing test."""
    mark = len(_LOG_SOURCES)
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed:
        del _LOG_SOURCES[mark:]
        return
    for src in list(_LOG_SOURCES):
        with contextlib.suppress(Exception):
            print(src.log_tails())
    del _LOG_SOURCES[mark:]


def register_logs(source: Any) -> None:
    """Something with ``log_tails() -> str`` whose logs matter when a test fails."""
    _LOG_SOURCES.append(source)


# --------------------------------------------------------------------------- the user


@dataclass
class User:
    """A person at the balancer: a browser-like client plus the app's pages."""

    client: WebClient
    seen: list[str] = field(default_factory=list)  # the node of every monitor page

    @property
    def session_id(self) -> str | None:
        return self.client.cookie("JSESSIONID")

    def login(self, username: str = USER, password: str = PASSWORD) -> None:
        r = self.client.post("/jw/web/login", form={"username": username, "password": password})
        assert r.status == 303, f"login: {r.status} {r.text[:300]}"
        assert self.session_id, "login set no JSESSIONID cookie"

    def session(self) -> dict[str, Any]:
        r = self.client.get("/jw/api/session")
        assert r.status == 200, f"/jw/api/session: {r.status} {r.text[:300]}"
        data: dict[str, Any] = r.json()
        return data

    def attribute(self, data: dict[str, Any], name: str) -> Any:
        a = data.get("attributes", {}).get(name)
        return None if a is None else a.get("value")

    def set_attribute(self, name: str, value: Any, java_type: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"value": value}
        if java_type:
            body["type"] = java_type
        r = self.client.put(f"/jw/api/session/attributes/{name}", json_body=body)
        assert r.status == 200, f"PUT attribute {name}: {r.status} {r.text[:300]}"
        data: dict[str, Any] = r.json()
        return data

    def monitor(self) -> MonitorPage:
        r = self.client.get("/jw/web/console/monitor/slogs")
        assert r.status == 200, (
            f"monitor page: {r.status} {r.header('location') or ''} {r.text[:300]}"
        )
        page = MonitorPage.parse(r.text)
        self.seen.append(page.current)
        return page

    def form_of(self, path: str, form_id: str) -> dict[str, Any]:
        r = self.client.get(path)
        assert r.status == 200, f"{path}: {r.status} {r.text[:300]}"
        forms = [f for f in html_forms(r.text) if f["id"] == form_id]
        assert forms, f"{path}: no form #{form_id}"
        return forms[0]

    def create_record(self, name: str, email: str = "", notes: str = "") -> int:
        form = self.form_of("/jw/web/records/new", "recordForm")
        fields = {**form["fields"], "name": name, "email": email, "notes": notes}
        r = self.client.post(form["action"], form=fields)
        assert r.status == 303, f"create record: {r.status} {r.text[:300]}"
        return self.record_id(name)

    def edit_record(self, record_id: int, **values: str) -> None:
        form = self.form_of(f"/jw/web/records/{record_id}", "recordForm")
        fields = {**form["fields"], **values}
        r = self.client.post(form["action"], form=fields)
        assert r.status == 303, f"edit record {record_id}: {r.status} {r.text[:300]}"

    def records(self) -> list[dict[str, Any]]:
        r = self.client.get("/jw/api/records")
        assert r.status == 200, f"/jw/api/records: {r.status} {r.text[:300]}"
        recs: list[dict[str, Any]] = r.json()["records"]
        return recs

    def records_page(self) -> str:
        r = self.client.get("/jw/web/records")
        assert r.status == 200, f"/jw/web/records: {r.status} {r.text[:300]}"
        return r.text

    def record_id(self, name: str) -> int:
        ids = [int(r["id"]) for r in self.records() if r.get("name") == name]
        assert ids, f"no record named {name!r}"
        return max(ids)


@dataclass
class MonitorPage:
    current: str  # the node that served it (#current-node)
    current_row: str  # text of the table row marked "Current"
    previous: str | None
    hits: int | None
    session_id: str | None
    html: str

    @classmethod
    def parse(cls, html: str) -> MonitorPage:
        def one(pattern: str) -> str | None:
            m = re.search(pattern, html, re.S)
            return m.group(1).strip() if m else None

        current = one(r'id="current-node"[^>]*>(.*?)<')
        assert current, f"monitor page without #current-node:\n{html[:2000]}"
        rows = re.findall(r"<tr[^>]*>.*?</tr>", html, re.S)
        marked = [r for r in rows if 'id="current-marker"' in r or ">Current<" in r]
        assert len(marked) == 1, f"{len(marked)} rows marked Current:\n{html[:3000]}"
        row_text = re.sub(r"<[^>]+>", " ", marked[0])
        hits = one(r'id="hits"[^>]*>(\d+)<')
        return cls(
            current=current,
            current_row=re.sub(r"\s+", " ", row_text).strip(),
            previous=one(r'id="previous-node"[^>]*>(.*?)<'),
            hits=int(hits) if hits else None,
            session_id=one(r'id="session-id"[^>]*>(.*?)<'),
            html=html,
        )


# --------------------------------------------------------------------------- the stack


class Stack:
    """db + n1 + n2 in namespaces, nginx on 127.0.0.1 in front of the nodes."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.topo: Topology | None = None
        self.db: MariaDB | None = None
        self.nodes: dict[str, AppNode] = {}
        self.nginx: Nginx | None = None
        self.timings: dict[str, float] = {}

    def build(self) -> None:
        t0 = time.monotonic()
        self.topo = topo = Topology()
        db_host = topo.add_host("db", 5)
        hosts = [topo.add_host("n1", 11), topo.add_host("n2", 12)]
        self.db = MariaDB(
            self.workdir / "mariadb", host=db_host.address, port=DB_PORT, netns=db_host.netns
        )
        self.db.start()
        url = self.db.create_database(DB_NAME, DB_USER, DB_PASSWORD)
        self.timings["db"] = time.monotonic() - t0
        members = [(h.address, TRIBES_PORT, i + 11) for i, h in enumerate(hosts)]
        for i, h in enumerate(hosts):
            name = f"node{i + 1}"
            self.nodes[name] = AppNode(
                name,
                self.workdir / name,
                bind=(h.address, TRIBES_PORT),
                http=(h.address, HTTP_PORT),
                members=members,
                unique_id=i + 11,
                db=url,
                netns=h.netns,
                env={"PYTRIBES_NODE_NAME": name},
            )
        # one after the other, as the seed's nodes come up: the second one's state transfer
        # needs the first one serving
        for node in self.nodes.values():
            node.start()
            node.wait_ready(60)
        self.wait_cluster()
        self.timings["nodes"] = time.monotonic() - t0
        self.nginx = Nginx(
            self.workdir / "nginx",
            [Upstream("pytribes", [n.http for n in self.nodes.values()])],
        )
        self.nginx.start()
        self.timings["ready"] = time.monotonic() - t0

    # --- the user's view ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self.nginx is not None
        return self.nginx.base_url

    def user(self) -> User:
        return User(WebClient(self.base_url))

    def node_of_host(self, node: str) -> str:
        return {"node1": "n1", "node2": "n2"}[node]

    # --- health ---------------------------------------------------------------------------------

    def wait_cluster(self, timeout: float = 30.0) -> None:
        """Every node sees every other node alive."""
        for name, node in self.nodes.items():
            others = {n.address for k, n in self.nodes.items() if k != name}
            node.wait_peers(others, timeout)

    def ensure_healthy(self) -> None:
        """Links up, every node running and in the cluster (after a test that broke things)."""
        assert self.topo is not None
        changed = False
        for name, node in self.nodes.items():
            host = self.node_of_host(name)
            if self.topo.is_cut(host):
                self.topo.heal(host)
                changed = True
            if not node.proc.running:
                node.start()
                node.wait_ready(60)
                changed = True
        if changed:
            self.wait_cluster(40)
        self.wait_round_robin(25 if changed else 15)

    def wait_round_robin(self, timeout: float) -> None:
        """Until two requests in a row through nginx reach both nodes (nginx takes a server it
        saw fail back only after its fail_timeout, 10 s by default)."""
        probe = WebClient(self.base_url, timeout=5)

        def both() -> bool:
            names = {probe.get("/jw/health").json().get("node") for _ in range(2)}
            return names == set(self.nodes)

        wait_until(both, timeout, "nginx round robin over both nodes", interval=0.5)

    def wait_balancer_uses_all(self, user: User, timeout: float = 20.0) -> None:
        """Until two monitor pages in a row come from different nodes (nginx takes a failed
        server back after its fail_timeout, 10 s by default)."""
        want = set(self.nodes)

        def both() -> bool:
            a, b = user.monitor().current, user.monitor().current
            return {a, b} == want

        wait_until(both, timeout, "the balancer alternates between both nodes", interval=0.5)

    # --- faults ---------------------------------------------------------------------------------

    def cut(self, node: str) -> None:
        assert self.topo is not None
        self.topo.cut(self.node_of_host(node))

    def heal(self, node: str) -> None:
        assert self.topo is not None
        self.topo.heal(self.node_of_host(node))

    def kill(self, node: str) -> None:
        self.nodes[node].kill()

    def restart(self, node: str) -> float:
        t0 = time.monotonic()
        n = self.nodes[node]
        n.start()
        n.wait_ready(60)
        return time.monotonic() - t0

    # --- reports --------------------------------------------------------------------------------

    def log_tails(self) -> str:
        parts = []
        if self.topo is not None:
            parts.append(f"topology: {self.topo.describe()}")
        for n in self.nodes.values():
            parts.append(n.proc.log_tail(60))
        if self.nginx is not None:
            parts.append(self.nginx.log_tail())
        if self.db is not None:
            parts.append(self.db.proc.log_tail(15))
        return "\n".join(parts)

    def close(self) -> None:
        errors: list[BaseException] = []
        for step in (
            *(n.stop for n in self.nodes.values()),
            *( [self.nginx.stop] if self.nginx else []),
            *( [self.db.stop] if self.db else []),
            *( [self.topo.close] if self.topo else []),
        ):  # fmt: skip
            try:
                step()
            except BaseException as e:
                errors.append(e)
        if errors:
            raise errors[0]


@pytest.fixture(scope="session")
def _stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_netns()
    require_nginx()
    require_mariadb()
    stack = Stack(tmp_path_factory.mktemp("topology"))
    try:
        try:
            stack.build()
        except (HarnessError, OSError) as e:
            raise HarnessError(f"{e}\n{stack.log_tails()}") from e
        (stack.workdir / "timings.json").write_text(json.dumps(stack.timings))
        yield stack
    finally:
        stack.close()


@pytest.fixture
def stack(_stack: Stack) -> Stack:
    """The shared namespace topology, healthy (links up, both nodes clustered)."""
    register_logs(_stack)
    _stack.ensure_healthy()
    return _stack
