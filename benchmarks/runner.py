"""`pytribes bench` / `python -m benchmarks`: every pytribes-vs-Java benchmark in one run.

    pytribes bench                 # full run: benchmarks/results/<date>.{json,md,png},
                                   #   <date>-latency.png, <date>-ratio.png
    pytribes bench --quick --json  # < 1 minute; prints one JSON object {"rows": [...], ...}
    pytribes bench --only replication --rounds 3 --no-mixed
    pytribes bench --only http --rounds 1 --no-write

Groups (each alternates pytribes and Java runs round by round, warm-up excluded):

* ``replication`` (benchmarks/replication.py): DeltaManager -> DeltaManager over the seed's
  stack, pytribes and the real Tomcat classes (embedded Tomcat) in four worker processes:
  delta messages/s and lag at 1 and 4 concurrent sessions, CPU per message, state-transfer
  time and peak RSS growth of both ends, memory per replicated session; mixed pairs in full runs;
* ``channel`` (benchmarks/bench_channel_java.py): raw GroupChannel byte-message throughput
  (100 B - 100 KiB, options 6 and 8, 1 and 4 senders) and ACK round trips p50/p99/p99.9 (the
  real GroupChannel vs a pytribes node);
* ``http`` (benchmarks/bench_http.py): wrk against a pytribes app node vs a Tomcat node with a
  JSP, one session write per request replicated to the peer (options 6): requests/s, latency
  p50/p99, the p99 that synchronous replication adds; not in ``--quick`` unless ``--only``
  names it (it starts four servers);
* ``codec`` (benchmarks/bench_codec.py): encode/decode of a whole EVT_SESSION_DELTA message.

Every row: ``scenario``, ``unit``, ``higher_is_better``, ``pytribes``, ``java`` (medians over
the measured rounds; ``null`` when that side is unavailable), ``ratio`` (pytribes/java: the
median of the per-round ratios when both sides ran in the same rounds), plus ``title``,
``group``, ``pair``, ``measures``, ``runs``, ``pytribes_min``/``_max``, ``java_min``/``_max``,
``ratio_min``/``_max``, ``pytribes_runs``/``java_runs`` (every round's figure).

A group that cannot run (no JDK, a module missing) is listed in ``skipped`` and does not fail
the run; a group that fails is listed in ``errors`` (exit status 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
GROUPS = ("replication", "channel", "http", "codec")
#: --quick runs these unless --only says otherwise (the HTTP group starts four servers: ~30 s)
QUICK_GROUPS = ("replication", "channel", "codec")

Progress = Callable[[str], None]


# ------------------------------------------------------------------------------------ one row


def _runs(v: Mapping[int, float] | list[float] | None) -> dict[int, float]:
    if v is None:
        return {}
    items = v.items() if isinstance(v, Mapping) else enumerate(v)
    # a round without a figure (None, NaN: e.g. a zero time span) is left out
    return {int(k): float(x) for k, x in items if x is not None and math.isfinite(x)}


def make_row(
    *,
    scenario: str,
    unit: str,
    higher_is_better: bool,
    py_runs: Mapping[int, float] | list[float] | None,
    java_runs: Mapping[int, float] | list[float] | None,
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A result row from each side's figures by round (a dict round -> value, or a list in
    round order).  The ratio is taken round by round over the rounds both sides ran."""
    py, java = _runs(py_runs), _runs(java_runs)
    row: dict[str, Any] = {
        "scenario": scenario,
        "unit": unit,
        "higher_is_better": higher_is_better,
        "pytribes": statistics.median(py.values()) if py else None,
        "java": statistics.median(java.values()) if java else None,
        "ratio": None,
        "title": title or scenario,
    }
    paired = [py[r] / java[r] for r in sorted(py.keys() & java.keys()) if java[r]]
    if paired:
        row["ratio"] = statistics.median(paired)
        row["ratio_min"], row["ratio_max"] = min(paired), max(paired)
    elif py and java and row["java"]:
        row["ratio"] = row["pytribes"] / row["java"]
    for side, values in (("pytribes", py), ("java", java)):
        if values:
            row[f"{side}_min"], row[f"{side}_max"] = min(values.values()), max(values.values())
    row["runs"] = max(len(py), len(java))
    row.update(extra)
    row["pytribes_runs"] = [py[r] for r in sorted(py)]
    row["java_runs"] = [java[r] for r in sorted(java)]
    return row


# ------------------------------------------------------------------------------------- groups


class Skip(Exception):
    """A group that cannot run here (missing JDK, jars, module)."""


def _is_skip(exc: BaseException) -> bool:
    # tests.javagen.require raises pytest's Skipped (a BaseException) when Java is missing
    return type(exc).__name__ in ("Skipped", "Skip", "JavaUnavailable")


def group_replication(quick: bool, args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from . import replication

    s = replication.Settings.quick() if quick else replication.Settings()
    if args.rounds is not None:
        s.rounds = args.rounds
    if args.mixed is not None:
        s.mixed = args.mixed
    s.tomcat_version = args.tomcat_version
    res = replication.collect(s, progress)
    return {
        "rows": replication.rows(res, make_row),
        "skipped": res.skipped,
        "info": res.info,
        "settings": {k: v for k, v in vars(s).items()},
        "markdown": replication.pair_table(res),
    }


def group_channel(quick: bool, args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    """Adapter over benchmarks/bench_channel_java.run_pair: alternates the pairs round by round
    (each run_pair starts its two peers and does its own warm-up per case).  Full runs sweep
    100 B - 100 KiB x options 6, 8 x 1, 4 senders, plus options 2 at 1 KiB; the ACK round trip
    rows (p50 / p99 / p99.9, >= 5,000 round trips) come from the 1 KiB, 1-sender runs."""
    import tempfile

    try:
        from . import bench_channel_java as bc
    except ImportError as e:
        raise Skip(f"benchmarks.bench_channel_java: {e}") from e
    base = 1000 if quick else 5000
    ack_size = 1024
    if quick:
        cases = bc.sweep([ack_size], [6], [1], base)
    else:
        cases = bc.sweep([100, ack_size, 10240, 102400], [6, 8], [1, 4], base)
        cases.insert(2, bc.Case(ack_size, 2, 1, base))
    rounds = 1 if quick else (args.rounds or 3)
    mixed = (not quick) if args.mixed is None else args.mixed
    pairs = [("py", "py"), ("java", "java")]
    if mixed:
        pairs += [("py", "java"), ("java", "py")]
    bc.build(args.tomcat_version)
    by: dict[tuple[str, int, int, int, str], dict[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="pytribes-bench-channel-") as tmp:
        for rnd in range(rounds):
            for s, r in pairs:
                for row in bc.run_pair(s, r, cases, args.tomcat_version, Path(tmp), progress):
                    key = (row.pair, row.size, row.options, row.concurrency)
                    for metric, value in (
                        ("rate", row.msgs_per_s), ("ack_p50", row.p50_us),
                        ("ack_p99", row.p99_us), ("ack_p999", row.p999_us),
                    ):  # fmt: skip
                        by.setdefault((*key, metric), {})[rnd] = value
    rows = []

    def add(pairs: tuple[str, str], c: Any, metric: str, **kw: Any) -> None:
        key = (c.size, c.options, c.concurrency, metric)
        py_v, java_v = by.get((pairs[0], *key)), by.get((pairs[1], *key))
        if py_v or java_v:
            rows.append(make_row(py_runs=py_v, java_runs=java_v, group="channel",
                                 pair=" vs ".join(pairs), **kw))  # fmt: skip

    for mixed_row, pairs_ in (
        (False, ("py->py", "java->java")),
        (True, ("py->java", "java->py")),
    ):
        suffix = ".mixed" if mixed_row else ""
        label = " (mixed: pytribes->Java vs Java->pytribes)" if mixed_row else ""
        for c in cases:
            add(
                pairs_, c, "rate",
                scenario=f"channel.rate.{c.size}B.o{c.options}.c{c.concurrency}{suffix}",
                title=f"channel {c.size:,} B, options {c.options}, {c.concurrency} "
                f"sender(s){label}",
                unit="msg/s", higher_is_better=True,
                measures="ByteMessages of that size, options and senders (per run: "
                f"bench_channel_java.count_for(size, options, {base})): count / (last arrival "
                "at the receiver - first send)",
            )  # fmt: skip
        for c in cases:
            if c.size != ack_size or c.concurrency != 1 or not c.options & 2:
                continue  # only a USE_ACK send at concurrency 1 is a round trip
            for metric, pct in (("ack_p50", "p50"), ("ack_p99", "p99"), ("ack_p999", "p99.9")):
                add(
                    pairs_, c, metric,
                    scenario=f"channel.{metric}.o{c.options}{suffix}",
                    title=f"channel ACK round trip {pct}, options {c.options}{label}",
                    unit="µs", higher_is_better=False,
                    measures=f"{pct} of one send with options {c.options} (ACK round trip), "
                    f"{c.size} B, 1 sender, {c.count} sends per run",
                )  # fmt: skip
    settings = {"cases": [vars(c) for c in cases], "rounds": rounds, "mixed": mixed}
    return {"rows": rows, "settings": settings}


def group_http(quick: bool, args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    """benchmarks/bench_http.py: wrk against a pytribes app node vs a Tomcat node (JSP), each
    replicating every request's session write to its peer (options 6)."""
    from . import bench_http as bh

    s = bh.Settings(tomcat_version=args.tomcat_version)
    if quick:
        s.rounds, s.seconds, s.warmup_seconds, s.mixed = 1, 1.0, 1.0, False
    if args.rounds is not None:
        s.rounds = args.rounds
    if args.mixed is not None:
        s.mixed = args.mixed
    try:
        res = bh.collect(s, progress)
    except bh.Unavailable as e:
        raise Skip(str(e)) from e
    skipped = [f"Java: {res.info['java_unavailable']}"] if "java_unavailable" in res.info else []
    return {"rows": bh.rows(res, s, make_row), "settings": vars(s), "skipped": skipped}


def group_codec(quick: bool, args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    """benchmarks/bench_codec.py: its own `rows(quick, make_row)` when it has one (with the Java
    codec comparison), else the pytribes side of its round trip alone."""
    from . import bench_codec as bc

    if hasattr(bc, "rows"):
        return {"rows": list(bc.rows(quick=quick, make_row=make_row))}
    from .timing import per_call_us

    rows = []
    for n in (1, 10):
        req = bc.make_delta(n)
        frame = bc.encode(req)
        for name, fn in (
            ("encode", lambda req=req: bc.encode(req)),
            ("decode", lambda frame=frame: bc.decode(frame)),
        ):
            runs = [
                per_call_us(fn, number=500 if quick else 2000, repeat=1)[0]
                for _ in range(3 if quick else 7)
            ]
            rows.append(
                make_row(
                    scenario=f"codec.{name}.{n}attr",
                    title=f"codec {name} EVT_SESSION_DELTA, {n} attribute(s)",
                    unit="µs",
                    higher_is_better=False,
                    py_runs=runs,
                    java_runs=None,
                    group="codec",
                    pair="in-process",
                    measures=f"{name} of a whole frame ({len(frame)} B): ChannelData + "
                    "SessionMessageImpl + DeltaRequest, per call; no Java side yet",
                )
            )
    return {"rows": rows}


GROUP_FUNCS = {
    "replication": group_replication,
    "channel": group_channel,
    "http": group_http,
    "codec": group_codec,
}


# ------------------------------------------------------------------------------------ machine


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    java = None
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        java = (out.stderr or out.stdout).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_start": _loadavg(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "java": java,
    }


# ------------------------------------------------------------------------------------- output


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _spread(row: Mapping[str, Any], side: str) -> str:
    lo, hi = row.get(f"{side}_min"), row.get(f"{side}_max")
    if lo is None or hi is None or row.get("runs", 0) < 2:
        return ""
    return f" ({_fmt(lo)}–{_fmt(hi)})"


def markdown(report: Mapping[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# pytribes vs Java (Tomcat {report.get('tomcat', '?')}) — {report['date']}",
        "",
        f"{m['cpu']} ({m['cpus']} CPUs), {m['platform']}; Python {m['python']}; {m['java']}; "
        f"load average {m.get('loadavg_start')} at the start, {m.get('loadavg_end')} at the end "
        "(other work on the machine shows there). "
        f"{'Quick' if report['quick'] else 'Full'} run, {report['seconds']:.0f} s, loopback only. "
        "Every figure is the median over the measured rounds (min–max in parentheses); "
        "pytribes and Java runs alternate round by round in the same run, warm-up excluded; "
        'ratio = pytribes / Java, the median of the per-round ratios; "rounds disagree": '
        "some rounds had the other side ahead.  Mixed rows: pytribes = a pytribes driver with a "
        "Java peer, Java = a Java driver with a pytribes peer.",
        "",
        "| scenario | unit | pytribes | Java | ratio py/Java | better |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        ratio = r.get("ratio")
        rs = ""
        if ratio is not None and r.get("ratio_min") is not None and r.get("runs", 0) >= 2:
            rs = f" ({r['ratio_min']:.2f}–{r['ratio_max']:.2f})"
        better = "–"
        if ratio is not None:
            py_better = ratio > 1 if r["higher_is_better"] else ratio < 1
            better = "pytribes" if py_better else "Java"
            lo, hi = r.get("ratio_min"), r.get("ratio_max")
            if lo is not None and hi is not None and lo <= 1 <= hi:
                better += " (rounds disagree)"
        lines.append(
            f"| {r.get('title', r['scenario'])} | {r['unit']} | {_fmt(r['pytribes'])}"
            f"{_spread(r, 'pytribes')} | {_fmt(r['java'])}{_spread(r, 'java')} | "
            f"{'–' if ratio is None else f'{ratio:.2f}'}{rs} | {better} |"
        )
    for name, g in report["groups"].items():
        if g.get("markdown"):
            lines += ["", f"## {name}: medians by pairing (driver->peer)", "", *g["markdown"]]
    lines += ["", "## What each row measures", ""]
    seen = set()
    for r in report["rows"]:
        key = r.get("measures")
        if key and (r["scenario"].split(".")[0], key) not in seen:
            seen.add((r["scenario"].split(".")[0], key))
            lines.append(f"* **{r.get('title', r['scenario'])}** ({r.get('pair', '')}): {key}")
    if report.get("skipped"):
        lines += ["", "## Skipped", "", *[f"* {s}" for s in report["skipped"]]]
    if report.get("errors"):
        lines += ["", "## Errors", "", *[f"* {e.splitlines()[0]}" for e in report["errors"]]]
    return "\n".join(lines) + "\n"


def _better_factor(row: Mapping[str, Any], key: str = "ratio") -> float | None:
    """How many times better pytribes is (> 1) or worse (< 1) than Java, from a ratio."""
    r = row.get(key)
    if r is None or r <= 0:
        return None
    return float(r) if row["higher_is_better"] else 1.0 / float(r)


def _short(title: str) -> str:
    return title.strip().replace(" (mixed: pytribes->Java vs Java->pytribes)", " [mixed*]")


COLORS = {"pytribes": "#3572A5", "java": "#E76F00"}
NAMES = {"pytribes": "pytribes", "java": "Java (Tomcat)"}


def _is_latency(row: Mapping[str, Any]) -> bool:
    """A time one request/message takes (not a CPU cost, not a transfer time)."""
    sc = row["scenario"]
    return row["unit"] == "µs" and any(k in sc for k in ("lag", ".ack_", "http.p"))


def _bars(ax: Any, rows: list[Mapping[str, Any]], title: str, log: bool) -> None:
    """Horizontal pytribes/Java bar pairs, one pair per row, each bar labelled with its median
    (min-max whiskers over the rounds) and each pair with the ratio."""
    y = list(range(len(rows)))
    for off, side in ((-0.2, "pytribes"), (0.2, "java")):
        pts = [(i + off, r) for i, r in zip(y, rows, strict=True) if r[side] is not None]
        if not pts:
            continue
        xs = [float(r[side]) for _, r in pts]
        lo = [
            max(0.0, x - float(r.get(f"{side}_min", x))) for x, (_, r) in zip(xs, pts, strict=True)
        ]
        hi = [
            max(0.0, float(r.get(f"{side}_max", x)) - x) for x, (_, r) in zip(xs, pts, strict=True)
        ]
        bars = ax.barh([yy for yy, _ in pts], xs, height=0.38, color=COLORS[side],
                       label=NAMES[side], xerr=[lo, hi], capsize=2,
                       error_kw={"elinewidth": 0.7, "ecolor": "#555"})  # fmt: skip
        ax.bar_label(bars, labels=[_fmt(x) for x in xs], fontsize=6, padding=3)
    labels = []
    for r in rows:
        ratio = r.get("ratio")
        tag = "" if ratio is None else f"  [{ratio:.2f}x]"
        labels.append(_short(r.get("title", r["scenario"])) + tag)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    if log:  # bars start at a power of ten below the smallest value, so lengths compare
        ax.set_xscale("log")
        lows = [float(r.get(f"{sd}_min") or r[sd]) for r in rows for sd in NAMES if r[sd]]
        highs = [float(r.get(f"{sd}_max") or r[sd]) for r in rows for sd in NAMES if r[sd]]
        ax.set_xlim(
            10 ** math.floor(math.log10(max(1e-3, min(lows, default=1.0)))),
            max(highs, default=1.0) * 2.5,
        )
    ax.margins(x=0.12)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.set_title(title, fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)


def _figure(report: Mapping[str, Any], panels: list[tuple[str, list[Any], bool]], what: str,
            path: Path) -> None:  # fmt: skip
    import matplotlib.pyplot as plt

    heights = [0.34 * len(rs) + 0.9 for _, rs, _ in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, sum(heights) + 0.8),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)  # fmt: skip
    for ax, (title, rs, log) in zip(axes[:, 0], panels, strict=True):
        _bars(ax, rs, title, log)
    fig.suptitle(
        f"pytribes vs Java (Tomcat {report.get('tomcat', '?')}): {what} — {report['date']}, "
        f"{'quick' if report['quick'] else 'full'} run, {report['machine']['cpus']} CPUs, "
        "loopback\nmedians, whiskers min–max over the rounds, [ratio pytribes/Java]; the mixed "
        "pairs are in the table only",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot(report: Mapping[str, Any], path: Path) -> list[Path]:
    """The PNGs next to `path` (``<date>.png``): ``<date>.png`` throughput (msg/s, req/s) and
    ``<date>-latency.png`` latencies (µs), one panel per group, every bar labelled with its
    value; ``<date>-ratio.png`` every row as "pytribes relative to Java" (> 1: pytribes
    better).  Mixed rows stay in the table.  Empty when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    rows = [
        r
        for r in report["rows"]
        if (r["pytribes"] is not None or r["java"] is not None)
        and not r["scenario"].endswith(".mixed")
    ]
    groups = list(dict.fromkeys(r["scenario"].split(".")[0] for r in rows))
    written = []
    for suffix, what, pick, log in (
        ("", "throughput (higher is better)", lambda r: r["higher_is_better"], False),
        ("-latency", "latency, µs (lower is better)", _is_latency, True),
    ):
        panels = []
        for g in groups:
            rs = [r for r in rows if r["scenario"].split(".")[0] == g and pick(r)]
            if rs:
                unit = rs[0]["unit"]
                panels.append((f"{g} — {unit}{', log scale' if log else ''}", rs, log))
        if panels:
            out = path.with_name(path.stem + suffix + path.suffix)
            _figure(report, panels, what, out)
            written.append(out)
    rel = [
        r
        for r in rows
        if _better_factor(r) is not None and not r.get("title", "").lstrip().startswith("of which")
    ]
    if rel:
        fig, ax = plt.subplots(figsize=(12, 0.26 * len(rel) + 1.4))
        f = [_better_factor(r) or 1.0 for r in rel]
        lo_f = [_better_factor(r, "ratio_min") or v for r, v in zip(rel, f, strict=True)]
        hi_f = [_better_factor(r, "ratio_max") or v for r, v in zip(rel, f, strict=True)]
        lo = [v - min(a, b, v) for v, a, b in zip(f, lo_f, hi_f, strict=True)]
        hi = [max(a, b, v) - v for v, a, b in zip(f, lo_f, hi_f, strict=True)]
        y = list(range(len(rel)))
        bars = ax.barh(y, [v - 1 for v in f], left=1,
                       color=[COLORS["pytribes"] if v >= 1 else COLORS["java"] for v in f],
                       xerr=[lo, hi], capsize=2, error_kw={"elinewidth": 0.7})  # fmt: skip
        ax.bar_label(bars, labels=[f"{v:.2f}x" for v in f], fontsize=6, padding=3)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.margins(x=0.1)
        ax.set_yticks(y)
        ax.set_yticklabels([_short(r.get("title", r["scenario"])) for r in rel], fontsize=6)
        ax.invert_yaxis()
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.set_title(
            f"pytribes relative to Java (Tomcat {report.get('tomcat', '?')}), {report['date']}\n"
            "> 1 = pytribes better (blue), < 1 = Java better (orange); per-round ratios: "
            "median, min–max",
            fontsize=9,
        )
        fig.tight_layout()
        out = path.with_name(path.stem + "-ratio" + path.suffix)
        fig.savefig(out, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(out)
    return written


# -------------------------------------------------------------------------------------- entry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short run (< 1 minute)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument(
        "--only",
        metavar="GROUPS",
        help=f"comma-separated groups to run (default: all of {','.join(GROUPS)})",
    )
    p.add_argument("--rounds", type=int, help="measured rounds per group (default: 5 / quick 2)")
    mixed = p.add_mutually_exclusive_group()
    mixed.add_argument(
        "--mixed", dest="mixed", action="store_true", default=None,
        help="also the mixed pytribes<->Java pairs (default in full runs)",
    )  # fmt: skip
    mixed.add_argument("--no-mixed", dest="mixed", action="store_false")
    p.add_argument("--tomcat-version", type=int, choices=(9, 10), default=10)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write <date>.{json,md,png} there (default: benchmarks/results for full runs; "
        "quick runs write nothing unless given)",
    )
    p.add_argument("--no-write", action="store_true", help="write no files")


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    def progress(line: str) -> None:
        print(f"[bench] {line}", file=sys.stderr, flush=True)

    t0 = time.monotonic()
    groups = (
        (QUICK_GROUPS if args.quick else GROUPS)
        if not args.only
        else tuple(g.strip() for g in args.only.split(","))
    )
    unknown = [g for g in groups if g not in GROUP_FUNCS]
    if unknown:
        print(f"pytribes bench: unknown group(s) {unknown}; known: {GROUPS}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "date": dt.datetime.now().strftime("%Y-%m-%d"),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "tomcat": {9: "9.0.70", 10: "10.1.60"}[args.tomcat_version],
        "machine": machine(),
        "rows": [],
        "groups": {},
        "skipped": [],
        "errors": [],
    }
    for name in groups:
        g0 = time.monotonic()
        progress(f"group {name} ...")
        try:
            g = GROUP_FUNCS[name](args.quick, args, progress)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            if _is_skip(e) or isinstance(e, Skip):
                report["skipped"].append(f"{name}: {e}")
                progress(f"group {name} skipped: {e}")
                continue
            if not isinstance(e, Exception):
                raise
            report["errors"].append(f"{name}: {type(e).__name__}: {e}\n{traceback.format_exc()}")
            progress(f"group {name} FAILED: {type(e).__name__}: {e}")
            continue
        g["seconds"] = time.monotonic() - g0
        report["rows"] += g["rows"]
        report["skipped"] += [f"{name}: {s}" for s in g.get("skipped", [])]
        report["groups"][name] = {k: v for k, v in g.items() if k != "rows"}
        progress(f"group {name}: {len(g['rows'])} rows in {g['seconds']:.0f} s")
    report["seconds"] = time.monotonic() - t0
    report["machine"]["loadavg_end"] = _loadavg()

    write_dir = None if args.no_write else (
        Path(args.out) if args.out else (None if args.quick else RESULTS_DIR)
    )  # fmt: skip
    if write_dir is not None:
        write_dir.mkdir(parents=True, exist_ok=True)
        stem = write_dir / report["date"]
        text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
        stem.with_suffix(".json").write_text(text, encoding="utf-8")
        stem.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
        pngs = plot(report, stem.with_suffix(".png"))
        names = ", ".join(p.name for p in pngs) or "no .png (no matplotlib)"
        progress(f"wrote {stem}.json, .md, {names}")
    if args.json:
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        out.write(markdown(report))
    out.flush()
    return 1 if report["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
