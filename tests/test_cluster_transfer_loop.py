"""A large state transfer between two pytribes nodes (loopback 127.0.0.113/.114) leaves the event
loop running: the master encodes its page in steps, the joiner decodes it in a worker thread
and installs it in steps (`SessionReplicator.receive`), so heartbeats, ACKs and other tasks go
on meanwhile. A behaviour test, not a benchmark: the bound is generous (~50 ms is typical for
50,000 sessions; done at once, the encode alone blocks the loop for ~0.4 s)."""

from __future__ import annotations

import pytest
import trio

import tests.test_cluster as tc
from tests.cluster_support import start_cluster
from tests.support import common_port
from tribes.session import TransferState

A, B = "127.0.0.113", "127.0.0.114"
N = 50_000
MAX_GAP = 0.3


async def test_the_event_loop_keeps_running_during_a_large_transfer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tc, "A", A)  # the static members of `tc.config`
    monkeypatch.setattr(tc, "B", B)
    port = common_port(A, B)
    async with trio.open_nursery() as nursery:
        a = await start_cluster(nursery, tc.config(A, port, state_transfer_timeout=60))
        jw = a.cluster.manager("/jw")
        for i in range(N):  # alone: nothing to replicate
            s = jw.create_session()
            s.set("attr", f"{i:010d}" + "v" * 90)
            jw.request_completed(s)
        jw.take_outgoing()

        gaps: list[float] = []

        async def ticker() -> None:
            last = trio.current_time()
            while True:
                await trio.sleep(0.002)
                now = trio.current_time()
                gaps.append(now - last)
                last = now

        nursery.start_soon(ticker)
        b = await start_cluster(nursery, tc.config(B, port, state_transfer_timeout=60))
        ticks = list(gaps)
        jw_b = b.cluster.manager("/jw")
        assert jw_b.transfer_state is TransferState.TRANSFERRED and len(jw_b) == N
        assert max(ticks) < MAX_GAP, f"the loop stood still for {max(ticks):.3f} s"
        await b.stop()
        await a.stop()
        nursery.cancel_scope.cancel()
