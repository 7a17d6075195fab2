"""The real-Tomcat harness works: both versions start, cluster, replicate typed attributes, and
the capture fixtures record Tribes frames in both directions."""

from __future__ import annotations

import functools
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from tests.interop.capture import (
    FRAME_START,
    PairCapture,
    read_tcp_segments,
    record,
    split_frames,
    tcp_streams,
)
from tests.interop.conftest import require_tcpdump
from tests.interop.tomcat import (
    DISTS,
    MANAGER_NAME,
    TomcatNode,
    WebappBuild,
    from_typed,
    typed,
)

pytestmark = pytest.mark.interop

# Own loopback addresses so that this module never collides with the capture fixture's
# 127.0.0.11/.12 (session scoped) nor with a pytribes node on 127.0.0.13.
PAIR_ADDRESSES = {9: ("127.0.0.21", "127.0.0.22"), 10: ("127.0.0.31", "127.0.0.32")}


@pytest.fixture(scope="module", params=[9, 10], ids=["tomcat9", "tomcat10"])
def pair(
    request: pytest.FixtureRequest, module_tomcat_cluster: Callable[..., list[TomcatNode]]
) -> Iterator[list[TomcatNode]]:
    """A running two-node cluster, shared by the tests of one version (stopped before the
    other version's pair starts)."""
    nodes = module_tomcat_cluster(request.param, PAIR_ADDRESSES[request.param])
    yield nodes
    for n in nodes:
        n.close()


# --------------------------------------------------------------------------- build


@pytest.mark.parametrize("version", [9, 10])
def test_webapp_is_built_for_the_right_servlet_api(
    version: int, tomcat_webapps: Callable[[int], WebappBuild]
) -> None:
    build = tomcat_webapps(version)
    servlet = (build.directory / "WEB-INF/classes/lab/JwServlet.class").read_bytes()
    want, other = (
        (b"javax/servlet/", b"jakarta/servlet/")
        if version == 9
        else (b"jakarta/servlet/", b"javax/servlet/")
    )
    assert want in servlet and other not in servlet
    web_xml = (build.directory / "WEB-INF/web.xml").read_text()
    assert "<distributable/>" in web_xml
    assert ("jakarta.ee" in web_xml) == (version == 10)
    assert build.war.stat().st_size > 1000
    for cls in ("Pojo", "BasePojo", "Typed", "Json"):
        assert (build.directory / f"WEB-INF/classes/lab/{cls}.class").is_file()


@pytest.mark.parametrize("version", [9, 10])
def test_catalina_home(version: int, tomcat_homes: Callable[[int], Path]) -> None:
    home = tomcat_homes(version)
    assert (home / "bin/bootstrap.jar").is_file()
    assert (home / "lib/catalina-ha.jar").is_file()
    assert (home / "lib/catalina-tribes.jar").is_file()


# --------------------------------------------------------------------------- running pair


def test_both_nodes_run_the_expected_tomcat(pair: list[TomcatNode]) -> None:
    for node in pair:
        info = node.server_info()
        assert f"Apache Tomcat/{node.dist.full_version}" in info
        assert node.ready_seconds is not None and node.ready_seconds < 30
        print(f"{node.name}: JVM start -> HTTP ready in {node.ready_seconds:.2f} s")
        ping = node.jw("ping")
        assert ping["servletApi"] == f"{node.dist.servlet_package}.http"
        assert ping["node"] == f"{node.address}:{node.http_port}"


def test_two_node_cluster_forms(pair: list[TomcatNode]) -> None:
    a, b = pair
    for me, peer in ((a, b), (b, a)):
        info = me.jw("members")
        assert info["managerName"] == MANAGER_NAME
        assert info["managerClass"] == "org.apache.catalina.ha.session.DeltaManager"
        assert info["clusterName"] == "Catalina"
        local = info["local"]
        assert (local["host"], local["port"]) == (me.address, me.tribes_port)
        assert tuple(local["uniqueId"]) == me.unique_id
        members = me.members()
        assert [m.endpoint for m in members] == [(peer.address, peer.tribes_port)]
        assert members[0].unique_id == peer.unique_id
        assert members[0].unique_id[-1] == int(peer.address.rsplit(".", 1)[1])
        assert members[0].command == ""


def _pojo(**fields: object) -> dict[str, object]:
    out: dict[str, object] = {
        "id": 0,
        "label": None,
        "name": None,
        "count": 0,
        "ratio": 0.0,
        "active": False,
        "boxed": None,
        "tags": None,
        "child": None,
    }
    out.update(fields)
    return out


# name -> (Java class to send, value to send, expected Java class, expected Python value)
TYPED_ATTRIBUTES: dict[str, tuple[str, object, str, object]] = {
    "String": ("String", "h\u00e9llo \u2713", "java.lang.String", "h\u00e9llo \u2713"),
    "Integer": ("Integer", -7, "java.lang.Integer", -7),
    "Long": ("Long", 1 << 40, "java.lang.Long", 1 << 40),
    "Short": ("Short", 12345, "java.lang.Short", 12345),
    "Byte": ("Byte", -128, "java.lang.Byte", -128),
    "Character": ("Character", "\u00df", "java.lang.Character", "\u00df"),
    "Boolean": ("Boolean", False, "java.lang.Boolean", False),
    "Double": ("Double", -2.5e-3, "java.lang.Double", -2.5e-3),
    "Float": ("Float", 0.25, "java.lang.Float", 0.25),
    "bytes": ("byte[]", b"\x00\xff\x10tribes", "[B", b"\x00\xff\x10tribes"),
    "strings": ("String[]", ["x", "y", None], "[Ljava.lang.String;", ["x", "y", None]),
    "ArrayList": ("ArrayList", [1, "two", 3.0, [4]], "java.util.ArrayList", [1, "two", 3.0, [4]]),
    "LinkedList": ("LinkedList", ["a", "b"], "java.util.LinkedList", ["a", "b"]),
    "HashMap": (
        "HashMap",
        {"k": 1, "m": {"n": True}},
        "java.util.HashMap",
        {"k": 1, "m": {"n": True}},
    ),
    "LinkedHashMap": (
        "LinkedHashMap",
        [["z", 1], ["a", 2]],
        "java.util.LinkedHashMap",
        {"z": 1, "a": 2},
    ),
    "TreeMap": ("TreeMap", {"b": "B", "a": "A"}, "java.util.TreeMap", {"a": "A", "b": "B"}),
    "HashSet": ("HashSet", ["only"], "java.util.HashSet", ["only"]),
    "Date": ("Date", 1_700_000_000_123, "java.util.Date", 1_700_000_000_123),
    "Pojo": (
        "lab.Pojo",
        {
            "id": 99,
            "label": "L",
            "name": "p",
            "count": 2,
            "ratio": 1.5,
            "active": True,
            "boxed": 5,
            "tags": ["t"],
            "child": {"name": "c"},
        },
        "lab.Pojo",
        _pojo(
            id=99,
            label="L",
            name="p",
            count=2,
            ratio=1.5,
            active=True,
            boxed=5,
            tags=["t"],
            child=_pojo(name="c"),
        ),
    ),
}


def test_typed_attributes_set_on_a_are_read_on_b(pair: list[TomcatNode]) -> None:
    a, b = pair
    sid = a.new_session()
    body = {
        "attributes": {
            name: typed(cls, value) for name, (cls, value, _, _) in TYPED_ATTRIBUTES.items()
        }
    }
    on_a = a.jw("set", session_id=sid, body=body)["session"]
    on_b = b.session(sid, create=False)
    assert on_b is not None and on_b["id"] == sid
    for name, (_, _, java_class, expected) in TYPED_ATTRIBUTES.items():
        for where, sess in (("A", on_a), ("B", on_b)):
            attr = sess["attributes"][name]
            assert attr["class"] == java_class, (where, name, attr)
            value = from_typed(attr)
            if name == "Float":
                as_float32 = struct.unpack("f", struct.pack("f", 0.25))[0]
                assert value == expected == as_float32
            elif name == "HashSet":
                assert sorted(value) == expected
            else:
                assert value == expected, (where, name, attr)
    # the Pojo's superclass fields and nested Pojo travel too
    pojo = on_b["attributes"]["Pojo"]["value"]
    assert list(pojo)[:2] == ["id", "label"]
    assert pojo["id"] == {"class": "long", "value": 99}
    assert pojo["child"]["class"] == "lab.Pojo"
    assert on_b["attributes"]["ArrayList"]["value"][3]["class"] == "java.util.ArrayList"
    assert b.jw("session", session_id=sid, create=0)["node"] == f"{b.address}:{b.http_port}"


def test_query_form_set_and_session_operations_replicate(pair: list[TomcatNode]) -> None:
    a, b = pair
    sid = a.new_session()
    a.jw("set", session_id=sid, name="n", type="Long", value="5")
    a.jw("set", session_id=sid, name="l", type="ArrayList", elem="Integer", value=["1", "2"])
    a.jw("set", session_id=sid, name="m", type="TreeMap", elem="Boolean", value=["x=true"])
    peek = b.peek(sid)
    assert peek is not None
    assert peek["attributes"]["n"] == {"class": "java.lang.Long", "value": 5}
    assert from_typed(peek["attributes"]["l"]) == [1, 2]
    assert peek["attributes"]["l"]["value"][0]["class"] == "java.lang.Integer"
    assert from_typed(peek["attributes"]["m"]) == {"x": True}

    # remove on B, visible on A
    b.jw("remove", session_id=sid, name="n")
    assert "n" not in a.peek(sid)["attributes"]  # type: ignore[index]
    # maxInactiveInterval
    a.jw("maxinactive", session_id=sid, seconds=1234)
    assert b.peek(sid)["maxInactiveInterval"] == 1234  # type: ignore[index]
    # changeSessionId on B: A knows the new id only
    r = b.jw("changeid", session_id=sid)
    new = r["newId"]
    assert r["oldId"] == sid and new != sid
    assert a.peek(sid) is None
    assert from_typed(a.peek(new)["attributes"]["l"]) == [1, 2]  # type: ignore[index]
    # invalidate on A: gone on B
    assert a.jw("invalidate", session_id=new)["invalidated"] == new
    assert b.peek(new) is None
    assert new not in b.session_ids()
    # a request without a session does not create one unless asked
    assert b.jw("set", session_id=new, name="x", value="y", expect=409)["error"]


def test_login_principal_replicates(pair: list[TomcatNode]) -> None:
    a, b = pair
    r = b.jw("login", user="bob", password="bob-pw")
    sid = r["session"]["id"]
    assert r["remoteUser"] == "bob"
    assert r["previousSessionId"] != sid  # changeSessionIdOnAuthentication
    seen = a.peek(sid)
    assert seen is not None
    assert seen["principal"]["name"] == "bob"
    assert seen["principal"]["roles"] == ["r1"]
    assert b.jw("login", user="bob", password="wrong", expect=401)["error"]


async def test_usable_from_trio(pair: list[TomcatNode]) -> None:
    a, b = pair
    sid = await trio.to_thread.run_sync(a.new_session)
    await trio.to_thread.run_sync(functools.partial(a.set_attribute, sid, "t", "trio", "String"))
    got = await trio.to_thread.run_sync(b.peek, sid)
    assert got is not None and got["attributes"]["t"] == {
        "class": "java.lang.String",
        "value": "trio",
    }


def test_pause_kill_and_restart(pair: list[TomcatNode]) -> None:
    """Runs last for its pair: SIGSTOP/SIGCONT, then SIGKILL and a restart with state transfer."""
    a, b = pair
    sid = a.new_session()
    a.set_attribute(sid, "kept", 77, "Integer")
    b.pause()
    with pytest.raises(OSError):
        b.request("/jw/t/ping", timeout=0.5)
    b.resume()
    assert b.jw("ping")["node"].startswith(b.address)

    b.kill()
    assert not b.is_running()
    t0 = time.monotonic()
    a.wait_members([], 20)
    print(f"{a.name} dropped the SIGKILLed peer after {time.monotonic() - t0:.2f} s")
    b.start()
    ready = b.wait_ready()
    print(f"{b.name}: restart -> ready in {ready:.2f} s (state transfer included)")
    peek = b.peek(sid)
    assert peek is not None and peek["attributes"]["kept"] == {
        "class": "java.lang.Integer",
        "value": 77,
    }
    # (A itself re-adds B only at its next heartbeat, up to 5 s later: not waited for here)
    b.wait_members([a], 30)


# --------------------------------------------------------------------------- capture


def test_record_waits_for_tcpdump_and_flushes(tmp_path: Path) -> None:
    require_tcpdump()
    server = socket.create_server(("127.0.0.41", 4555))
    frame = FRAME_START + struct.pack(">i", 3) + b"abc" + b"TLF2003"
    try:
        with (
            record(tmp_path / "t.pcap", [4555], hosts=["127.0.0.41"]) as rec,
            socket.create_connection(("127.0.0.41", 4555)) as c,
        ):
            conn, _ = server.accept()
            c.sendall(frame)
            assert conn.recv(100) == frame
            conn.close()
    finally:
        server.close()
    assert rec.packets_captured and rec.packets_captured >= 6
    assert rec.packets_dropped == 0
    segs = read_tcp_segments(rec.path)
    assert [s.payload for s in segs if s.payload] == [frame]
    assert split_frames(next(iter(tcp_streams(segs).values()))) == [frame]


def _check_capture(pc: PairCapture) -> None:
    assert pc.pcap.stat().st_size > 10_000
    assert pc.recording.packets_dropped == 0
    segs = read_tcp_segments(pc.pcap)
    assert len(segs) > 100
    receivers = {(n.host, n.port) for n in pc.nodes.values()}
    starts: dict[tuple[str, int], int] = {}
    for s in segs:
        if s.payload.startswith(FRAME_START):
            key = (s.dst, s.dport) if (s.dst, s.dport) in receivers else ("ack-from", s.sport)
            starts[key] = starts.get(key, 0) + 1
    a, b = (pc.nodes["A"].host, pc.nodes["A"].port), (pc.nodes["B"].host, pc.nodes["B"].port)
    # frames towards each node's receiver: B -> A and A -> B
    assert starts.get(a, 0) >= 10 and starts.get(b, 0) >= 10, starts
    # every reassembled stream towards a receiver is a clean sequence of frames
    frames = []
    for conn, data in tcp_streams(segs).items():
        if (conn[2], conn[3]) in receivers:
            frames += split_frames(data)
    bodies = [f[11:-7] for f in frames]
    assert any(b"SESSION-STATE" in x for x in bodies)  # ALL_SESSION_DATA / TRANSFERCOMPLETE
    assert any(b"GET-ALL" in x for x in bodies)
    assert any(b"BABY-ALEX" in x for x in bodies)  # MSG_STOP
    assert any(b"lab.Pojo" in x for x in bodies)
    assert any(pc.sessions["s2"].encode() in x for x in bodies)
    assert any(MANAGER_NAME.encode() in x for x in bodies)
    # the scenario's data
    assert pc.tomcat_version == DISTS[pc.version].full_version
    assert pc.tomcat_version in pc.server_info
    assert set(pc.sessions) == {"s1", "s1_changed", "s2", "s3_initial", "s3"}
    assert len(set(pc.sessions.values())) == 5
    sets = pc.steps_for("set")
    assert {s.java_class for s in sets} >= {
        "java.lang.String",
        "java.lang.Integer",
        "java.lang.Long",
        "java.lang.Boolean",
        "java.lang.Double",
        "[B",
        "java.util.ArrayList",
        "java.util.HashMap",
        "lab.Pojo",
    }
    assert {s.node for s in sets} == {"A", "B"}
    assert all(s.typed is not None and s.typed["class"] == s.java_class for s in sets)
    assert pc.removed == {"s1": ["bool"]}
    assert "bool" not in pc.final_attributes["s1"]
    assert pc.final_attributes["s2"]["visits"] == ("java.lang.Integer", 2)
    first, last = pc.steps[0].t_start, pc.steps[-1].t_end
    assert first - 5 < segs[0].ts <= segs[-1].ts < last + 5
    print(
        f"Tomcat {pc.tomcat_version} capture: {len(segs)} segments, {len(frames)} frames, "
        f"timings {pc.timings}"
    )


def test_tomcat9_pair_capture(tomcat_pair_capture: PairCapture) -> None:
    assert tomcat_pair_capture.version == 9
    _check_capture(tomcat_pair_capture)


def test_tomcat10_pair_capture(tomcat10_pair_capture: PairCapture) -> None:
    assert tomcat10_pair_capture.version == 10
    _check_capture(tomcat10_pair_capture)
