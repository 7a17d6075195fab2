"""Through nginx (non-sticky round robin) in front of two pytribes nodes and MariaDB, each in
its own network namespace: the user logs in once, works with the records forms, and the monitor
page's "Current" node alternates while every request sees the same logged-in session."""

from __future__ import annotations

import itertools
import time

from tests.topology.conftest import USER, Stack


def test_login_records_and_monitor_through_round_robin(stack: Stack) -> None:
    user = stack.user()
    c = user.client

    # not logged in: the records page sends the browser to the login form
    r = c.get("/jw/web/records")
    assert r.status == 303
    assert "/jw/web/login" in (r.header("location") or "")

    user.login()
    sid = user.session_id

    # every JSON read sees the login, whichever node answers; the nodes take turns
    served = []
    for _ in range(6):
        data = user.session()
        served.append(data["node"])
        assert data["id"] == sid
        assert user.attribute(data, "username") == USER
        assert data["metadata"]["principal"] == USER
    assert set(served) == set(stack.nodes), served
    assert all(a != b for a, b in itertools.pairwise(served)), served

    # records: created and edited through the HTML forms, seen by both nodes (shared MariaDB)
    stamp = time.strftime("%H%M%S")
    name = f"Ada {stamp}"
    rid = user.create_record(name, email="ada@example.org", notes="first draft")
    user.edit_record(rid, notes="edited through the balancer", email="ada@lovelace.example")
    for _ in range(2):  # one list from each node
        listing = user.records_page()
        assert name in listing
        assert "ada@lovelace.example" in listing
        rec = next(x for x in user.records() if x["id"] == rid)
        assert rec["notes"] == "edited through the balancer"

    # the monitor page: Current alternates, the session (and its counter) is shared
    pages = [user.monitor() for _ in range(6)]
    currents = [p.current for p in pages]
    assert set(currents) == set(stack.nodes), currents
    assert all(a != b for a, b in itertools.pairwise(currents)), currents
    for prev, page in itertools.pairwise(pages):
        assert page.previous == prev.current, "lastNode written on the other node is seen"
        assert page.hits is not None and prev.hits is not None
        assert page.hits == prev.hits + 1, [p.hits for p in pages]
    for page in pages:
        assert page.session_id == sid
        assert page.current in page.current_row, page.current_row
        assert "Cluster Nodes" in page.html
        for other in stack.nodes.values():
            assert other.address in page.html, "both members listed"
    assert user.session_id == sid, "the session id never changed after the login"

    # the balancer really spread the requests (its own access log)
    assert stack.nginx is not None
    upstreams = {
        line.split("upstream=")[1].split()[0]
        for line in stack.nginx.access_log()
        if "upstream=" in line
    }
    assert {f"{n.http[0]}:{n.http[1]}" for n in stack.nodes.values()} <= upstreams
