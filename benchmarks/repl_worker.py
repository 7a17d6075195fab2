"""One pytribes cluster node driven over stdin/stdout, for the replication benchmarks.

    python -m benchmarks.repl_worker

The same line protocol as the Java worker (benchmarks/java/replication/.../ReplicationWorker.java),
so that benchmarks/replication.py can pair any two workers (pytribes or Java, either role).
One command per stdin line, ``name key=value ...``; one JSON object per stdout line, ``{"ok":
true, ...}`` or ``{"ok": false, "error": "..."}``:

``start host=H port=P uid=N members=H:P:N,H:P:N [mem=1] [version=10]``
    `open_cluster` with the seed's stack (static membership with every listed member, TcpPing,
    TcpFailureDetector, dispatch; one DeltaManager-like context ``localhost#/jw``, options 6),
    returning once its state transfer ended: ``transfer_ms`` (GET_ALL_SESSIONS sent ->
    TRANSFERCOMPLETE processed, the node's own ``state_transfer_done`` figure), ``join_ms``
    (whole start), ``sessions``.  ``mem=1``: ``mem_bytes``, the memory in use once started
    (here: the bytes allocated since just before the start and still alive, by tracemalloc, so
    that run's timings are slower and not reported; Java: heap used after GC), and the next
    ``stop`` reports ``mem_after_stop``, the same figure once the node is gone: the node held
    the difference.
``wait_members n=K [timeout=S]``   until the node sees exactly K other members.
``fill n=K``      K new sessions, each with one 100-character String attribute, completed.
``delta conc=C seconds=S``  C concurrent "requests" loops, each on its own session: access the
    session, set a fresh 100-character String, `complete()` (options 6: DELTA sent and ACKed
    by the peer after it applied it); ``count``, ``elapsed``, latency percentiles in µs.
``stop``          graceful stop (MSG_STOP).
``profile_start`` / ``profile_stop path=FILE``   cProfile everything the process does in between
    (pstats file; benchmarks/profile_replication.py).
``quit``
"""

from __future__ import annotations

import cProfile
import gc
import json
import logging
import os
import statistics
import sys
import time
import tracemalloc
from typing import Any

import trio

from tribes.config import (
    ManagerConfig,
    MembershipConfig,
    NodeConfig,
    ReceiverConfig,
    StaticMemberConfig,
)
from tribes.net.cluster import Cluster, open_cluster

CONTEXT = "/jw"
ATTR = "attr"
VALUE = "v" * 100
VALUE_TAIL = VALUE[:90]  # a request's value: a 10-digit counter + these 90 characters


def uid_bytes(n: int) -> bytes:
    return bytes(15) + bytes([n])


def node_config(host: str, port: int, uid: int, members: str, version: int) -> NodeConfig:
    statics = []
    for spec in members.split(","):
        h, p, u = spec.split(":")
        statics.append(StaticMemberConfig(host=h, port=int(p), unique_id=uid_bytes(int(u))))
    return NodeConfig(
        unique_id=uid_bytes(uid),
        tomcat_version=version,
        receiver=ReceiverConfig(address=host, port=port),
        membership=MembershipConfig(members=tuple(statics)),
        manager=ManagerConfig(contexts=(CONTEXT,), channel_send_options=6),
    )


class TransferLog(logging.Handler):
    """Keeps the fields of the last ``state_transfer_done`` event."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.done: dict[str, Any] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "tribes_event", None) == "state_transfer_done":
            self.done = dict(getattr(record, "tribes_fields", {}))


def percentiles(lat_us: list[float]) -> dict[str, float]:
    if not lat_us:
        return {}
    s = sorted(lat_us)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))]

    return {
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": s[-1],
        "mean": statistics.fmean(s),
    }


class Worker:
    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self.leave: trio.Event | None = None
        self.done: trio.Event | None = None
        self.log = TransferLog()
        tribes_logger = logging.getLogger("tribes")
        tribes_logger.addHandler(self.log)
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        tribes_logger.addHandler(err)
        tribes_logger.setLevel(logging.INFO)
        tribes_logger.propagate = False
        self.counter = 0
        self.profiler: cProfile.Profile | None = None

    async def _run(
        self, config: NodeConfig, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.leave, self.done = trio.Event(), trio.Event()
        try:
            async with open_cluster(config) as cluster:
                self.cluster = cluster
                task_status.started()
                await self.leave.wait()
        finally:
            self.cluster = None
            self.done.set()

    async def start(self, nursery: trio.Nursery, a: dict[str, str]) -> dict[str, Any]:
        if self.cluster is not None:
            raise RuntimeError("already started")
        config = node_config(
            a["host"], int(a["port"]), int(a["uid"]), a["members"], int(a.get("version", "10"))
        )
        mem = a.get("mem") == "1"
        self.log.done = None
        if mem:
            gc.collect()
            tracemalloc.start()
        t0 = time.perf_counter()
        await nursery.start(self._run, config)
        join_ms = (time.perf_counter() - t0) * 1000
        out: dict[str, Any] = {"join_ms": join_ms}
        if mem:  # tracing goes on until `stop`, which reports what is left then
            gc.collect()
            out["mem_bytes"] = tracemalloc.get_traced_memory()[0]
        done = self.log.done or {}
        out["transfer_ms"] = done.get("ms")
        out["transfer_state"] = done.get("state")
        out["sessions"] = len(self._cluster().manager(CONTEXT))
        return out

    def _cluster(self) -> Cluster:
        if self.cluster is None:
            raise RuntimeError("not started")
        return self.cluster

    async def stop(self) -> dict[str, Any]:
        if self.leave is None or self.done is None or self.cluster is None:
            return {}
        t0 = time.perf_counter()
        self.leave.set()
        await self.done.wait()
        out: dict[str, Any] = {"stop_ms": (time.perf_counter() - t0) * 1000}
        if tracemalloc.is_tracing():
            gc.collect()
            out["mem_after_stop"] = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        return out

    async def wait_members(self, a: dict[str, str]) -> dict[str, Any]:
        n = int(a.get("n", "1"))
        cluster = self._cluster()
        with trio.fail_after(float(a.get("timeout", "30"))):
            while len(cluster.members()) != n:
                await trio.sleep(0.005)
        return {"members": n}

    async def fill(self, a: dict[str, str]) -> dict[str, Any]:
        cluster = self._cluster()
        n = int(a["n"])
        t0 = time.perf_counter()
        for _ in range(n):
            s = cluster.create_session(CONTEXT)
            s.set(ATTR, VALUE)
            await cluster.complete(s)
        return {
            "filled": n,
            "ms": (time.perf_counter() - t0) * 1000,
            "sessions": len(cluster.manager(CONTEXT)),
        }

    async def delta(self, a: dict[str, str]) -> dict[str, Any]:
        cluster = self._cluster()
        conc = int(a.get("conc", "1"))
        seconds = float(a.get("seconds", "1"))
        if not cluster.members():
            raise RuntimeError("no members: nothing would be replicated")
        ids = []
        for _ in range(conc):  # the sessions exist on both nodes before the clock starts
            s = cluster.create_session(CONTEXT)
            s.set(ATTR, VALUE)
            await cluster.complete(s)
            ids.append(s.id)
        lat: list[list[float]] = [[] for _ in range(conc)]
        failures = [0]
        deadline = time.perf_counter() + seconds
        perf = time.perf_counter

        async def loop(k: int) -> None:
            out = lat[k]
            sid = ids[k]
            while True:
                t = perf()
                if t >= deadline:
                    return
                self.counter += 1
                session = cluster.find_session(CONTEXT, sid)
                assert session is not None
                session.set(ATTR, f"{self.counter:010d}{VALUE_TAIL}")
                for d in await cluster.complete(session):
                    if d.error is not None:
                        failures[0] += 1
                out.append((perf() - t) * 1e6)

        t0 = perf()
        async with trio.open_nursery() as nursery:
            for k in range(conc):
                nursery.start_soon(loop, k)
        elapsed = perf() - t0
        flat = [x for per in lat for x in per]
        return {
            "count": len(flat),
            "elapsed": elapsed,
            "failures": failures[0],
            "lat_us": percentiles(flat),
        }


def parse(line: str) -> tuple[str, dict[str, str]]:
    parts = line.split()
    args = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        args[k] = v
    return parts[0], args


async def main() -> None:
    worker = Worker()
    stdin = trio.lowlevel.FdStream(os.dup(0))
    buf = b""
    async with trio.open_nursery() as nursery:
        while True:
            while b"\n" not in buf:
                chunk = await stdin.receive_some(65536)
                if not chunk:
                    await worker.stop()
                    nursery.cancel_scope.cancel()
                    return
                buf += chunk
            raw, _, buf = buf.partition(b"\n")
            line = raw.decode().strip()
            if not line:
                continue
            cmd, args = parse(line)
            try:
                if cmd == "start":
                    out = await worker.start(nursery, args)
                elif cmd == "stop":
                    out = await worker.stop()
                elif cmd == "wait_members":
                    out = await worker.wait_members(args)
                elif cmd == "fill":
                    out = await worker.fill(args)
                elif cmd == "delta":
                    out = await worker.delta(args)
                elif cmd == "profile_start":
                    worker.profiler = cProfile.Profile()
                    worker.profiler.enable()
                    out = {}
                elif cmd == "profile_stop":
                    if worker.profiler is None:
                        raise RuntimeError("no profile_start")
                    worker.profiler.disable()
                    worker.profiler.dump_stats(args["path"])
                    worker.profiler = None
                    out = {"path": args["path"]}
                elif cmd == "hello":
                    out = {"impl": "pytribes", "python": sys.version.split()[0]}
                elif cmd == "quit":
                    await worker.stop()
                    print('{"ok": true}', flush=True)
                    nursery.cancel_scope.cancel()
                    return
                else:
                    raise ValueError(f"unknown command {cmd!r}")
                reply: dict[str, Any] = {"ok": True, **out}
            except Exception as e:  # reported to the orchestrator, which fails the scenario
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    trio.run(main)
