"""`pytribes decode --pcap` on a capture of two real Tomcat nodes replicating sessions.

The capture is recorded by the test suite itself (tests/interop/capture.py): membership forming,
a session created and changed from both nodes, an id change, an invalidation, a login, and a
restart with state transfer.  Every frame must decode, and what the scenario did must be visible
in the decoded messages.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

from tests.interop.capture import PairCapture


def _decode(cap: PairCapture) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tribes.cli",
            "decode",
            "--pcap",
            str(cap.pcap),
            "--json",
            "--strict",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _matches(expected: Any, got: Any) -> bool:
    """The webapp's plain value (tests/interop/tomcat.py from_typed) vs our JSON rendering."""
    if isinstance(expected, bytes):
        return got == expected.hex()
    if isinstance(expected, float):
        return isinstance(got, int | float) and math.isclose(expected, got)
    if isinstance(expected, int) and isinstance(got, str):  # java.util.Date: ms vs ISO text
        return round(datetime.fromisoformat(got).timestamp() * 1000) == expected
    if isinstance(expected, dict) and isinstance(got, dict) and "fields" in got:
        return all(_matches(v, got["fields"].get(k)) for k, v in expected.items())
    if isinstance(expected, dict) and isinstance(got, dict):
        return set(expected) == set(got) and all(_matches(v, got[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(map(_matches, expected, got))
    return bool(expected == got)


@pytest.mark.interop
@pytest.mark.parametrize("which", ["tomcat_pair_capture", "tomcat10_pair_capture"])
def test_decode_real_tomcat_capture(which: str, request: pytest.FixtureRequest) -> None:
    cap: PairCapture = request.getfixturevalue(which)
    records = _decode(cap)

    problems = [
        r
        for r in records
        if r["kind"] in ("error", "incomplete")
        or r.get("message", {}).get("type") == "undecoded"
        or "payload_error" in r.get("message", {})
    ]
    assert problems == []
    packages = [r for r in records if r["kind"] == "package"]
    assert len(packages) > 50
    assert any(r["kind"] == "ack" for r in records)
    members = {(r["member"]["host"], r["member"]["port"]) for r in packages}
    assert members == {(spec.host, spec.port) for spec in cap.nodes.values()}

    msgs = [r["message"] for r in packages]
    types = {m["type"] for m in msgs}
    assert {"rpc", "member_message", "fail_detect", "session_message"} <= types
    membership = {
        (m.get("message") or {}).get("msgtype")
        for m in msgs
        if m["type"] == "rpc" and (m.get("message") or {}).get("type") == "member_message"
    }
    assert {"MSG_START", "MSG_PING"} <= membership
    stops = [m for m in msgs if m["type"] == "member_message" and m["msgtype"] == "MSG_STOP"]
    assert stops and all(m["member"]["command"] == "BABY-ALEX" for m in stops)
    assert all(m["rpc_id"] == cap.membership_name for m in msgs if m["type"] == "rpc")

    sm = [m for m in msgs if m["type"] == "session_message"]
    assert {m["context"] for m in sm} == {cap.manager_name}
    events = {m["event"] for m in sm}
    assert {
        "EVT_SESSION_CREATED",
        "EVT_SESSION_DELTA",
        "EVT_CHANGE_SESSION_ID",
        "EVT_SESSION_EXPIRED",
        "EVT_GET_ALL_SESSIONS",
        "EVT_ALL_SESSION_DATA",
        "EVT_ALL_SESSION_TRANSFERCOMPLETE",
    } <= events

    s = cap.sessions
    changes = [m for m in sm if m["event"] == "EVT_CHANGE_SESSION_ID"]
    assert any(
        m["session_id"] == s["s1"] and m["new_session_id"] == s["s1_changed"] for m in changes
    )
    assert any(
        m["event"] == "EVT_SESSION_EXPIRED" and m["session_id"] == s["s1_changed"] for m in sm
    )

    # Every attribute value the scenario set is in a decoded delta, with its Java type.
    actions: dict[str, list[dict[str, Any]]] = {}
    for m in sm:
        if m["event"] == "EVT_SESSION_DELTA":
            actions.setdefault(m["delta"]["session_id"], []).extend(m["delta"]["actions"])
    label_ids = {"s1": [s["s1"], s["s1_changed"]], "s1_changed": [s["s1"], s["s1_changed"]]}
    for label, attrs in cap.final_attributes.items():
        ids = label_ids.get(label, [s[label]])
        sets = [a for sid in ids for a in actions.get(sid, []) if a["action"] == "SET"]
        for name, (java_class, value) in attrs.items():
            assert any(
                a["name"] == name
                and a["value"]["java_type"] == java_class
                and _matches(value, a["value"]["value"])
                for a in sets
            ), (label, name, java_class, value)
    for label, names in cap.removed.items():
        ids = label_ids.get(label, [s[label]])
        removes = {
            a["name"] for sid in ids for a in actions.get(sid, []) if a["action"] == "REMOVE"
        }
        assert set(names) <= removes

    # The restarted node received the live sessions in the state transfer, attributes and all.
    transferred = {
        sess["id"]: sess
        for m in sm
        if m["event"] == "EVT_ALL_SESSION_DATA"
        for sess in m["sessions"]
    }
    for label in ("s2", "s3"):
        sess = transferred[s[label]]
        for name, (java_class, value) in cap.final_attributes.get(label, {}).items():
            got = sess["attributes"][name]
            assert got["java_type"] == java_class and _matches(value, got["value"]), (label, name)
    for label, user in cap.principals.items():
        assert transferred[s[label]]["principal"]["name"] == user
