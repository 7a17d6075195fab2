"""Node 1 goes away -- its network link cut (the seed's ``docker network disconnect``), or
``kill -9`` -- while the user keeps working through nginx: still logged in, records intact
(MariaDB on its own host), every page from node 2.  Node 1 comes back (link up / restart),
catches up with what happened meanwhile, and serves the same session again."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from tests.topology.conftest import TRIBES_PORT, USER, MonitorPage, Stack, User
from tests.topology.harness import wait_until

#: Longest a single request may take while a node is gone: nginx's 2 s connect timeout on the
#: first try, plus the surviving node waiting (sender timeout) for the gone one's ACK until the
#: failure detector drops it.  Anything longer is an outage the user notices.
MAX_REQUEST_SECONDS = 10.0


def _work_while_node1_is_gone(stack: Stack, user: User, tag: str) -> dict[str, Any]:
    """A few minutes of a user's work, compressed: monitor pages, a session change, a new
    record.  Every page is served (by node 2) and the user stays logged in."""
    sid = user.session_id
    t0 = time.monotonic()
    slowest = 0.0
    pages = []
    for _ in range(4):
        page = user.monitor()
        pages.append(page)
        slowest = max(slowest, user.client.history[-1].elapsed)
    data = user.set_attribute("cart", f"{tag}-during", "String")
    slowest = max(slowest, user.client.history[-1].elapsed)
    record = f"{tag} record {time.strftime('%H%M%S')}"
    user.create_record(record, notes=f"written while node1 was {tag}")
    for _ in range(3):
        pages.append(user.monitor())
        slowest = max(slowest, user.client.history[-1].elapsed)
    assert {p.current for p in pages} == {"node2"}, [p.current for p in pages]
    assert all(p.session_id == sid for p in pages)
    assert user.session_id == sid
    assert data["session"]["id"] == sid
    assert slowest < MAX_REQUEST_SECONDS, f"a request took {slowest:.1f} s"
    return {"record": record, "seconds": time.monotonic() - t0, "slowest": slowest}


def _node_rows(page: MonitorPage) -> dict[str, str]:
    """The monitor's "Cluster Nodes" rows as text, by Tribes address ("host:port")."""
    rows = {}
    for row in re.findall(r"<tr[^>]*>.*?</tr>", page.html, re.S):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        addr = re.search(r"\b(\d+\.\d+\.\d+\.\d+:\d+)\b", text)
        if addr:
            rows.setdefault(addr.group(1), text)
    return rows


def _monitor_shows(stack: Stack, page: MonitorPage, node: str, *words: str) -> None:
    row = _node_rows(page).get(f"{stack.nodes[node].address}:{TRIBES_PORT}")
    assert row is not None, f"no row for {node} on the monitor page:\n{page.html[:3000]}"
    for word in words:
        assert word in row, f"{node}'s row lacks {word!r}: {row}"


def _node1_caught_up(stack: Stack, user: User, tag: str, record: str) -> None:
    """Node 1, asked directly with the user's cookie, holds the session as node 2 left it."""
    node1 = stack.nodes["node1"]
    direct = node1.client()
    direct.cookies = dict(user.client.cookies)

    def caught_up() -> bool:
        r = direct.get("/jw/api/session", timeout=5)
        if r.status != 200:
            return False
        data = r.json()
        attrs = data.get("attributes", {})
        return bool(
            data.get("id") == user.session_id
            and attrs.get("username", {}).get("value") == USER
            and attrs.get("cart", {}).get("value") == f"{tag}-during"
        )

    wait_until(
        caught_up,
        20,
        f"node1 holds the session changes made while it was {tag}",
        interval=0.5,
        detail=lambda: direct.get("/jw/api/session").text[:2000],
    )
    r = direct.get("/jw/api/records")
    assert r.status == 200
    assert record in [x["name"] for x in r.json()["records"]]


def _back_in_rotation(stack: Stack, user: User, *, continuous: bool = True) -> None:
    """Both nodes serve again, the same logged-in session; with ``continuous``, its monitor
    counter and "previous node" carry on across the nodes (nothing stale anywhere)."""
    sid = user.session_id
    stack.wait_balancer_uses_all(user, timeout=25)
    pages = [user.monitor() for _ in range(4)]
    assert {p.current for p in pages} == {"node1", "node2"}
    for page in pages:  # each node lists the other as an alive pytribes peer
        other = "node2" if page.current == "node1" else "node1"
        _monitor_shows(stack, page, other, "alive", "pytribes")
    for prev, page in itertools.pairwise(pages):
        assert page.session_id == sid
        if continuous:
            assert page.previous == prev.current
            assert page.hits == (prev.hits or 0) + 1, [p.hits for p in pages]
    for _ in range(2):  # one from each node
        data = user.session()
        assert data["id"] == sid
        assert user.attribute(data, "username") == USER


def _cut_and_heal(stack: Stack, user: User) -> dict[str, Any]:
    user.login()
    user.set_attribute("cart", "before", "String")
    stack.wait_balancer_uses_all(user)
    stack.cut("node1")
    try:
        work = _work_while_node1_is_gone(stack, user, "cut")
        # node 2's failure detector drops node 1 (~5-6 s after the cut, OBSERVED.md)
        t0 = time.monotonic()
        stack.nodes["node2"].wait_peers(set(), 30)
        work["dropped_after_work"] = time.monotonic() - t0
        # node 2's monitor still lists the cut-off node 1, as down
        page = user.monitor()
        assert page.current == "node2"
        _monitor_shows(stack, page, "node1", "down")
    finally:
        stack.heal("node1")
    t0 = time.monotonic()
    stack.wait_cluster(30)
    work["rejoined"] = time.monotonic() - t0
    print(f"link cut: {work}")
    return work


def test_link_cut_node1_user_keeps_working_then_heal(stack: Stack) -> None:
    """The user never notices the cut: logged in, every page served (by node 2), and after the
    heal both nodes serve the same logged-in session again."""
    user = stack.user()
    _cut_and_heal(stack, user)
    _back_in_rotation(stack, user, continuous=False)


def test_link_cut_node1_catches_up_after_heal(stack: Stack) -> None:
    """What changed in the session while node 1 was cut off reaches node 1 once the link is
    back, so it never serves a stale copy (Tomcat's DeltaManager only transfers state at
    start-up; a rejoining member has to be brought up to date too)."""
    user = stack.user()
    work = _cut_and_heal(stack, user)
    _node1_caught_up(stack, user, "cut", work["record"])
    _back_in_rotation(stack, user)


def test_kill_9_node1_then_restart(stack: Stack) -> None:
    user = stack.user()
    user.login()
    user.set_attribute("cart", "before", "String")
    stack.wait_balancer_uses_all(user)

    stack.kill("node1")
    work = _work_while_node1_is_gone(stack, user, "killed")
    # restart only once node 2 has dropped it (otherwise the restart is invisible to it,
    # OBSERVED.md "Restarting too fast hides the restart")
    stack.nodes["node2"].wait_peers(set(), 30)
    _monitor_shows(stack, user.monitor(), "node1", "down")
    seconds = stack.restart("node1")
    print(f"node1 restarted (state transfer included) in {seconds:.1f} s; {work}")
    stack.wait_cluster(30)
    _node1_caught_up(stack, user, "killed", work["record"])
    _back_in_rotation(stack, user)
