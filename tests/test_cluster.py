"""`open_cluster`: two pytribes nodes on loopback (127.0.0.81/.82) replicating sessions --
state transfer of 1,000 sessions both ways, options-6 semantics of `complete()`, invalidation,
expiry and id changes, NOCONTEXTMANAGER and the state-transfer timeout."""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from tests.cluster_support import capture_events, partitioned, start_cluster, wait_for
from tests.support import common_port, uid_of
from tribes.config import (
    FailureDetectorConfig,
    ManagerConfig,
    MembershipConfig,
    NodeConfig,
    ReceiverConfig,
    StaticMemberConfig,
)
from tribes.jserial import java_type_name
from tribes.net.cluster import Cluster, open_cluster, session_manager_config
from tribes.net.node import open_node
from tribes.session import TransferState

A, B = "127.0.0.81", "127.0.0.82"
N_SESSIONS = 1000


def config(
    host: str,
    port: int,
    *,
    contexts: tuple[str, ...] = ("/jw",),
    state_transfer_timeout: int = 10,
    **manager: object,
) -> NodeConfig:
    return NodeConfig(
        unique_id=uid_of(host),
        receiver=ReceiverConfig(address=host, port=port),
        membership=MembershipConfig(
            expiration_time=1.5,
            connect_timeout=0.3,
            rpc_timeout=0.5,
            ping_interval=0.5,
            members=tuple(
                StaticMemberConfig(host=h, port=port, unique_id=uid_of(h)) for h in (A, B)
            ),
        ),
        failure_detector=FailureDetectorConfig(connect_timeout=0.3),
        manager=ManagerConfig(
            contexts=contexts,
            state_transfer_timeout=state_transfer_timeout,
            **manager,  # type: ignore[arg-type]
        ),
    )


def hosts(cluster: Cluster) -> list[str]:
    return [m.host_text for m in cluster.members()]


def alive_at(cluster: Cluster, host: str) -> int:
    """The alive time `cluster` last heard from the member at `host` (-1: not a member)."""
    return max((m.alive for m in cluster.node.static.members() if m.host_text == host), default=-1)


async def fill(cluster: Cluster, n: int) -> list[str]:
    ids = []
    for i in range(n):
        s = cluster.create_session("/jw")
        s.set("i", i)
        s.set("user", f"user-{i}")
        s.set("big", 1 << 40)
        s.set("when", datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
        s.set("cart", ["a", i, {"k": 1.5}])
        await cluster.complete(s)
        ids.append(s.id)
    return ids


def test_session_manager_config_maps_the_node_settings() -> None:
    cfg = config(A, 4000, send_all_sessions_wait_time=0.5, session_timeout_minutes=7)
    m = session_manager_config(cfg)
    assert m.session_timeout == 7
    assert m.send_all_sessions_wait_time == 500
    assert m.channel_send_options == 6
    assert m.state_transfer_timeout == 10
    assert cfg.manager.catch_up and m.catch_up_push  # ours, on by default
    assert session_manager_config(config(A, 4000, catch_up_push=False)).catch_up_push is False
    m = session_manager_config(config(A, 4000, jvm_route="n1", max_active_sessions=9))
    assert (m.jvm_route, m.max_active_sessions, m.persist_authentication_notes) == ("n1", 9, None)


async def test_pair_state_transfer_both_ways_and_synchronous_replication() -> None:
    port = common_port(A, B)
    with capture_events() as log:
        async with trio.open_nursery() as nursery:
            a = await start_cluster(nursery, config(A, port))
            assert a.cluster.manager("/jw").transfer_state is TransferState.NO_MEMBERS
            ids = await fill(a.cluster, N_SESSIONS)

            # B joins: it gets every session from A
            b = await start_cluster(nursery, config(B, port))
            jw_b = b.cluster.manager("/jw")
            assert jw_b.transfer_state is TransferState.TRANSFERRED
            assert len(jw_b) == N_SESSIONS
            s = jw_b.find(ids[123])
            assert s is not None and not s.is_primary
            assert s["i"] == 123 and java_type_name(s["i"]) == "java.lang.Integer"
            assert s["big"] == 1 << 40 and java_type_name(s["big"]) == "java.lang.Long"
            assert s["when"] == datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
            assert s["cart"] == ["a", 123, {"k": 1.5}]
            [done_b] = log.named("state_transfer_done", local=f"tcp://{B}:{port}")
            assert done_b["sessions"] == N_SESSIONS and done_b["state"] == "transferred"
            [served] = log.named("state_transfer_served")
            assert served["sessions"] == N_SESSIONS and served["ok"] == "true"
            print(f"\npytribes->pytribes state transfer of {N_SESSIONS}: {done_b['ms']} ms")

            # options 6: when complete() returns, the other node has the change
            await wait_for(lambda: hosts(a.cluster) == [B])
            sa = a.cluster.find_session("/jw", ids[5])
            assert sa is not None
            sa.set("fresh", "value")
            await a.cluster.complete(sa)
            sb = jw_b.find(ids[5])
            assert sb is not None and sb["fresh"] == "value"

            # and back (B serves it now: B becomes primary, A a backup)
            sb2 = b.cluster.find_session("/jw", ids[5])
            assert sb2 is not None
            sb2.set("n", 2**31)
            sb2.remove("user")
            await b.cluster.complete(sb2)
            sa2 = a.cluster.manager("/jw").find(ids[5])
            assert sa2 is not None and sa2["n"] == 2**31 and "user" not in sa2
            assert not sa2.is_primary

            # id change both ways
            new_id = await a.cluster.change_session_id(sa2)
            assert jw_b.find(ids[5]) is None and jw_b.find(new_id) is not None
            sb3 = b.cluster.find_session("/jw", new_id)
            assert sb3 is not None
            newer = await b.cluster.change_session_id(sb3)
            await b.cluster.complete(sb3)
            assert a.cluster.manager("/jw").find(newer) is not None
            assert a.cluster.manager("/jw").find(new_id) is None

            # invalidation both ways
            sa4 = a.cluster.find_session("/jw", ids[6])
            assert sa4 is not None
            await a.cluster.invalidate(sa4)
            assert jw_b.find(ids[6]) is None
            sb4 = b.cluster.find_session("/jw", ids[7])
            assert sb4 is not None
            await b.cluster.invalidate(sb4)
            assert a.cluster.manager("/jw").find(ids[7]) is None

            # A restarts next to B: it gets every session back from B
            await a.stop()
            await wait_for(lambda: hosts(b.cluster) == [])
            assert len(jw_b) == N_SESSIONS - 2
            a = await start_cluster(nursery, config(A, port))
            jw_a = a.cluster.manager("/jw")
            assert jw_a.transfer_state is TransferState.TRANSFERRED
            assert set(jw_a.sessions) == set(jw_b.sessions)
            s = jw_a.find(ids[999])
            assert s is not None and s["user"] == "user-999"
            done_a = log.named("state_transfer_done", local=f"tcp://{A}:{port}")
            print(f"pytribes->pytribes state transfer back: {done_a[-1]['ms']} ms")
            await a.stop()
            await b.stop()


async def test_expiry_on_the_primary_reaches_the_backup() -> None:
    port = common_port(A, B)
    async with trio.open_nursery() as nursery:
        a = await start_cluster(nursery, config(A, port), expire_interval=0.1)
        b = await start_cluster(nursery, config(B, port))
        await wait_for(lambda: hosts(a.cluster) == [B])
        s = a.cluster.create_session("/jw")
        s.set_max_inactive_interval(1)
        keep = a.cluster.create_session("/jw")
        await a.cluster.complete(s)
        await a.cluster.complete(keep)
        jw_b = b.cluster.manager("/jw")
        assert jw_b.find(s.id) is not None
        assert jw_b.find(s.id).max_inactive_interval == 1  # type: ignore[union-attr]
        with trio.fail_after(3):
            await wait_for(lambda: jw_b.find(s.id) is None, timeout=3)
        assert jw_b.find(keep.id) is not None
        await a.stop()
        await b.stop()


async def test_unknown_context_gets_nocontextmanager() -> None:
    port = common_port(A, B)
    with capture_events() as log:
        async with trio.open_nursery() as nursery:
            a = await start_cluster(nursery, config(A, port))
            t0 = trio.current_time()
            b = await start_cluster(nursery, config(B, port, contexts=("/jw", "/other")))
            assert trio.current_time() - t0 < 5
            assert b.cluster.manager("/other").transfer_state is TransferState.NO_CONTEXT_MANAGER
            assert b.cluster.manager("/jw").transfer_state is TransferState.TRANSFERRED
            [sent] = log.named("nocontextmanager_sent")
            assert sent["context"] == "localhost#/other"
            await a.stop()
            await b.stop()


async def test_state_transfer_never_waits_longer_than_the_timeout() -> None:
    """The oldest member never answers GET_ALL_SESSIONS (a bare node without managers'
    listener): the start waits `state_transfer_timeout` seconds, not more."""
    port = common_port(A, B)
    with capture_events() as log:
        async with open_node(config(A, port)):
            t0 = trio.current_time()
            async with open_cluster(config(B, port, state_transfer_timeout=1)) as b:
                waited = trio.current_time() - t0
                assert b.manager("/jw").transfer_state is TransferState.TIMED_OUT
            assert 1.0 <= waited < 2.5
            [timeout] = log.named("state_transfer_timeout")
            assert timeout["context"] == "localhost#/jw" and timeout["timeout"] == 1


async def test_partition_heals_and_both_nodes_catch_up() -> None:
    """A and B lose each other (a `Partition`: connects hang, connections dropped) while both
    keep serving; when it heals each detects the other's rejoin (alive time grew: no restart),
    pulls its sessions and merges them: both end with the newest copy of every session, the
    invalidation made on one side stays, the session created on one side is on both."""
    port = common_port(A, B)
    with capture_events() as log:
        async with trio.open_nursery() as nursery:
            a = await start_cluster(nursery, config(A, port))
            b = await start_cluster(nursery, config(B, port))
            await wait_for(lambda: hosts(a.cluster) == [B] and hosts(b.cluster) == [A])
            ids = await fill(a.cluster, 20)
            jw_a, jw_b = a.cluster.manager("/jw"), b.cluster.manager("/jw")
            assert set(jw_b.sessions) == set(ids)

            with partitioned(a.cluster, b.cluster) as cut:
                t0 = trio.current_time()
                await wait_for(lambda: hosts(a.cluster) == [] and hosts(b.cluster) == [], 10)
                detected = trio.current_time() - t0
                # both go on serving: nothing waits for the other side any more
                t1 = trio.current_time()
                sa = a.cluster.find_session("/jw", ids[0])
                assert sa is not None
                sa.set("cart", "changed on A while cut")
                await a.cluster.complete(sa)
                created = a.cluster.create_session("/jw")
                created.set("user", "new on A")
                await a.cluster.complete(created)
                gone = a.cluster.find_session("/jw", ids[1])
                assert gone is not None
                await a.cluster.invalidate(gone)
                sb = b.cluster.find_session("/jw", ids[2])
                assert sb is not None
                sb.set("cart", "changed on B while cut")
                await b.cluster.complete(sb)
                assert trio.current_time() - t1 < 0.5
                assert cut.cut_connects > 0
                assert jw_b.find(ids[0])["cart"] == ["a", 0, {"k": 1.5}]  # type: ignore[index]
            t_heal = trio.current_time()

            def converged() -> bool:
                for jw in (jw_a, jw_b):
                    s0, s2, new = jw.find(ids[0]), jw.find(ids[2]), jw.find(created.id)
                    if not (
                        s0 is not None
                        and s0.get("cart") == "changed on A while cut"
                        and s2 is not None
                        and s2.get("cart") == "changed on B while cut"
                        and new is not None
                        and new.get("user") == "new on A"
                        and jw.find(ids[1]) is None
                    ):
                        return False
                return True

            await wait_for(converged, 15)
            healed = trio.current_time() - t_heal
            assert set(jw_a.sessions) == set(jw_b.sessions) == (set(ids) - {ids[1]}) | {created.id}
            await wait_for(lambda: hosts(a.cluster) == [B] and hosts(b.cluster) == [A], 10)
            await wait_for(lambda: len(log.named("session_catchup")) == 2, 10)
            on_a = log.named("session_catchup", local=f"tcp://{A}:{port}")
            on_b = log.named("session_catchup", local=f"tcp://{B}:{port}")
            assert [e["member"] for e in on_a] == [f"tcp://{B}:{port}"]
            assert [e["member"] for e in on_b] == [f"tcp://{A}:{port}"]
            (ea,), (eb,) = on_a, on_b
            assert ea["context"] == eb["context"] == "localhost#/jw"
            assert ea["state"] == eb["state"] == "merged"
            # each got the other's 20. Who updates what depends on which catch-up (and its
            # push) lands first: A refuses ids[1] (invalidated here) and tells B either when
            # merging B's answer or B's push.
            for e in (ea, eb):
                parts = ("updated", "added", "kept", "same", "expired", "stale")
                assert e["received"] == 20 == sum(e[k] for k in parts), e
            assert ea["added"] == 0 and eb["expired"] == 0
            assert len(log.named("member_rejoined")) == 2
            print(
                f"\npartition: detected in {detected:.2f} s; healed and converged in "
                f"{healed:.2f} s; catch-up {ea['ms']} ms / {eb['ms']} ms"
            )

            # replication is back to normal
            s = a.cluster.find_session("/jw", ids[3])
            assert s is not None
            s.set("after", True)
            await a.cluster.complete(s)
            assert jw_b.find(ids[3])["after"] is True  # type: ignore[index]
            await a.stop()
            await b.stop()


async def test_without_catch_up_a_healed_node_stays_stale_as_in_tomcat() -> None:
    """`manager.catch_up = false`: Tomcat's behaviour -- the rejoin is not acted upon."""
    port = common_port(A, B)
    with capture_events() as log:
        async with trio.open_nursery() as nursery:
            a = await start_cluster(nursery, config(A, port, catch_up=False))
            b = await start_cluster(nursery, config(B, port, catch_up=False))
            await wait_for(lambda: hosts(a.cluster) == [B] and hosts(b.cluster) == [A])
            (sid,) = await fill(a.cluster, 1)
            with partitioned(a.cluster, b.cluster):
                await wait_for(lambda: hosts(a.cluster) == [] and hosts(b.cluster) == [], 10)
                s = a.cluster.find_session("/jw", sid)
                assert s is not None
                s.set("cart", "changed while cut")
                await a.cluster.complete(s)
            await wait_for(lambda: hosts(a.cluster) == [B] and hosts(b.cluster) == [A], 10)
            await trio.sleep(1.0)
            assert b.cluster.manager("/jw").find(sid)["cart"] == ["a", 0, {"k": 1.5}]  # type: ignore[index]
            assert len(log.named("member_rejoined")) == 2
            assert not log.named("session_catchup")
            await a.stop()
            await b.stop()


async def test_a_killed_and_restarted_node_is_no_rejoin() -> None:
    """A restarted member (small alive time) does its own start-up state transfer: nobody
    pulls from it; a member that left with MSG_STOP is no rejoin either."""
    port = common_port(A, B)
    with capture_events() as log:
        async with trio.open_nursery() as nursery:
            b = await start_cluster(nursery, config(B, port))
            await fill(b.cluster, 5)
            for _ in range(2):  # A starts, is killed (nothing sent), starts again
                async with trio.open_nursery() as inner:
                    a = await start_cluster(inner, config(A, port))
                    assert len(a.cluster.manager("/jw")) == 5
                    await wait_for(lambda: hosts(b.cluster) == [A])
                    # up for a while (as B heard): the restarted A's uptime is clearly shorter
                    await wait_for(lambda: alive_at(b.cluster, A) >= 1500, 10)
                    inner.cancel_scope.cancel()
                await wait_for(lambda: hosts(b.cluster) == [], 10)
            a = await start_cluster(nursery, config(A, port))
            await wait_for(lambda: hosts(b.cluster) == [A])
            await a.stop()  # MSG_STOP
            a = await start_cluster(nursery, config(A, port))
            await wait_for(lambda: hosts(b.cluster) == [A])
            await a.stop()
            await b.stop()
        assert len(log.named("member_added", local=f"tcp://{B}:{port}")) == 4
        assert not log.named("member_rejoined") and not log.named("session_catchup")
