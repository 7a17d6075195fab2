"""DeltaManager -> DeltaManager replication, pytribes against the real Tomcat classes, in one run.

Four long-lived worker processes, each one cluster node at a time on its own loopback address
(port shared), all speaking the line protocol of benchmarks/repl_worker.py:

    pytribes  A 127.0.0.91   B 127.0.0.92      (python -m benchmarks.repl_worker)
    Java      A 127.0.0.93   B 127.0.0.94      (benchmarks/java/replication: embedded Tomcat,
                                                SimpleTcpCluster + DeltaManager, see there)

A pairing is (driver A, peer B) of either implementation: py->py, java->java and, with `mixed`,
py->java and java->py.  Every node has the seed's stack: StaticMembershipService (both nodes
listed), TcpPingInterceptor, TcpFailureDetector, MessageDispatchInterceptor, channelSendOptions 6,
one DeltaManager ``localhost#/jw``, Tomcat defaults elsewhere.  Every node runs in its own
process (pytribes too: never the two ends of a pair in one interpreter).

One round of a pairing:

1. A starts alone; B starts and joins (A has no sessions; with `memory`, B measures its memory);
2. delta replication: A runs `conc` concurrent request loops for `delta_seconds`, each on its own
   session: access, set a fresh 100-character String attribute, requestCompleted -> DELTA sent
   with options 6 and ACKed by B after B applied it.  msg/s = requests / elapsed; lag = the time
   one such request takes (set -> applied on the peer and ACKed);
3. state transfer: B leaves; A creates sessions up to N (one 100-character String attribute
   each); B starts again: GET_ALL_SESSIONS -> ALL_SESSION_DATA -> TRANSFERCOMPLETE processed, as
   timed by the joining node itself (Java: around DeltaManager.getAllClusterSessions up to the
   return of handleALL_SESSION_TRANSFERCOMPLETE; pytribes: its ``state_transfer_done`` figure);
   for every N of `sizes`, growing A's sessions; with the peak RSS growth of both processes
   over that transfer (VmHWM reset just before it, see `Worker.reset_peak`);
4. memory (py->py and java->java only): B joins once more with `memory_sessions` sessions on A
   and measures the bytes its start left allocated (Java: heap used after System.gc() x3,
   pytribes: tracemalloc); bytes/session = (that - the same figure of step 1) / sessions;
5. A and B stop (gracefully).

The rounds alternate the pairings (py->py, java->java, py->java, java->py, py->py, ...); round 0
is a warm-up (JIT, caches) and is not reported.  `collect()` returns every measurement of every
round, `rows()` the runner's rows (median and spread; ratio pytribes/Java taken round by round).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .javabuild import JavaUnavailable, java_command

HERE = Path(__file__).resolve().parent
JAVA_SRC = HERE / "java" / "replication"
JAVA_MAIN = "pytribes.bench.ReplicationWorker"
ADDRESSES = {
    ("py", "A"): "127.0.0.91",
    ("py", "B"): "127.0.0.92",
    ("java", "A"): "127.0.0.93",
    ("java", "B"): "127.0.0.94",
}
IMPL_NAME = {"py": "pytribes", "java": "Java"}


@dataclass
class Settings:
    rounds: int = 5  # measured rounds (plus one warm-up)
    delta_seconds: float = 3.0
    concurrency: tuple[int, ...] = (1, 4)
    sizes: tuple[int, ...] = (10_000, 100_000)
    memory: bool = True
    memory_sessions: int = 10_000
    mixed: bool = True
    tomcat_version: int = 10
    java_heap: str = "2g"

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            rounds=2,
            delta_seconds=0.5,
            sizes=(2_000,),
            memory_sessions=2_000,
            mixed=False,
        )


class WorkerError(RuntimeError):
    pass


class Worker:
    """One worker process and its line protocol."""

    def __init__(self, name: str, cmd: list[str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            cwd=HERE.parent,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def __call__(self, command: str, timeout: float = 300.0, **args: object) -> dict[str, Any]:
        assert self.proc.stdin is not None
        line = " ".join([command, *(f"{k}={v}" for k, v in args.items())])
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            answer = self._lines.get(timeout=timeout)
        except (BrokenPipeError, queue.Empty) as e:
            raise WorkerError(f"{self.name}: no answer to {line!r}: {e!r}{self.tail()}") from e
        if answer is None:
            raise WorkerError(f"{self.name} exited on {line!r}{self.tail()}")
        reply: dict[str, Any] = json.loads(answer)
        if not reply.get("ok"):
            raise WorkerError(f"{self.name}: {line!r}: {reply.get('error')}{self.tail()}")
        return reply

    def cpu_seconds(self) -> tuple[float, float] | None:
        """(user, system) CPU seconds of the process so far (every thread: JIT and GC too),
        from /proc; None where there is no /proc."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def _status(self, key: str) -> int | None:
        """One ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM) in bytes; None without it."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def reset_peak(self) -> int | None:
        """Resets the process's peak RSS (VmHWM) to its current RSS (``clear_refs`` 5) and
        returns that RSS in bytes; None where the kernel does not allow it."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return None
        return self._status("VmRSS")

    def peak_rss(self) -> int | None:
        """Peak RSS (VmHWM) in bytes since the last `reset_peak`."""
        return self._status("VmHWM")

    def tail(self, n: int = 3000) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""
        return f"\n--- {self.log_path.name} (tail) ---\n{text}" if text else ""

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self("quit", timeout=30)
        except (WorkerError, OSError, ValueError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def free_port(hosts: Iterable[str]) -> int:
    """A port free on every one of `hosts`."""
    hosts = list(hosts)
    for _ in range(100):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = int(s.getsockname()[1])
        try:
            for h in hosts[1:]:
                with socket.socket() as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


@dataclass
class Measurement:
    """One figure of one round of one pairing."""

    metric: str  # e.g. "delta_rate.c1", "transfer_ms.10000", "memory_per_session"
    pair: str  # "py->py", "java->java", "py->java", "java->py"
    round: int
    value: float


@dataclass
class Results:
    settings: Settings
    measurements: list[Measurement] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def values(self, metric: str, pair: str) -> dict[int, float]:
        return {m.round: m.value for m in self.measurements if (m.metric, m.pair) == (metric, pair)}


class Bench:
    def __init__(self, settings: Settings, logdir: Path, progress: Callable[[str], None]) -> None:
        self.s = settings
        self.logdir = logdir
        self.progress = progress
        self.workers: dict[tuple[str, str], Worker] = {}
        self.port = free_port(ADDRESSES.values())
        self.results = Results(settings)

    def spawn(self) -> None:
        py = [sys.executable, "-m", "benchmarks.repl_worker"]
        impls = ["py"]
        try:
            jcmd = java_command(JAVA_SRC, self.s.tomcat_version, JAVA_MAIN, heap=self.s.java_heap)
            impls.append("java")
        except JavaUnavailable as e:
            self.results.skipped.append(f"Java: {e}")
            self.progress(f"no Java side: {e}")
        for impl in impls:
            for role in ("A", "B"):
                cmd = py if impl == "py" else jcmd
                self.workers[(impl, role)] = Worker(
                    f"{impl}-{role}", cmd, self.logdir / f"{impl}-{role}.log"
                )
        for (impl, _), w in self.workers.items():
            hello = w("hello", timeout=120)
            self.results.info[impl] = {k: v for k, v in hello.items() if k != "ok"}

    def close(self) -> None:
        for w in self.workers.values():
            w.close()

    def pairs(self) -> list[tuple[str, str]]:
        impls = sorted({i for i, _ in self.workers}, key=["py", "java"].index)
        out = [(i, i) for i in impls]
        if self.s.mixed and len(impls) == 2:
            out += [("py", "java"), ("java", "py")]
        return out

    def start(self, impl: str, role: str, members: str, **extra: Any) -> dict[str, Any]:
        host = ADDRESSES[(impl, role)]
        return self.workers[(impl, role)](
            "start",
            host=host,
            port=self.port,
            uid=host.rsplit(".", 1)[1],
            members=members,
            version=self.s.tomcat_version,
            **extra,
        )

    def join(self, pair: str, b_impl: str, members: str, n: int, **extra: object) -> dict[str, Any]:
        """B starts and must receive A's `n` sessions.  A node restarting right after it left
        sometimes starts without seeing its peer (its MSG_START exchange fails on the peer's
        stale connection -- observed with Tomcat as the joiner), so it gets no state at all;
        then it is stopped and started again (counted in `info["join_retries"]`)."""
        B = self.workers[(b_impl, "B")]
        for attempt in range(4):
            r = self.start(b_impl, "B", members, **extra)
            if r.get("transfer_ms") is not None and r["sessions"] >= n:
                return r
            retries = self.results.info.setdefault("join_retries", {})
            retries[pair] = retries.get(pair, 0) + 1
            self.progress(f"{pair}: B started without the state ({r}); retry {attempt + 1}")
            B("stop")
            time.sleep(0.5 * (attempt + 1))
        raise WorkerError(f"{pair}: state transfer of {n} never happened: {r}")

    def held(self, pair: str, b_impl: str, members: str, n: int) -> float:
        """B joins A (holding `n` sessions) measuring memory, and stops: the bytes the running
        node held = in use once joined - in use once stopped (both after GC; Java: heap used,
        pytribes: tracemalloc since just before the start).  Measuring both ends around one
        node keeps what earlier nodes of the same process left behind out of the figure."""
        r = (
            self.join(pair, b_impl, members, n, mem=1)
            if n
            else self.start(b_impl, "B", members, mem=1)
        )
        stopped = self.workers[(b_impl, "B")]("stop")
        return float(r["mem_bytes"] - stopped["mem_after_stop"])

    def record(self, metric: str, pair: str, rnd: int, value: float | None) -> None:
        if value is not None and rnd > 0:
            self.results.measurements.append(Measurement(metric, pair, rnd, float(value)))

    def round(self, rnd: int, a_impl: str, b_impl: str) -> None:
        pair = f"{a_impl}->{b_impl}"
        warm = rnd == 0
        A, B = self.workers[(a_impl, "A")], self.workers[(b_impl, "B")]
        ha, hb = ADDRESSES[(a_impl, "A")], ADDRESSES[(b_impl, "B")]
        members = ",".join(f"{h}:{self.port}:{h.rsplit('.', 1)[1]}" for h in (ha, hb))
        memory = self.s.memory and a_impl == b_impl
        t0 = time.monotonic()
        self.start(a_impl, "A", members)
        try:
            held0 = None
            if memory:  # what an empty join holds (node, buffers): subtracted below
                held0 = self.held(pair, b_impl, members, 0)
                A("wait_members", n=0)
            self.start(b_impl, "B", members)
            A("wait_members", n=1)
            B("wait_members", n=1)
            for conc in self.s.concurrency:
                cpu0 = A.cpu_seconds(), B.cpu_seconds()
                r = A("delta", conc=conc, seconds=self.s.delta_seconds)
                cpu1 = A.cpu_seconds(), B.cpu_seconds()
                if r.get("failures"):
                    raise WorkerError(f"{pair}: {r['failures']} failed deliveries")
                self.record(f"delta_rate.c{conc}", pair, rnd, r["count"] / r["elapsed"])
                for role, before, after in zip(("driver", "peer"), cpu0, cpu1, strict=True):
                    if before is not None and after is not None and r["count"]:
                        user, sys_ = (after[i] - before[i] for i in (0, 1))
                        per = 1e6 / r["count"]
                        self.record(f"delta_cpu_{role}.c{conc}", pair, rnd, (user + sys_) * per)
                        self.record(f"delta_cpu_{role}_sys.c{conc}", pair, rnd, sys_ * per)
                lat = r["lat_us"]
                self.record(f"delta_lag_p50.c{conc}", pair, rnd, lat.get("p50"))
                self.record(f"delta_lag_p99.c{conc}", pair, rnd, lat.get("p99"))
            B("stop")
            A("wait_members", n=0)
            filled = 0
            sizes = self.s.sizes[:1] if warm else self.s.sizes
            for n in sizes:
                A("fill", n=n - filled)
                filled = n
                ends = (("serving", A), ("joining", B))
                base = {end: w.reset_peak() for end, w in ends}
                r = self.join(pair, b_impl, members, n)
                self.record(f"transfer_ms.{n}", pair, rnd, r["transfer_ms"])
                for end, w in ends:
                    peak, rss0 = w.peak_rss(), base[end]
                    if peak is not None and rss0 is not None:
                        growth = max(0, peak - rss0)  # < 0: the RSS read raced the reset
                        self.record(f"transfer_peak_{end}.{n}", pair, rnd, growth / 1e6)
                B("stop")
                A("wait_members", n=0)
                if memory and n == self.s.memory_sessions and held0 is not None:
                    held = self.held(pair, b_impl, members, n)
                    self.record("memory_per_session", pair, rnd, (held - held0) / n)
                    A("wait_members", n=0)
        finally:
            for w in (B, A):
                try:
                    w("stop", timeout=60)
                except WorkerError as e:
                    self.progress(f"stop failed: {e}")
        tag = "warm-up" if warm else f"round {rnd}"
        self.progress(f"replication {tag} {pair}: {time.monotonic() - t0:.1f} s")

    def run(self) -> Results:
        self.spawn()
        for rnd in range(self.s.rounds + 1):
            for a_impl, b_impl in self.pairs():
                self.round(rnd, a_impl, b_impl)
        return self.results


def collect(
    settings: Settings,
    progress: Callable[[str], None] = lambda s: None,
    logdir: Path | None = None,
) -> Results:
    """Run the benchmark; the workers' logs go to `logdir` (default: a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="pytribes-bench-repl-") as tmp:
        bench = Bench(settings, logdir or Path(tmp), progress)
        try:
            return bench.run()
        finally:
            bench.close()


# --------------------------------------------------------------------------------------- rows

#: metric -> (title, unit, higher_is_better, what it measures)
METRICS: dict[str, tuple[str, str, bool, str]] = {}


def _describe(settings: Settings) -> None:
    METRICS.clear()
    for c in settings.concurrency:
        sess = "1 session" if c == 1 else f"{c} concurrent sessions"
        METRICS[f"delta_rate.c{c}"] = (
            f"delta replication, {sess}",
            "msg/s",
            True,
            f"{c} request loop(s) on the driver, each on its own session: set a fresh 100-char "
            "String attribute, requestCompleted -> EVT_SESSION_DELTA sent with options 6 "
            "(USE_ACK|SYNCHRONIZED_ACK) and ACKed after the peer applied it; requests / second",
        )
        METRICS[f"delta_lag_p50.c{c}"] = (
            f"delta lag p50, {sess}",
            "µs",
            False,
            "median time of one such request (set -> delta applied on the peer -> ACK back)",
        )
        METRICS[f"delta_lag_p99.c{c}"] = (
            f"delta lag p99, {sess}",
            "µs",
            False,
            "99th percentile of the same",
        )
    for c in settings.concurrency:
        sess = "1 session" if c == 1 else f"{c} concurrent sessions"
        for role, who in (("driver", "the sending node (A)"), ("peer", "the receiving node (B)")):
            METRICS[f"delta_cpu_{role}.c{c}"] = (
                f"CPU per delta message, {role}, {sess}",
                "µs",
                False,
                f"user + system CPU time of {who}'s whole process (every thread, JIT and GC "
                "included; /proc) during the delta run, divided by the requests",
            )
            METRICS[f"delta_cpu_{role}_sys.c{c}"] = (
                f"  of which system CPU, {role}, {sess}",
                "µs",
                False,
                "the system (kernel) part of the same: socket calls, epoll, wake-ups",
            )
    for n in settings.sizes:
        METRICS[f"transfer_ms.{n}"] = (
            f"state transfer, {n:,} sessions",
            "ms",
            False,
            f"a node joins a peer holding {n:,} sessions (one 100-char String each): "
            "GET_ALL_SESSIONS sent -> ALL_SESSION_DATA (one message, sendAllSessions=true) "
            "-> TRANSFERCOMPLETE processed, timed by the joining node",
        )
    for n in settings.sizes:
        for end, who in (("serving", "the node holding them"), ("joining", "the joining node")):
            METRICS[f"transfer_peak_{end}.{n}"] = (
                f"state transfer peak memory, {end} end, {n:,} sessions",
                "MB",
                False,
                f"peak RSS growth of {who}'s whole process during that transfer: VmHWM after it "
                "- VmRSS before it, the peak reset just before (/proc/<pid>/clear_refs 5); "
                "the workers are long-lived, so memory a runtime kept from earlier rounds (JVM "
                "heap, pymalloc arenas) is reused and not counted again",
            )
    METRICS["memory_per_session"] = (
        "memory per replicated session",
        "B",
        False,
        f"bytes the joining node holds per session after receiving {settings.memory_sessions:,}: "
        "(memory in use once joined - once that node stopped) minus the same for an empty join, "
        "/ sessions; Java: heap used after System.gc(), pytribes: tracemalloc",
    )


def rows(results: Results, make_row: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """The runner's rows: same-implementation pairs (py->py vs java->java), then the mixed
    pairs (pytribes = py driver -> Java peer, java = Java driver -> py peer)."""
    s = results.settings
    _describe(s)
    out = []
    for mixed, (py_pair, java_pair) in (
        (False, ("py->py", "java->java")),
        (True, ("py->java", "java->py")),
    ):
        for metric, (title, unit, hib, what) in METRICS.items():
            py_v, java_v = results.values(metric, py_pair), results.values(metric, java_pair)
            if not py_v and not java_v:
                continue
            name = title + (" (mixed: pytribes->Java vs Java->pytribes)" if mixed else "")
            out.append(
                make_row(
                    scenario=f"replication.{metric}" + (".mixed" if mixed else ""),
                    title=name,
                    unit=unit,
                    higher_is_better=hib,
                    py_runs=py_v,
                    java_runs=java_v,
                    group="replication",
                    pair=f"{py_pair} vs {java_pair}",
                    measures=what,
                )
            )
    return out


def pair_table(results: Results) -> list[str]:
    """Markdown: every metric for the four pairings (medians)."""
    import statistics

    s = results.settings
    _describe(s)
    pairs = ["py->py", "java->java", "py->java", "java->py"]
    present = [p for p in pairs if any(m.pair == p for m in results.measurements)]
    head = "| metric | unit | " + " | ".join(present) + " |"
    lines = [head, "|---|---|" + "---|" * len(present)]
    for metric, (title, unit, _, _) in METRICS.items():
        cells = []
        for p in present:
            v = list(results.values(metric, p).values())
            cells.append(f"{statistics.median(v):,.1f}" if v else "–")
        if any(c != "–" for c in cells):
            lines.append(f"| {title} | {unit} | " + " | ".join(cells) + " |")
    retries = results.info.get("join_retries")
    if retries:
        lines += [
            "",
            "A joining node started without seeing its peer (no state) and was restarted: "
            + ", ".join(f"{p} {n}×" for p, n in retries.items())
            + " (see `Bench.join`).",
        ]
    return lines


def main() -> None:
    """python -m benchmarks.replication [--quick]: just these rows, as JSON."""
    from .runner import make_row

    quick = "--quick" in sys.argv
    res = collect(Settings.quick() if quick else Settings(), lambda s: print(s, file=sys.stderr))
    print(json.dumps(rows(res, make_row), indent=1))
    print("\n".join(pair_table(res)), file=sys.stderr)


if __name__ == "__main__":
    main()
