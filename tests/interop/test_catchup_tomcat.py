"""Catch-up after a partition with a real Tomcat 9.0.70 / 10.1.60 (DeltaManager, options 6).

A Tomcat never pulls after a partition (its DeltaManager only transfers state at start-up), so
pytribes does both halves when the Tomcat comes back: it pulls (GET_ALL_SESSIONS, which a
started Tomcat answers at any time) and merges, then pushes what the Tomcat missed as an
unsolicited EVT_ALL_SESSION_DATA -- which DeltaManager.handleALL_SESSION_DATA loads outside its
own start-up transfer too (deserializeSessions: add, replacing an existing session) -- and an
EVT_SESSION_EXPIRED for a session invalidated on pytribes meanwhile.

The partition: the Tomcat JVM is SIGSTOPped (a long GC pause, a frozen VM). pytribes' read-test
probes drop it; it keeps its alive time, so on SIGCONT it is a rejoin, not a restart. pytribes
changes the sessions only once it has dropped the Tomcat (nothing is sent then), so what the
Tomcat holds afterwards can only come from the catch-up.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio

from tests.cluster_support import capture_events, wait_for
from tests.interop.conftest import start_tomcat_beside
from tests.interop.test_membership_tomcat import assert_clean
from tests.interop.tomcat import StaticMemberSpec, TomcatNode, from_typed, typed
from tribes.config import (
    FailureDetectorConfig,
    ManagerConfig,
    MembershipConfig,
    NodeConfig,
    ReceiverConfig,
    StaticMemberConfig,
)
from tribes.net.cluster import open_cluster

pytestmark = pytest.mark.interop

#: Tomcat version -> (Tomcat address, pytribes address); Tribes port 4000 for both.
ADDRESSES = {9: ("127.0.0.63", "127.0.0.64"), 10: ("127.0.0.73", "127.0.0.74")}
HEARTBEAT = 1.0


@pytest.fixture(scope="module", params=[9, 10], ids=["tomcat9", "tomcat10"])
def tomcat(
    request: pytest.FixtureRequest, module_tomcat_node: Callable[..., TomcatNode]
) -> Iterator[TomcatNode]:
    version: int = request.param
    tc, py = ADDRESSES[version]
    node = start_tomcat_beside(module_tomcat_node, version, tc, py)
    yield node
    node.close()


def py_config(tomcat: TomcatNode) -> NodeConfig:
    tc, py = ADDRESSES[tomcat.version]
    return NodeConfig(
        unique_id=StaticMemberSpec(py).uid_bytes,
        tomcat_version=tomcat.version,
        receiver=ReceiverConfig(address=py, port=4000),
        membership=MembershipConfig(
            expiration_time=3.0,
            connect_timeout=0.5,
            rpc_timeout=1.0,
            ping_interval=HEARTBEAT,
            members=(
                StaticMemberConfig(
                    host=tc,
                    port=4000,
                    unique_id=StaticMemberSpec(tc).uid_bytes,
                    tomcat_version=tomcat.version,
                ),
            ),
        ),
        failure_detector=FailureDetectorConfig(connect_timeout=0.5, read_test_timeout=1.0),
        manager=ManagerConfig(contexts=("/jw",), state_transfer_timeout=20),
    )


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def attribute(dump: dict[str, Any] | None, name: str) -> Any:
    assert dump is not None
    return from_typed(dump["attributes"].get(name))


async def test_pytribes_catches_up_a_paused_tomcat_and_pushes_what_it_missed(
    tomcat: TomcatNode,
) -> None:
    mark = tomcat.log_mark()
    with capture_events() as log:
        async with open_cluster(py_config(tomcat)) as cluster:
            tc = tomcat.address
            await wait_for(lambda: [m.host_text for m in cluster.members()] == [tc], 15)
            jw = cluster.manager("/jw")

            # three sessions made on the Tomcat; pytribes holds backups (options 6)
            async def tomcat_session(value: str) -> str:
                answer = await call(
                    tomcat.jw, "set", create=1, body={"name": "v", "value": typed("String", value)}
                )
                return str(answer["session"]["id"])

            changed = await tomcat_session("from tomcat")
            gone = await tomcat_session("to be invalidated")
            untouched = await tomcat_session("left alone")
            assert {changed, gone, untouched} <= set(jw.sessions)

            await call(tomcat.pause)
            try:
                await wait_for(lambda: cluster.members() == [], 15)
                # pytribes alone: the user goes on here, nothing reaches the Tomcat
                s = cluster.find_session("/jw", changed)
                assert s is not None
                s.set("v", "changed on pytribes")
                s.set("n", 2)
                assert await cluster.complete(s) == []
                new = cluster.create_session("/jw")
                new.set("v", "created on pytribes")
                await cluster.complete(new)
                doomed = cluster.find_session("/jw", gone)
                assert doomed is not None
                await cluster.invalidate(doomed)
            finally:
                await call(tomcat.resume)
            t_resume = trio.current_time()

            await wait_for(lambda: bool(log.named("session_catchup")), 20)
            (line,) = log.named("session_catchup")
            caught_up = trio.current_time() - t_resume
            print(f"\nTomcat {tomcat.version}: SIGCONT -> caught up in {caught_up:.2f} s: {line}")
            assert line["state"] == "merged" and line["member"] == f"tcp://{tc}:4000"
            # the Tomcat's three: one older than ours, one invalidated here, one the same
            assert (line["received"], line["kept"], line["expired"], line["same"]) == (3, 1, 1, 1)
            assert line["pushed"] == 2  # our newer copy and the new session
            (rejoined,) = log.named("member_rejoined")
            assert rejoined["alive"] >= rejoined["previous_alive"]

            # the Tomcat applied the push and the EXPIRED (peek: no access, nothing sent)
            async def tomcat_has_it() -> bool:
                dump = await call(tomcat.peek, changed)
                return attribute(dump, "v") == "changed on pytribes"

            with trio.fail_after(10):
                while not await tomcat_has_it():
                    await trio.sleep(0.1)
            peek = await call(tomcat.peek, changed)
            assert attribute(peek, "n") == 2 and peek["primary"] is False
            assert attribute(await call(tomcat.peek, new.id), "v") == "created on pytribes"
            assert await call(tomcat.peek, gone) is None
            assert attribute(await call(tomcat.peek, untouched), "v") == "left alone"
            assert set(await call(tomcat.session_ids)) == set(jw.sessions)

            # and replication goes on both ways, on the pushed copies too
            answer = await call(
                tomcat.jw, "set", session_id=new.id, body={"name": "w", "value": typed("Long", 7)}
            )
            assert attribute(answer["session"], "v") == "created on pytribes"
            assert jw.find(new.id)["w"] == 7  # type: ignore[index]
            s2 = cluster.find_session("/jw", changed)
            assert s2 is not None
            s2.set("after", "heal")
            await cluster.complete(s2)
            assert attribute(await call(tomcat.peek, changed), "after") == "heal"

    # DeltaManager warns once per session our push replaced ("overload existing session"):
    # exactly the one where our copy won; otherwise the log is clean
    log_text = tomcat.log_text(mark)
    # Tomcat took our member as it takes a Tomcat's: by default (config `advertise` off) its
    # payload is empty, so nothing in Tomcat's log tells the pytribes node apart
    py = ADDRESSES[tomcat.version][1].rsplit(".", 1)[1]
    added = [
        line
        for line in log_text.splitlines()
        if "Replication member added" in line and f"{{127, 0, 0, {py}}}:4000" in line
    ]
    assert added, "Tomcat logged our member joining"
    pytribes_8 = " ".join(str(b) for b in b"pytribes")  # how MemberImpl.toString shows it
    assert not any(pytribes_8 in line for line in added)
    overload = re.compile(r"deserializeSessions overload existing session \[([0-9A-F]+)\]")
    assert overload.findall(log_text) == [changed]
    assert_clean("\n".join(x for x in log_text.splitlines() if not overload.search(x)), tomcat)
