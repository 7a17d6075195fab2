"""Channel throughput and ACK round trip: Java -> Java (two real Tribes GroupChannels, Tomcat's
jars) against pytribes -> pytribes (two `tribes.net.node` processes), in the same run, on
loopback (127.0.0.11 -> 127.0.0.12).  Optionally the mixed pairs too.

    python -m benchmarks.bench_channel_java [--count 5000] [--sizes 100,1024,10240,102400]
        [--options 6,8] [--concurrency 1,4] [--tomcat-version 10] [--mixed] [--json out.json]

Both sides are the peers of tests/interop/javapeer.py (same stack: StaticMembershipService,
TcpPingInterceptor, TcpFailureDetector, MessageDispatchInterceptor; same ByteMessage payloads).
For each case (size, options, concurrency): one warm-up round (count / 5, not reported), then
`count` messages of `size` bytes from the sender, `concurrency` senders in parallel; `count` is
scaled by size and options (`count_for`) so each run takes about the same time.

* msg/s: count / (last arrival at the receiver - first send), both CLOCK_MONOTONIC;
* p50 / p99 / p99.9: the sender's time per send call -- with USE_ACK at concurrency 1 this is
  the ACK round trip (6: after the receiver processed the message); with option 8 only the
  enqueue.

Each process runs on the same 2-core machine, so the numbers compare the implementations with
each other, not with a real network.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.interop.javapeer import (
    BENCH_JVM_FLAGS,
    Peer,
    build,
    peer_args,
    start_java_peer,
    start_python_peer,
)

__all__ = ["Case", "Row", "build", "count_for", "main", "run_pair", "sweep", "table"]

SENDER, RECEIVER = "127.0.0.11", "127.0.0.12"


def common_port() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind((SENDER, 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as s:
                s.bind((RECEIVER, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


@dataclass(frozen=True)
class Case:
    size: int
    options: int
    concurrency: int
    count: int


def count_for(size: int, options: int, base: int) -> int:
    """Messages per run, so that every run takes roughly 0.5-1 s: `base` for an ACKed send up
    to 10 KiB, 3x that without ACK (a send is only an enqueue), 0.4x at 100 KiB."""
    scale = (1.0 if size <= 10240 else 0.4) * (1 if options & 2 else 3)
    return max(200, int(base * scale))


def sweep(sizes: Sequence[int], options: Sequence[int], concurrency: Sequence[int],
          base: int) -> list[Case]:  # fmt: skip
    return [
        Case(size, opts, conc, count_for(size, opts, base))
        for size in sizes
        for opts in options
        for conc in concurrency
    ]


@dataclass
class Row:
    pair: str  # "java->java", "py->py", "java->py", "py->java"
    options: int
    concurrency: int
    count: int
    size: int
    msgs_per_s: float
    mb_per_s: float
    p50_us: float
    p99_us: float
    p999_us: float
    errors: int
    duplicates: int


def start(kind: str, version: int, me: tuple[str, int], n: int, peer: tuple[str, int, int],
          logs: Path) -> Peer:  # fmt: skip
    args = peer_args(me, n, [peer])
    log = logs / f"{kind}-{me[0]}.log"
    if kind == "java":
        return start_java_peer(version, args, log, jvm_flags=BENCH_JVM_FLAGS, name=f"java@{me[0]}")
    return start_python_peer([*args, "--tomcat-version", str(version)], log, name=f"py@{me[0]}")


def run_pair(
    sender_kind: str,
    receiver_kind: str,
    cases: Sequence[Case],
    version: int,
    logs: Path,
    progress: Callable[[str], None],
) -> list[Row]:
    port = common_port()
    rx = start(receiver_kind, version, (RECEIVER, port), 12, (SENDER, port, 11), logs)
    tx = start(sender_kind, version, (SENDER, port), 11, (RECEIVER, port, 12), logs)
    pair = f"{sender_kind}->{receiver_kind}"
    rows: list[Row] = []
    try:
        tx.wait_members(1, 30)
        rx.wait_members(1, 30)
        tag = 0
        for c in cases:
            # warm-up (JIT, pools, connections), not reported
            tag += 1
            warm = max(1, c.count // 5)
            tx.send(tag, warm, c.size, c.options, c.concurrency)
            rx.wait_received(tag, warm, 60)
            tag += 1
            sent = tx.send(tag, c.count, c.size, c.options, c.concurrency)
            got = rx.wait_received(tag, c.count, 120)
            span = (int(got["last_ns"]) - int(sent["start_ns"])) / 1e9
            rate = c.count / span if span > 0 else float("nan")
            lat = sent["lat_us"]
            row = Row(
                pair, c.options, c.concurrency, c.count, c.size, rate, rate * c.size / 1e6,
                float(lat["p50"]), float(lat["p99"]), float(lat.get("p999", "nan")),
                int(sent["errors"]), int(got["duplicates"]),
            )  # fmt: skip
            if got["unique"] != c.count:
                raise RuntimeError(f"{pair} {c}: {got['unique']} of {c.count}")
            rows.append(row)
            progress(
                f"{pair:11} {c.size:6} B opts={c.options} conc={c.concurrency}: "
                f"{rate:9.0f} msg/s  p50 {row.p50_us:8.1f} µs  p99 {row.p99_us:8.1f} µs"
            )
    finally:
        tx.close()
        rx.close()
    return rows


def table(rows: Sequence[Row], base: str, other: str) -> list[str]:
    out = [
        f"| size B | options | senders | {base} msg/s | {other} msg/s | {other} / {base} "
        f"| {base} p50 µs | {other} p50 µs | {base} p99 µs | {other} p99 µs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by = {(r.pair, r.size, r.options, r.concurrency): r for r in rows}
    for (pair, size, opts, conc), b in by.items():
        if pair != base:
            continue
        o = by.get((other, size, opts, conc))
        if o is None:
            continue
        out.append(
            f"| {size} | {opts} | {conc} | {b.msgs_per_s:,.0f} | {o.msgs_per_s:,.0f} "
            f"| {o.msgs_per_s / b.msgs_per_s:.2f} | {b.p50_us:,.0f} | {o.p50_us:,.0f} "
            f"| {b.p99_us:,.0f} | {o.p99_us:,.0f} |"
        )
    return out


def parse_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_channel_java", description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=5000, help="messages per run up to 1 KiB")
    p.add_argument("--sizes", type=parse_ints, default=[100, 1024, 10240, 102400])
    p.add_argument("--options", type=parse_ints, default=[6, 8])
    p.add_argument("--concurrency", type=parse_ints, default=[1, 4])
    p.add_argument("--tomcat-version", type=int, choices=(9, 10), default=10)
    p.add_argument("--mixed", action="store_true", help="also java->py and py->java")
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    a = p.parse_args(argv)

    build(a.tomcat_version)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    pairs = [("java", "java"), ("py", "py")]
    if a.mixed:
        pairs += [("java", "py"), ("py", "java")]
    t0 = time.monotonic()
    rows: list[Row] = []
    cases = sweep(a.sizes, a.options, a.concurrency, a.count)
    with tempfile.TemporaryDirectory(prefix="bench-channel-") as tmp:
        for s, r in pairs:
            rows += run_pair(s, r, cases, a.tomcat_version, Path(tmp), progress)
    print(
        f"Channel benchmark: {a.count} ACKed ByteMessages per run up to 10 KiB (count_for), Tomcat "
        f"{a.tomcat_version} jars, loopback, {time.monotonic() - t0:.0f} s in all\n"
    )
    print("\n".join(table(rows, "java->java", "py->py")))
    if a.mixed:
        print()
        print("\n".join(table(rows, "java->java", "java->py")))
        print()
        print("\n".join(table(rows, "java->java", "py->java")))
    bad = [r for r in rows if r.errors or r.duplicates]
    if bad:
        print(f"\nERRORS or DUPLICATES: {bad}")
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
