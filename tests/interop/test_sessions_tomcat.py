"""Session replication between a pytribes node (`open_cluster`, in-process) and a real Tomcat
9.0.70 / 10.1.60 node (DeltaManager, channelSendOptions=6), context /jw.

One Tomcat per version is started for the module (Tomcat 9: 127.0.0.61, pytribes 127.0.0.62;
Tomcat 10: 127.0.0.71 / .72; Tribes port 4000 everywhere); every test starts its own pytribes
node, which joins the running Tomcat (and fetches its sessions), and stops it gracefully.

* typed attributes both ways, including the webapp's `lab.Pojo` (opaque on pytribes, and read
  back as a Pojo by a Tomcat that gets it from pytribes by state transfer);
* with options 6, a change is readable on the other node as soon as the HTTP request /
  `Cluster.complete()` returned (no polling);
* invalidation, expiry and change of session id both ways;
* state transfer of 1,000 sessions both ways (a restarted Tomcat next to pytribes, a restarted
  pytribes next to Tomcat), with the time each took.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio

from tests.cluster_support import capture_events, wait_for
from tests.interop.conftest import start_tomcat_beside
from tests.interop.tomcat import StaticMemberSpec, TomcatNode, from_typed, typed
from tribes.config import (
    ManagerConfig,
    MembershipConfig,
    NodeConfig,
    ReceiverConfig,
    StaticMemberConfig,
)
from tribes.jserial import JavaObject, JLinkedList, JTreeMap, java_type_name
from tribes.net.cluster import Cluster, open_cluster
from tribes.session import TransferState

pytestmark = pytest.mark.interop

#: Tomcat version -> (Tomcat address, pytribes address); Tribes port 4000 for both.
ADDRESSES = {9: ("127.0.0.61", "127.0.0.62"), 10: ("127.0.0.71", "127.0.0.72")}
N_SESSIONS = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Per version: measured state-transfer times, printed at the end of the module.
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module", params=[9, 10], ids=["tomcat9", "tomcat10"])
def tomcat(
    request: pytest.FixtureRequest, module_tomcat_node: Callable[..., TomcatNode]
) -> Iterator[TomcatNode]:
    """A running Tomcat listing itself and the pytribes node as static members."""
    version: int = request.param
    tc, py = ADDRESSES[version]
    node = start_tomcat_beside(module_tomcat_node, version, tc, py)
    yield node
    node.close()
    for k in sorted(FIGURES):
        if k.startswith(f"tomcat{version}"):
            print(f"\n{k}: {FIGURES[k]:.0f} ms", end="")


def py_config(tomcat: TomcatNode) -> NodeConfig:
    tc, py = ADDRESSES[tomcat.version]
    return NodeConfig(
        unique_id=StaticMemberSpec(py).uid_bytes,
        tomcat_version=tomcat.version,
        receiver=ReceiverConfig(address=py, port=4000),
        membership=MembershipConfig(
            members=(
                StaticMemberConfig(
                    host=tc,
                    port=4000,
                    unique_id=StaticMemberSpec(tc).uid_bytes,
                    tomcat_version=tomcat.version,
                ),
            ),
        ),
        manager=ManagerConfig(contexts=("/jw",), state_transfer_timeout=20),
    )


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking harness call from trio."""
    return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


async def joined(tomcat: TomcatNode, cluster: Cluster) -> None:
    """Both sides list each other."""
    await wait_for(lambda: [m.host_text for m in cluster.members()] == [tomcat.address], 15)
    py = ADDRESSES[tomcat.version][1]
    await call(tomcat.wait_members, [(py, 4000)], 15)


def jw_of(cluster: Cluster) -> Any:
    return cluster.manager("/jw")


def ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


# --------------------------------------------------------------------------- Tomcat -> pytribes

#: name: (TJ sent to the webapp, Java class, the Python value pytribes must hold)
FROM_TOMCAT: dict[str, tuple[dict[str, Any], str, object]] = {
    "str": (typed("String", "héllo ✓ 𝄞"), "java.lang.String", "héllo ✓ 𝄞"),
    "int": (typed("Integer", -7), "java.lang.Integer", -7),
    "long": (typed("Long", 1 << 40), "java.lang.Long", 1 << 40),
    "bool": (typed("Boolean", True), "java.lang.Boolean", True),
    "double": (typed("Double", 2.5), "java.lang.Double", 2.5),
    "bytes": (typed("byte[]", b"\x00\x01\xfe\xff"), "[B", b"\x00\x01\xfe\xff"),
    "list": (
        typed("ArrayList", ["a", 1, typed("Long", 2)]),
        "java.util.ArrayList",
        ["a", 1, 2],
    ),
    "map": (typed("HashMap", {"k": 1, "j": "v"}), "java.util.HashMap", {"k": 1, "j": "v"}),
    "date": (
        typed("Date", 1_700_000_000_123),
        "java.util.Date",
        EPOCH + timedelta(milliseconds=1_700_000_000_123),
    ),
    "short": (typed("Short", -3), "java.lang.Short", -3),
    "byte": (typed("Byte", 7), "java.lang.Byte", 7),
    "float": (typed("Float", 1.5), "java.lang.Float", 1.5),
    "char": (typed("Character", "x"), "java.lang.Character", "x"),
    "strings": (typed("String[]", ["a", "b"]), "[Ljava.lang.String;", ("a", "b")),
    "linked": (typed("LinkedList", ["x", "y"]), "java.util.LinkedList", ["x", "y"]),
    "tree": (typed("TreeMap", {"b": 1, "a": 2}), "java.util.TreeMap", {"a": 2, "b": 1}),
    "set": (typed("HashSet", ["p", "q"]), "java.util.HashSet", {"p", "q"}),
}
POJO_FIELDS = {
    "id": 77,
    "label": "base",
    "name": "pojo",
    "count": 3,
    "ratio": 0.25,
    "active": True,
    "boxed": 9,
    "tags": ["t1", "t2"],
    "child": {"name": "kid", "count": 1},
}


def check_pojo(tj: dict[str, Any]) -> None:
    """The webapp's view of a lab.Pojo equals POJO_FIELDS."""
    assert tj["class"] == "lab.Pojo"
    fields = from_typed(tj)
    for k, v in POJO_FIELDS.items():
        if k != "child":
            assert fields[k] == v, k
    assert tj["value"]["count"]["class"] == "int"
    assert fields["child"]["name"] == "kid" and fields["child"]["count"] == 1


async def test_tomcat_attributes_of_every_type_reach_pytribes(tomcat: TomcatNode) -> None:
    async with open_cluster(py_config(tomcat)) as cluster:
        await joined(tomcat, cluster)
        attributes = {name: tj for name, (tj, _, _) in FROM_TOMCAT.items()}
        attributes["pojo"] = typed("Pojo", POJO_FIELDS)
        answer = await call(tomcat.jw, "set", create=1, body={"attributes": attributes})
        sid = answer["session"]["id"]
        tomcat_view = answer["session"]["attributes"]

        # options 6: the response came after pytribes had processed (and ACKed) the delta
        session = jw_of(cluster).find(sid)
        assert session is not None and not session.is_primary
        for name, (_, java_class, expected) in FROM_TOMCAT.items():
            value = session[name]
            assert tomcat_view[name]["class"] == java_class, name
            assert java_type_name(value) == java_class, name
            assert session.java_type(name) == java_class
            assert value == expected, name
        assert [java_type_name(v) for v in session["list"]] == [
            "java.lang.String",
            "java.lang.Integer",
            "java.lang.Long",
        ]
        pojo = session["pojo"]
        assert isinstance(pojo, JavaObject) and java_type_name(pojo) == "lab.Pojo"

        # pytribes re-sends the opaque Pojo in a session of its own: Tomcat reads a Pojo
        mine = cluster.create_session("/jw")
        mine.set("copy", pojo)
        await cluster.complete(mine)
        peek = await call(tomcat.peek, mine.id)
        check_pojo(peek["attributes"]["copy"])


# --------------------------------------------------------------------------- pytribes -> Tomcat

#: name: (Python value, forced java_type or None, Java class the webapp sees, its from_typed)
FROM_PYTRIBES: dict[str, tuple[object, str | None, str, object]] = {
    "str": ("héllo ✓ 𝄞", None, "java.lang.String", "héllo ✓ 𝄞"),
    "int": (42, None, "java.lang.Integer", 42),
    "int_min": (-(2**31), None, "java.lang.Integer", -(2**31)),
    "long": (2**31, None, "java.lang.Long", 2**31),
    "long_neg": (-(2**40), None, "java.lang.Long", -(2**40)),
    "bool": (True, None, "java.lang.Boolean", True),
    "double": (0.1, None, "java.lang.Double", 0.1),
    "bytes": (bytes(range(256)), None, "[B", bytes(range(256))),
    "list": (["a", 1, 2.5, True], None, "java.util.ArrayList", ["a", 1, 2.5, True]),
    "map": ({"k": 1, "n": [1, 2]}, None, "java.util.HashMap", {"k": 1, "n": [1, 2]}),
    "date": (
        datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        None,
        "java.util.Date",
        ms(datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)),
    ),
    "strings": (("a", "b"), None, "[Ljava.lang.String;", ["a", "b"]),
    "set": ({"p", "q"}, None, "java.util.HashSet", ["p", "q"]),
    "short": (5, "Short", "java.lang.Short", 5),
    "byte": (-1, "Byte", "java.lang.Byte", -1),
    "float": (1.25, "Float", "java.lang.Float", 1.25),
    "char": ("z", "Character", "java.lang.Character", "z"),
    "long_small": (5, "Long", "java.lang.Long", 5),
    "linked": (JLinkedList(["x", "y"]), None, "java.util.LinkedList", ["x", "y"]),
    "tree": (JTreeMap({"b": 1, "a": 2}), None, "java.util.TreeMap", {"a": 2, "b": 1}),
}


async def test_pytribes_attributes_of_every_type_reach_tomcat(tomcat: TomcatNode) -> None:
    async with open_cluster(py_config(tomcat)) as cluster:
        await joined(tomcat, cluster)
        session = cluster.create_session("/jw")
        for name, (value, java_type, _, _) in FROM_PYTRIBES.items():
            session.set(name, value, java_type=java_type)
        deliveries = await cluster.complete(session)
        assert deliveries and all(d.ok for d in deliveries)

        # read at once: with options 6 the delta was applied before complete() returned
        peek = await call(tomcat.peek, session.id)
        assert peek is not None
        attrs = peek["attributes"]
        assert sorted(attrs) == sorted(FROM_PYTRIBES)
        for name, (_, _, java_class, expected) in FROM_PYTRIBES.items():
            assert attrs[name]["class"] == java_class, name
            got = from_typed(attrs[name])
            if name == "set":
                got = sorted(got)
            assert got == expected, name
        assert [e["class"] for e in attrs["list"]["value"]] == [
            "java.lang.String",
            "java.lang.Integer",
            "java.lang.Double",
            "java.lang.Boolean",
        ]
        assert peek["maxInactiveInterval"] == 1800
        assert peek["primary"] is False

        # a change and a removal, again readable at once
        again = cluster.find_session("/jw", session.id)
        assert again is session
        session.set("int", 43)
        session.remove("str")
        await cluster.complete(session)
        peek = await call(tomcat.peek, session.id)
        assert from_typed(peek["attributes"]["int"]) == 43 and "str" not in peek["attributes"]

        # Tomcat serves it next: its change comes back to pytribes before the response
        answer = await call(tomcat.set_attribute, session.id, "from_tomcat", 1, "Long")
        assert answer["id"] == session.id
        assert session["from_tomcat"] == 1 and session.java_type("from_tomcat") == "java.lang.Long"
        assert not session.is_primary


# --------------------------------------------------------------------------- life cycle events


async def test_invalidation_both_ways(tomcat: TomcatNode) -> None:
    async with open_cluster(py_config(tomcat)) as cluster:
        await joined(tomcat, cluster)
        jw = jw_of(cluster)
        # Tomcat -> pytribes
        sid = await call(tomcat.new_session)
        assert jw.find(sid) is not None
        answer = await call(tomcat.jw, "invalidate", session_id=sid)
        assert answer["invalidated"] == sid
        assert jw.find(sid) is None
        # pytribes -> Tomcat
        session = cluster.create_session("/jw")
        session.set("x", 1)
        await cluster.complete(session)
        assert await call(tomcat.peek, session.id) is not None
        await cluster.invalidate(session)
        assert await call(tomcat.peek, session.id) is None
        assert jw.find(session.id) is None


async def test_change_session_id_both_ways(tomcat: TomcatNode) -> None:
    async with open_cluster(py_config(tomcat)) as cluster:
        await joined(tomcat, cluster)
        jw = jw_of(cluster)
        # Tomcat -> pytribes
        sid = await call(tomcat.new_session)
        await call(tomcat.set_attribute, sid, "who", "tomcat", "String")
        answer = await call(tomcat.jw, "changeid", session_id=sid)
        new_id = answer["newId"]
        assert new_id != sid and jw.find(sid) is None
        moved = jw.find(new_id)
        assert moved is not None and moved["who"] == "tomcat"
        # pytribes -> Tomcat (the change of id, then the request's delta under the new id)
        session = cluster.create_session("/jw")
        session.set("who", "pytribes")
        await cluster.complete(session)
        old = session.id
        assert cluster.find_session("/jw", old) is session
        rotated = await cluster.change_session_id(session)
        assert await call(tomcat.peek, old) is None
        assert (await call(tomcat.peek, rotated))["id"] == rotated
        session.set("after", 1)
        await cluster.complete(session)
        peek = await call(tomcat.peek, rotated)
        assert from_typed(peek["attributes"]["who"]) == "pytribes"
        assert from_typed(peek["attributes"]["after"]) == 1


async def test_expiry_both_ways(tomcat: TomcatNode) -> None:
    # pytribes' sweep every 0.1 s expires its primary session: EXPIRED reaches Tomcat
    async with open_cluster(py_config(tomcat), expire_interval=0.1) as cluster:
        await joined(tomcat, cluster)
        jw = jw_of(cluster)
        session = cluster.create_session("/jw")
        session.set_max_inactive_interval(1)
        keep = cluster.create_session("/jw")
        t0 = time.monotonic()
        await cluster.complete(session)
        await cluster.complete(keep)
        assert (await call(tomcat.peek, session.id))["maxInactiveInterval"] == 1
        await wait_for(lambda: jw.find(session.id) is None, 5)
        assert time.monotonic() - t0 >= 0.95
        peek = None
        for _ in range(100):
            peek = await call(tomcat.peek, session.id)
            if peek is None:
                break
            await trio.sleep(0.02)
        assert peek is None
        assert await call(tomcat.peek, keep.id) is not None

    # Tomcat's session times out (maxInactiveInterval 1 s); the next request expires it
    # (DeltaSession.isValid) and its EXPIRED reaches pytribes before the response
    async with open_cluster(py_config(tomcat)) as cluster:
        await joined(tomcat, cluster)
        jw = jw_of(cluster)
        sid = await call(tomcat.new_session)
        await call(tomcat.jw, "maxinactive", session_id=sid, seconds=1)
        assert jw.find(sid) is not None and jw.find(sid).max_inactive_interval == 1
        await trio.sleep(1.3)
        assert jw.find(sid) is not None  # a backup would only time out after 2 s (and
        # pytribes' sweep runs every 60 s here): what removes it is Tomcat's EXPIRED
        answer = await call(tomcat.jw, "session", session_id=sid, create=0)
        assert answer["session"] is None
        assert jw.find(sid) is None


# --------------------------------------------------------------------------- state transfer
#
# Each test first restarts Tomcat alone (DeltaManager keeps nothing over a restart), so that
# exactly N_SESSIONS sessions move in the measured transfer.


def _tomcat_received_ms(tomcat: TomcatNode, since: int) -> int | None:
    m = re.search(r"received in \[(\d+)\] ms", tomcat.log_text(since))
    return int(m.group(1)) if m else None


def _create_on_tomcat(tomcat: TomcatNode, i: int) -> str:
    answer = tomcat.jw(
        "set",
        create=1,
        body={
            "attributes": {
                "i": typed("Integer", i),
                "user": typed("String", f"tc-{i}"),
                "amount": typed("Long", 10_000_000_000 + i),
                "cart": typed("ArrayList", ["x", i]),
            }
        },
    )
    return str(answer["session"]["id"])


async def test_restarted_pytribes_gets_every_session_from_tomcat(tomcat: TomcatNode) -> None:
    v = tomcat.version
    await call(tomcat.restart)
    # no pytribes node: Tomcat creates the sessions through its webapp (8 clients)
    t0 = time.monotonic()

    def create_all() -> list[str]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(functools.partial(_create_on_tomcat, tomcat), range(N_SESSIONS)))

    ids = await call(create_all)
    FIGURES[f"tomcat{v} {N_SESSIONS} sessions created over HTTP"] = (time.monotonic() - t0) * 1000
    assert len(set(await call(tomcat.session_ids))) == N_SESSIONS

    with capture_events() as log:
        t0 = time.monotonic()
        async with open_cluster(py_config(tomcat)) as cluster:
            started = time.monotonic() - t0
            jw = jw_of(cluster)
            assert jw.transfer_state is TransferState.TRANSFERRED
            assert set(jw.sessions) == set(ids)
            for i in (0, 1, 500, 999):
                s = jw.find(ids[i])
                assert s is not None and not s.is_primary
                assert s["i"] == i and s.java_type("i") == "java.lang.Integer"
                assert s["user"] == f"tc-{i}"
                assert s["amount"] == 10_000_000_000 + i
                assert s.java_type("amount") == "java.lang.Long"
                assert s["cart"] == ["x", i]
            [done] = log.named("state_transfer_done", context="localhost#/jw")
            assert done["state"] == "transferred" and done["sessions"] == N_SESSIONS
            assert done["pages"] == 1
            FIGURES[f"tomcat{v} Tomcat->pytribes state transfer of {N_SESSIONS}"] = done["ms"]
            FIGURES[f"tomcat{v} pytribes open_cluster() incl. that transfer"] = started * 1000

            # the sessions live on: pytribes serves one, Tomcat sees the change at once
            await joined(tomcat, cluster)
            s = cluster.find_session("/jw", ids[3])
            assert s is not None
            s.set("served_by", "pytribes")
            await cluster.complete(s)
            peek = await call(tomcat.peek, ids[3])
            assert from_typed(peek["attributes"]["served_by"]) == "pytribes"
            assert from_typed(peek["attributes"]["user"]) == "tc-3"


async def test_restarted_tomcat_gets_every_session_from_pytribes(tomcat: TomcatNode) -> None:
    v = tomcat.version
    await call(tomcat.restart)
    with capture_events() as log:
        async with open_cluster(py_config(tomcat)) as cluster:
            await joined(tomcat, cluster)
            jw = jw_of(cluster)
            assert len(jw) == 0
            # a Pojo set on Tomcat, held opaque by pytribes
            body = {"name": "pojo", "value": typed("Pojo", POJO_FIELDS)}
            answer = await call(tomcat.jw, "set", create=1, body=body)
            pojo_sid = answer["session"]["id"]
            assert isinstance(jw.find(pojo_sid)["pojo"], JavaObject)

            # Tomcat goes away (its sessions with it); pytribes creates the others meanwhile
            await call(tomcat.stop)
            await wait_for(lambda: cluster.members() == [], 10)
            ids = []
            for i in range(N_SESSIONS - 1):
                s = cluster.create_session("/jw")
                s.set("i", i)
                s.set("user", f"user-{i}")
                s.set("tags", ["a", "b"])
                s.set("seen", datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i))
                await cluster.complete(s)
                ids.append(s.id)
            assert len(jw) == N_SESSIONS

            # Tomcat starts next to pytribes and asks it (the oldest member) for the state
            mark = tomcat.log_mark()
            t0 = time.monotonic()
            await call(tomcat.start)
            await call(tomcat.wait_ready, 60)
            ready = time.monotonic() - t0
            listing = await call(tomcat.jw, "sessions")
            on_tomcat = {s["id"]: s for s in listing["sessions"]}
            assert set(on_tomcat) == set(jw.sessions)
            for i in (0, 1, 500, N_SESSIONS - 2):
                attrs = on_tomcat[ids[i]]["attributes"]
                assert from_typed(attrs["i"]) == i and attrs["i"]["class"] == "java.lang.Integer"
                assert from_typed(attrs["user"]) == f"user-{i}"
                assert from_typed(attrs["tags"]) == ["a", "b"]
                assert attrs["seen"]["class"] == "java.util.Date"
                assert from_typed(attrs["seen"]) == ms(
                    datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
                )
                assert on_tomcat[ids[i]]["primary"] is False
            # the Pojo went Tomcat -> pytribes (opaque) -> restarted Tomcat: a Pojo again
            check_pojo(on_tomcat[pojo_sid]["attributes"]["pojo"])

            [served] = log.named("state_transfer_served", context="localhost#/jw")
            assert served["ok"] == "true" and served["sessions"] == N_SESSIONS
            assert served["pages"] == 1
            received = _tomcat_received_ms(tomcat, mark)
            assert received is not None
            FIGURES[f"tomcat{v} pytribes->Tomcat state transfer of {N_SESSIONS}, served"] = served[
                "ms"
            ]
            FIGURES[f"tomcat{v} pytribes->Tomcat, Tomcat's 'received in'"] = received
            FIGURES[f"tomcat{v} Tomcat start until /jw answers (incl. transfer)"] = ready * 1000

            # and replication goes on: a change on Tomcat reaches pytribes before the response
            await joined(tomcat, cluster)
            await call(tomcat.set_attribute, ids[7], "later", 5, "Integer")
            later = jw.find(ids[7])
            assert later is not None and later["later"] == 5
