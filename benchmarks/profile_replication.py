"""cProfile both pytribes nodes of the replication benchmark (py->py, two processes).

    python -m benchmarks.profile_replication [--seconds 5] [--sessions 100000] [--out DIR]
        [--top 25]

Phases, each profiled in the driver (A) and the peer (B) separately: ``delta-c1`` and
``delta-c4`` (the delta loops of benchmarks/replication.py), ``transfer`` (B joins A holding
`--sessions` sessions).  Writes ``<phase>-<A|B>.pstats`` to `--out` and prints the top
functions by own time and by cumulative time.  cProfile roughly doubles the cost of Python
calls, so read shares, not absolute times.
"""

from __future__ import annotations

import argparse
import io
import pstats
import sys
import tempfile
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_replication")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--out", default=None, help="directory for the .pstats files")
    p.add_argument("--top", type=int, default=25)
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

    files = []
    try:
        start(A, ha)
        start(B, hb)
        A("wait_members", n=1)
        A("delta", conc=1, seconds=1)  # warm-up
        for conc in (1, 4):
            for w in (A, B):
                w("profile_start")
            r = A("delta", conc=conc, seconds=a.seconds)
            print(f"delta-c{conc} under cProfile: {r['count'] / r['elapsed']:.0f} msg/s")
            for w, tag in ((A, "A"), (B, "B")):
                f = out / f"delta-c{conc}-{tag}.pstats"
                w("profile_stop", path=f)
                files.append(f)
        B("stop")
        A("wait_members", n=0)
        A("fill", n=a.sessions)
        for w in (A, B):
            w("profile_start")
        r = start(B, hb)
        print(f"transfer of {a.sessions} under cProfile: {r['transfer_ms']} ms")
        for w, tag in ((A, "A"), (B, "B")):
            f = out / f"transfer-{tag}.pstats"
            w("profile_stop", path=f)
            files.append(f)
    finally:
        B.close()
        A.close()
    for f in files:
        print(report(f, a.top))
    print(f"pstats files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
