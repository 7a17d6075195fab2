"""`pytribes bench --quick --json` runs end to end and prints the row contract.

A smoke test of the benchmark entry point (benchmarks/runner.py): no figure is judged, only that
the command exits 0, prints ONE JSON object with a `rows` list whose rows carry the contract
keys, and that the replication rows have a pytribes figure (and a Java one where a JDK and the
Tomcat jars are installed -- always under CI).  The quick run takes about 30-40 s.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ("scenario", "unit", "higher_is_better", "pytribes", "java", "ratio")


def java_available() -> bool:
    jar_dir = Path(os.environ.get("PYTRIBES_TOMCAT_JAR_DIR", "/usr/share/java"))
    return bool(
        shutil.which("java")
        and shutil.which("javac")
        and (jar_dir / "tomcat10-catalina-ha.jar").exists()
    )


def number_or_none(v: object) -> bool:
    if v is None:
        return True
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def test_bench_quick_json_prints_the_row_contract() -> None:
    exe = Path(sys.executable).parent / "pytribes"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tribes.cli"]
    proc = subprocess.run(
        [*cmd, "bench", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    report = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert isinstance(report, dict)
    rows = report["rows"]
    assert isinstance(rows, list) and rows, report.get("errors")
    for row in rows:
        missing = [k for k in CONTRACT if k not in row]
        assert not missing, (missing, row)
        assert isinstance(row["scenario"], str) and isinstance(row["unit"], str)
        assert isinstance(row["higher_is_better"], bool)
        for k in ("pytribes", "java", "ratio"):
            assert number_or_none(row[k]), (k, row)
        if row["pytribes"] is not None and row["java"]:
            assert row["ratio"] is not None
    assert len({r["scenario"] for r in rows}) == len(rows)

    replication = [r for r in rows if r["scenario"].startswith("replication.")]
    scenarios = {r["scenario"] for r in replication}
    for name in (
        "replication.delta_rate.c1",
        "replication.delta_rate.c4",
        "replication.delta_lag_p50.c1",
        "replication.memory_per_session",
    ):
        assert name in scenarios, sorted(scenarios)
    assert any(s.startswith("replication.transfer_ms.") for s in scenarios)
    assert all(r["pytribes"] is not None for r in replication)
    if java_available() or os.environ.get("CI") == "true":
        assert all(r["java"] is not None for r in replication), report.get("skipped")
