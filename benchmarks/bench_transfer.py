"""State transfer in one process: a master `SessionManager` holding N sessions answers a joiner's
GET_ALL_SESSIONS (encode), the joiner applies the ALL_SESSION_DATA (decode + install).

    python -m benchmarks.bench_transfer [--sessions 100000] [--rounds 5] [--memory] [--json]

Every session has one distinct 100-character String attribute (as a real session has; the
replication rows' sessions share one String). No network, no framing: what the two nodes' event
loops spend in `SessionManager.receive`. Figures: CPU ms of this process per transfer (CPU time,
not wall time: steady on a busy machine; median of `rounds`, the first run is a warm-up), the
payload in MB; with `--memory`, the bytes per session the joiner holds
afterwards (tracemalloc, a separate run: tracing slows everything down).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc
from typing import Any

from tribes.messages.session import Event
from tribes.session import SessionManager

CONTEXT = "/jw"
T0 = 1_700_000_000_000
MASTER, JOINER = "master", "joiner"


def master(n: int) -> SessionManager:
    """A manager that created `n` sessions while alone (nothing replicated)."""
    m = SessionManager(CONTEXT, tomcat_version=10, clock=lambda: T0)
    for i in range(n):
        s = m.create_session(T0 + i)
        s.set("attr", f"{i:010d}" + "v" * 90)
        m.request_completed(s, T0 + i)
    m.take_outgoing()
    return m


def transfer(a: SessionManager) -> tuple[SessionManager, float, float, int]:
    """A new joiner fetches `a`'s sessions: (joiner, encode ms, apply ms, payload bytes)."""
    b = SessionManager(CONTEXT, tomcat_version=10, members=lambda: [MASTER], clock=lambda: T0)
    b.start(T0)
    (get_all,) = b.take_outgoing()
    t0 = time.process_time()
    a.receive(get_all.message, JOINER, T0)
    t1 = time.process_time()
    sends = a.take_outgoing()
    for send in sends:
        b.receive(send.message, MASTER, T0)
    t2 = time.process_time()
    size = sum(
        len(s.message.payload or b"")
        for s in sends
        if s.message.event == Event.EVT_ALL_SESSION_DATA
    )
    if len(b) != len(a) or not b.transfer_done:
        raise RuntimeError(f"transfer incomplete: {len(b)} of {len(a)} sessions")
    return b, (t1 - t0) * 1000, (t2 - t1) * 1000, size


def memory_per_session(a: SessionManager) -> float:
    """Bytes the joiner holds per session once the transfer is done (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        b, *_ = transfer(a)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return held / len(b)


def run(n: int, rounds: int, memory: bool) -> dict[str, Any]:
    a = master(n)
    encode, apply = [], []
    size = 0
    for i in range(rounds + 1):
        b, enc, app, size = transfer(a)
        del b
        gc.collect()
        if i:  # the first is a warm-up
            encode.append(enc)
            apply.append(app)
    out: dict[str, Any] = {
        "sessions": n,
        "encode_ms": statistics.median(encode),
        "apply_ms": statistics.median(apply),
        "total_ms": statistics.median(e + p for e, p in zip(encode, apply, strict=True)),
        "payload_mb": size / 1e6,
        "encode_runs": [round(x, 1) for x in encode],
        "apply_runs": [round(x, 1) for x in apply],
    }
    if memory:
        out["bytes_per_session"] = memory_per_session(a)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--memory", action="store_true", help="also bytes per session (tracemalloc)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    r = run(args.sessions, args.rounds, args.memory)
    if args.json:
        print(json.dumps(r))
        return
    print(
        f"{r['sessions']:,} sessions: encode {r['encode_ms']:.0f} ms, "
        f"decode + apply {r['apply_ms']:.0f} ms, total {r['total_ms']:.0f} ms, "
        f"payload {r['payload_mb']:.1f} MB"
        + (f", {r['bytes_per_session']:.0f} B/session held" if "bytes_per_session" in r else "")
    )


if __name__ == "__main__":
    main()
