"""A real browser (headless Chromium, driven over the DevTools protocol) at the balancer: the
login form, a new record through the records form, the monitor page reloaded until "Current"
changes.  Screenshots go to ``artifacts/`` (git-ignored) and to the test's tmp dir."""

from __future__ import annotations

import time
from pathlib import Path

from tests.topology.conftest import PASSWORD, USER, Stack, register_logs, require_chromium
from tests.topology.harness import Chromium, save_artifact


def test_chromium_logs_in_creates_a_record_and_watches_current_switch(
    stack: Stack, tmp_path: Path
) -> None:
    binary = require_chromium()
    base = stack.base_url
    shots: list[Path] = []

    def shot(page_name: str, page: object) -> None:
        p = tmp_path / f"topology-{page_name}.png"
        page.screenshot(p)  # type: ignore[attr-defined]
        assert p.stat().st_size > 5000, "an empty screenshot"
        shots.append(p)
        save_artifact(p, p.name)

    with Chromium(tmp_path / "chromium", binary) as browser:
        register_logs(browser)
        page = browser.new_page()

        # a protected page sends the browser to the login form
        page.goto(f"{base}/jw/web/records")
        assert "/jw/web/login" in page.url
        page.fill("#username", USER)
        page.fill("#password", PASSWORD)
        with page.navigation():
            page.submit("#loginForm")
        assert page.url.startswith(f"{base}/jw/web/records"), page.url
        assert "Records" in page.text()
        cookies = {c["name"]: c for c in page.cookies()}
        assert "JSESSIONID" in cookies and cookies["JSESSIONID"]["httpOnly"]
        sid = cookies["JSESSIONID"]["value"]

        # a new record through the form
        name = f"Grace {time.strftime('%H%M%S')}"
        with page.navigation():
            page.click("#new-record")
        page.fill("#name", name)
        page.fill("#email", "grace@example.org")
        page.fill("#notes", "typed into a real browser")
        with page.navigation():
            page.submit("#recordForm")
        assert page.url.endswith("/jw/web/records"), page.url
        assert name in page.text()
        shot("records", page)

        # the monitor page: reloads are served by both nodes in turn, one session.  Not
        # strictly alternating: the browser's own requests (/favicon.ico) also go through the
        # round robin, so two reloads in a row may land on the same node.
        page.goto(f"{base}/jw/web/console/monitor/slogs")

        def read(sel: str) -> str:
            return str(page.evaluate(f"document.querySelector('{sel}')?.textContent ?? ''"))

        seen = [read("#current-node")]
        for _ in range(8):
            page.reload()
            assert read("#previous-node") == seen[-1], "the previous page's node, replicated"
            seen.append(read("#current-node"))
            assert read("#session-id") == sid
            if len(seen) >= 4 and set(seen) == set(stack.nodes) and seen[-1] != seen[-2]:
                break
        assert set(seen) == set(stack.nodes), seen
        assert seen[-1] != seen[-2], seen
        text = page.text()
        assert "Cluster Nodes" in text
        assert "Current" in text
        for node in stack.nodes.values():
            assert node.address in text
        marked = page.evaluate("document.querySelector('#current-marker').closest('tr').innerText")
        assert seen[-1] in marked
        assert {c["name"]: c for c in page.cookies()}["JSESSIONID"]["value"] == sid
        shot("monitor", page)
        # and once more, after the switch shown above, for the other node's view
        page.reload()
        assert read("#previous-node") == seen[-1]
        shot("monitor-after-reload", page)
        assert stack.nginx is not None
        favicons = sum("/favicon.ico" in line for line in stack.nginx.access_log())
        print(f"Current over {len(seen)} monitor pages: {seen}; /favicon.ico requests: {favicons}")

    print("screenshots:", *shots, sep="\n  ")


def test_chromium_keeps_working_while_node1_is_cut_off(stack: Stack, tmp_path: Path) -> None:
    """The user's story in the browser: node 1's link goes down (the seed's
    ``docker network disconnect``); the user, already logged in, keeps reloading the monitor
    page and adds a record without noticing -- every page from node 2, still signed in."""
    binary = require_chromium()
    base = stack.base_url
    with Chromium(tmp_path / "chromium", binary) as browser:
        register_logs(browser)
        page = browser.new_page()
        page.goto(f"{base}/jw/web/login")
        page.fill("#username", USER)
        page.fill("#password", PASSWORD)
        with page.navigation():
            page.submit("#loginForm")
        page.goto(f"{base}/jw/web/console/monitor/slogs")
        sid = page.evaluate("document.querySelector('#session-id').textContent")

        stack.cut("node1")
        try:
            currents = []
            for _ in range(3):
                page.reload()
                assert f"Signed in as {USER}" in page.text()
                currents.append(
                    page.evaluate("document.querySelector('#current-node').textContent")
                )
                assert page.evaluate("document.querySelector('#session-id').textContent") == sid
            assert currents == ["node2"] * 3, currents
            name = f"Cut {time.strftime('%H%M%S')}"
            page.goto(f"{base}/jw/web/records/new")
            page.fill("#name", name)
            page.fill("#notes", "added while node1 was cut off")
            with page.navigation():
                page.submit("#recordForm")
            assert name in page.text()
            # once node 2 has dropped node 1, its Cluster Nodes table no longer shows it alive
            stack.nodes["node2"].wait_peers(set(), 30)
            page.goto(f"{base}/jw/web/console/monitor/slogs")
            p = page.screenshot(tmp_path / "topology-monitor-node1-cut.png")
            save_artifact(p, p.name)
            rows = page.evaluate(
                "[...document.querySelector('table').querySelectorAll('tr')].map(r => r.innerText)"
            )
            node1 = [r for r in rows if stack.nodes["node1"].address in r]
            assert all("alive" not in r for r in node1), rows
            assert any("node2" in r and "Current" in r for r in rows), rows
        finally:
            stack.heal("node1")
