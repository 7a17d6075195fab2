"""Profile both pytribes nodes of the replication benchmark (py->py, two processes).

    python -m benchmarks.profile_replication [--seconds 5] [--sessions 100000] [--out DIR]
        [--top 25] [--py-spy]

Phases, each profiled in the driver (A) and the peer (B) separately: ``delta-c1`` and
``delta-c4`` (the delta loops of benchmarks/replication.py), ``transfer`` (B joins A holding
`--sessions` sessions).  Writes ``<phase>-<A|B>.pstats`` to `--out` and prints the top
functions by own time and by cumulative time.  cProfile inflates the cost of small Python
calls several times over, so read shares, not absolute times.

``--py-spy`` samples instead (``py-spy record --nonblocking``, 1000 Hz, must be installed:
``pip install py-spy``): little overhead, so the shares are the real ones.  Writes
``<phase>-<A|B>.collapsed`` (flame-graph input) and prints the top frames by own and inclusive
samples, counting only samples on the CPU: py-spy also samples a thread blocked in epoll or
preempted inside a socket send() (at concurrency 1 the driver waits inside send() while the
peer, woken by it, runs), and those are left out (their count is printed).
"""

from __future__ import annotations

import argparse
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .replication import ADDRESSES, Worker, free_port


def report(path: Path, top: int) -> str:
    buf = io.StringIO()
    st = pstats.Stats(str(path), stream=buf)
    st.strip_dirs()
    buf.write(f"==== {path.name}: by own time ====\n")
    st.sort_stats("tottime").print_stats(top)
    buf.write(f"==== {path.name}: by cumulative time ====\n")
    st.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def collapsed_report(path: Path, top: int) -> str:
    """Own and inclusive sample counts per function of a py-spy ``--format raw`` file."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = waiting = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        frames = [_frame(f) for f in stack.split(";") if "runpy>" not in f]
        if frames[-1].startswith(WAITING):
            waiting += count
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    out = [
        f"==== {path.name}: {total} CPU samples ({waiting} waiting ones left out); "
        "% of CPU samples, own | inclusive ===="
    ]
    for name, n in own.most_common(top):
        out.append(f"  own  {100 * n / total:5.1f}%  {name}")
    for name, n in incl.most_common(top):
        out.append(f"  incl {100 * n / total:5.1f}%  {name}")
    return "\n".join(out) + "\n"


#: Leaf frames where a sampled thread waits rather than computes (epoll, a socket send()).
WAITING = (
    "idle: epoll",
    "EpollIOManager.get_events (_io_epoll.py)",  # py-spy shows no native frame: epoll_wait
    "_write_frame (sender.py)",  # socket.send()
    "Receiver._write (receiver.py)",  # socket.send() of an ACK
)


def _frame(f: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"; epoll waits are idle time
    name, _, where = f.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    if name == "poll" and file == "_io_epoll.py":
        return "idle: epoll"
    return f"{name} ({file})" if file else name


class Sampler:
    """py-spy on the two workers for the duration of one phase."""

    def __init__(self, out: Path, workers: dict[str, Worker], rate: int = 1000) -> None:
        self.rate = rate
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise SystemExit("py-spy is not installed (pip install py-spy)")
        self.exe, self.out, self.workers = exe, out, workers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[Path] = []

    def start(self, phase: str) -> None:
        import time

        self.procs, self.files = [], []
        for tag, w in self.workers.items():
            f = self.out / f"{phase}-{tag}.collapsed"
            self.files.append(f)
            self.procs.append(
                subprocess.Popen(
                    [self.exe, "record", "--pid", str(w.proc.pid), "--rate", str(self.rate),
                     "--nonblocking", "--format", "raw", "--output", str(f)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        time.sleep(1.0)  # py-spy attaches

    def stop(self) -> list[Path]:
        for p in self.procs:
            p.send_signal(2)  # SIGINT: py-spy writes its output and exits
        for p in self.procs:
            p.wait(timeout=60)
        return self.files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_replication")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--out", default=None, help="directory for the .pstats files")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--py-spy", action="store_true", help="sample with py-spy, not cProfile")
    p.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    a = p.parse_args(argv)
    out = Path(a.out or tempfile.mkdtemp(prefix="pytribes-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    ha, hb = ADDRESSES[("py", "A")], ADDRESSES[("py", "B")]
    port = free_port([ha, hb])
    members = ",".join(f"{h}:{port}:{h.rsplit('.', 1)[1]}" for h in (ha, hb))
    cmd = [sys.executable, "-m", "benchmarks.repl_worker"]
    A = Worker("py-A", cmd, out / "A.log")
    B = Worker("py-B", cmd, out / "B.log")

    def start(w: Worker, host: str) -> dict[str, object]:
        return w("start", host=host, port=port, uid=host.rsplit(".", 1)[1], members=members)

    files: list[Path] = []
    sampler = Sampler(out, {"A": A, "B": B}, a.rate) if a.py_spy else None

    def begin(phase: str) -> None:
        if sampler is not None:
            sampler.start(phase)
        else:
            for w in (A, B):
                w("profile_start")

    def end(phase: str) -> None:
        if sampler is not None:
            files.extend(sampler.stop())
            return
        for w, tag in ((A, "A"), (B, "B")):
            f = out / f"{phase}-{tag}.pstats"
            w("profile_stop", path=f)
            files.append(f)

    try:
        start(A, ha)
        start(B, hb)
        A("wait_members", n=1)
        A("delta", conc=1, seconds=1)  # warm-up
        for conc in (1, 4):
            begin(f"delta-c{conc}")
            r = A("delta", conc=conc, seconds=a.seconds)
            print(f"delta-c{conc} while profiled: {r['count'] / r['elapsed']:.0f} msg/s")
            end(f"delta-c{conc}")
        B("stop")
        A("wait_members", n=0)
        A("fill", n=a.sessions)
        begin("transfer")
        r = start(B, hb)
        print(f"transfer of {a.sessions} while profiled: {r['transfer_ms']} ms")
        end("transfer")
    finally:
        B.close()
        A.close()
    for f in files:
        print(collapsed_report(f, a.top) if f.suffix == ".collapsed" else report(f, a.top))
    print(f"profiles in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
