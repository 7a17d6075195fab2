"""`pytribes bench` / `python -m benchmarks`: every pytribes-vs-Java benchmark in one run.

    pytribes bench                 # full run, writes benchmarks/results/<date>.{json,md,png}
    pytribes bench --quick --json  # < 1 minute; prints one JSON object {"rows": [...], ...}
    pytribes bench --only replication --rounds 3 --no-mixed

Groups (each alternates pytribes and Java runs round by round, warm-up excluded):

* ``replication`` (benchmarks/replication.py): DeltaManager -> DeltaManager over the seed's
  stack, pytribes and the real Tomcat classes (embedded Tomcat) in four worker processes:
  delta messages/s and lag at 1 and 4 concurrent sessions, state-transfer time, memory per
  replicated session; mixed pairs in full runs;
* ``channel`` (benchmarks/bench_channel_java.py): raw GroupChannel byte-message throughput and
  ACK round trips (the real GroupChannel vs a pytribes node);
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
GROUPS = ("replication", "channel", "codec")

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
    (each run_pair starts its two peers and does its own warm-up per combination)."""
    import tempfile

    try:
        from . import bench_channel_java as bc
    except ImportError as e:
        raise Skip(f"benchmarks.bench_channel_java: {e}") from e
    ns = argparse.Namespace(
        count=1000 if quick else 5000,
        size=1024,
        options=[6] if quick else [8, 2, 6],
        concurrency=[1] if quick else [1, 8],
        tomcat_version=args.tomcat_version,
    )
    rounds = 1 if quick else (args.rounds or 3)
    mixed = (not quick) if args.mixed is None else args.mixed
    pairs = [("py", "py"), ("java", "java")]
    if mixed:
        pairs += [("py", "java"), ("java", "py")]
    bc.build(args.tomcat_version)
    by: dict[tuple[str, int, int, str], dict[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="pytribes-bench-channel-") as tmp:
        for rnd in range(rounds):
            for s, r in pairs:
                for row in bc.run_pair(s, r, ns, Path(tmp), progress):
                    key = (row.pair, row.options, row.concurrency)
                    by.setdefault((*key, "rate"), {})[rnd] = row.msgs_per_s
                    by.setdefault((*key, "p50"), {})[rnd] = row.p50_us
                    by.setdefault((*key, "p99"), {})[rnd] = row.p99_us
    rows = []
    for mixed_row, (py_pair, java_pair) in (
        (False, ("py->py", "java->java")),
        (True, ("py->java", "java->py")),
    ):
        for opts in ns.options:
            for conc in ns.concurrency:
                for metric, unit, hib in (("rate", "msg/s", True), ("p50", "µs", False)):
                    if metric == "p50" and (conc != 1 or not opts & 2):
                        continue  # only the ACK round trip is a latency
                    py_v = by.get((py_pair, opts, conc, metric))
                    java_v = by.get((java_pair, opts, conc, metric))
                    if not py_v and not java_v:
                        continue
                    what = (
                        f"{ns.count} ByteMessages of {ns.size} B, options {opts}, {conc} "
                        "sender(s): count / (last arrival - first send)"
                        if metric == "rate"
                        else f"p50 of one send with options {opts} (ACK round trip), 1 sender"
                    )
                    title = (
                        f"channel {ns.size} B, options {opts}, {conc} sender(s)"
                        if metric == "rate"
                        else f"channel ACK round trip, options {opts}"
                    )
                    if mixed_row:
                        title += " (mixed: pytribes->Java vs Java->pytribes)"
                    rows.append(
                        make_row(
                            scenario=f"channel.{metric}.o{opts}.c{conc}"
                            + (".mixed" if mixed_row else ""),
                            title=title,
                            unit=unit,
                            higher_is_better=hib,
                            py_runs=py_v,
                            java_runs=java_v,
                            group="channel",
                            pair=f"{py_pair} vs {java_pair}",
                            measures=what,
                        )
                    )
    return {"rows": rows, "settings": {**vars(ns), "rounds": rounds, "mixed": mixed}}


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


GROUP_FUNCS = {"replication": group_replication, "channel": group_channel, "codec": group_codec}


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


def plot(report: Mapping[str, Any], path: Path) -> bool:
    """One PNG, three panels: throughput (msg/s, linear), latency (µs, log, points with min–max
    whiskers) and every row as "pytribes relative to Java" (> 1: pytribes better; median and
    min–max of the per-round ratios).  False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in report["rows"] if r["pytribes"] is not None or r["java"] is not None]
    rate = [r for r in rows if r["unit"] == "msg/s"]
    lat = [
        r
        for r in rows
        if r["unit"] == "µs" and ("lag" in r["scenario"] or r["scenario"].startswith("channel."))
    ]
    rel = [  # mixed rows and the system-CPU parts are in the table only
        r
        for r in rows
        if _better_factor(r) is not None
        and not r.get("title", "").lstrip().startswith("of which")
        and not r["scenario"].endswith(".mixed")
    ]
    panels = [(n, rs) for n, rs in (("rate", rate), ("lat", lat), ("rel", rel)) if rs]
    if not panels:
        return False
    heights = [0.38 * len(rs) + 1.2 for _, rs in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(12, sum(heights) + 0.6), gridspec_kw={"height_ratios": heights}
    )
    if len(panels) == 1:
        axes = [axes]
    colors = {"pytribes": "#3572A5", "java": "#E76F00"}
    names = {"pytribes": "pytribes", "java": "Java (Tomcat)"}
    for ax, (kind, rs) in zip(axes, panels, strict=True):
        labels = [_short(r.get("title", r["scenario"])) for r in rs]
        y = list(range(len(rs)))
        if kind in ("rate", "lat"):
            for off, side in ((-0.18, "pytribes"), (0.18, "java")):
                pts = [(i + off, r) for i, r in zip(y, rs, strict=True) if r[side] is not None]
                if not pts:
                    continue
                xs = [r[side] for _, r in pts]
                lo = [r[side] - r.get(f"{side}_min", r[side]) for _, r in pts]
                hi = [r.get(f"{side}_max", r[side]) - r[side] for _, r in pts]
                ys = [yy for yy, _ in pts]
                if kind == "rate":
                    ax.barh(ys, xs, height=0.36, color=colors[side], label=names[side],
                            xerr=[lo, hi], capsize=2)  # fmt: skip
                else:
                    ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", color=colors[side],
                                label=names[side], capsize=2, ms=5)  # fmt: skip
            if kind == "lat":
                ax.set_xscale("log")
            ax.set_title(
                "throughput, msg/s (higher is better)"
                if kind == "rate"
                else "latency, µs, log scale (lower is better)",
                fontsize=10,
            )
        else:
            f = [_better_factor(r) or 1.0 for r in rs]
            lo_f = [_better_factor(r, "ratio_min") or v for r, v in zip(rs, f, strict=True)]
            hi_f = [_better_factor(r, "ratio_max") or v for r, v in zip(rs, f, strict=True)]
            lo = [v - min(a, b) for v, a, b in zip(f, lo_f, hi_f, strict=True)]
            hi = [max(a, b) - v for v, a, b in zip(f, lo_f, hi_f, strict=True)]
            cs = [colors["pytribes"] if v >= 1 else colors["java"] for v in f]
            ax.scatter(f, y, c=cs, zorder=3, s=22)
            ax.errorbar(f, y, xerr=[lo, hi], fmt="none", ecolor="gray", capsize=2, zorder=2)
            ax.axvline(1.0, color="black", lw=0.8)
            ax.set_xscale("log")
            ax.set_title(
                "pytribes relative to Java: > 1 = pytribes better, < 1 = Java better "
                "(per-round ratios: median, min–max)",
                fontsize=10,
            )
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.grid(axis="x", which="both", alpha=0.3)
        if kind != "rel":
            ax.legend(fontsize=8, loc="best")
            if any(r["scenario"].endswith(".mixed") for r in rs):
                ax.text(
                    0.99, 0.01, "* mixed: pytribes = pytribes->Java, Java = Java->pytribes",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                )  # fmt: skip
    kind_of_run = "quick" if report["quick"] else "full"
    fig.suptitle(
        f"pytribes vs Java (Tomcat {report.get('tomcat', '?')}), {report['date']}, {kind_of_run} "
        f"run, {report['machine']['cpus']} CPUs, loopback",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


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
    groups = GROUPS if not args.only else tuple(g.strip() for g in args.only.split(","))
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
        png = plot(report, stem.with_suffix(".png"))
        progress(f"wrote {stem}.json, .md{', .png' if png else ' (no matplotlib: no .png)'}")
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
