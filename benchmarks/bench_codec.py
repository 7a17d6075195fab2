"""Hot path of the codec: encode + decode of a whole EVT_SESSION_DELTA message (frame, ChannelData,
SessionMessageImpl, DeltaRequest) with one 100-character String attribute, and with ten; pytribes
against the real Tomcat classes in the same run.  Goal (issue 2): <= 20 µs for the one-attribute
round trip.

    python -m benchmarks.bench_codec [--quick] [--json] [--no-java] [--tomcat-version 9|10]
                                     [--jvm-option=-XX:+UseParallelGC ...]

pytribes: `encode` / `decode` below, timed in this process.  Java: benchmarks/java/codec/
CodecBench.java, compiled against the Debian Tomcat jars (benchmarks/javabuild.py) and run once:
`DeltaRequest.serialize()` + `XByteBuffer.serialize(SessionMessageImpl)` +
`XByteBuffer.createDataPackage(ChannelData)` for encode; `XByteBuffer.append` + `extractPackage`
(`ChannelData.getDataFromPackage`) + `XByteBuffer.deserialize` + `DeltaRequest.readExternal` through
a `ReplicationStream` for decode -- of the very frame pytribes encoded.  Same inputs on both
sides (distinct String values, as a real session has); the script checks that Java's frame is
byte-identical to ours (the sender member's alive time aside) and decodes to the same message.

Figures: µs per operation, median over repeated runs (after a warm-up) ± half the spread
(max - min) of those runs; ratio = pytribes / Java medians.  Without a JDK or the jars the Java
columns stay empty.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tribes.messages import DeltaRequest, Event, SessionMessage, decode_payload, encode_payload
from tribes.wire import ChannelData, FrameDecoder, Member, decode_channel_data

SID = "ABCDEF0123456789ABCDEF0123456789"
CONTEXT = "localhost#/jw"
TS = 1_700_000_000_000
MEMBER = Member.at("127.0.0.11", 4000, bytes(15) + b"\x0b", alive=123456)
CASES = (1, 10)
OPS = ("encode", "decode", "round_trip")
GOAL_US = 20.0
JAVA_SRC = Path(__file__).resolve().parent / "java" / "codec"
#: Offset of the sender member's alive time in a frame of ours (Java writes its own uptime).
_ALIVE_OFFSET = 11 + 12 + 4 + 16 + 4 + 10 + 4


def make_delta(n_attrs: int) -> DeltaRequest:
    """`n_attrs` attributes attribute<i> = 'v' * 99 + str(i): distinct 100-character Strings."""
    req = DeltaRequest(SID)
    for i in range(n_attrs):
        req.set_attribute(f"attribute{i}", "v" * 99 + str(i))
    return req


def encode(req: DeltaRequest) -> bytes:
    msg = SessionMessage(
        Event.EVT_SESSION_DELTA, CONTEXT, SID, f"{SID}-{TS}", TS, True, req.encode()
    )
    return ChannelData(6, TS, bytes(16), MEMBER, encode_payload(msg)).frame()


def decode(frame: bytes) -> DeltaRequest:
    [pkg] = FrameDecoder().feed(frame)
    cd = decode_channel_data(pkg)
    msg = decode_payload(cd.message, cd.options)
    assert isinstance(msg, SessionMessage) and msg.payload is not None
    return DeltaRequest.decode(msg.payload)


# ------------------------------------------------------------------------------------- timing


def run_times(fn: Callable[[], object], number: int, repeat: int) -> list[float]:
    """µs per call of each of `repeat` runs of `number` calls, after a warm-up run."""
    for _ in range(max(1, number // 5)):
        fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number * 1e6)
    return runs


def summary(runs: list[float] | None) -> dict[str, Any] | None:
    if not runs:
        return None
    return {"median": statistics.median(runs), "spread": max(runs) - min(runs), "runs": runs}


def python_side(quick: bool) -> dict[int, dict[str, Any]]:
    number, repeat = (1000, 3) if quick else (1000, 31)
    out: dict[int, dict[str, Any]] = {}
    for n in CASES:
        req = make_delta(n)
        frame = encode(req)
        assert decode(frame) == req
        out[n] = {
            "frame": frame,
            "encode": run_times(lambda: encode(req), number, repeat),  # noqa: B023 (run here)
            "decode": run_times(lambda: decode(frame), number, repeat),  # noqa: B023
            "round_trip": run_times(lambda: decode(encode(req)), number, repeat),  # noqa: B023
        }
    return out


class JavaUnavailable(RuntimeError):
    """No JDK, no Tomcat jars, or the Java side failed."""


def java_side(
    frames: dict[int, bytes], quick: bool, version: int, jvm_options: list[str]
) -> tuple[dict[int, dict[str, Any]], dict[str, str]]:
    """Run CodecBench once for every case; check its frames against ours."""
    try:
        from . import javabuild

        classes = javabuild.build(JAVA_SRC, version)
        cp = os.pathsep.join([str(classes), *map(str, javabuild.jars(version))])
        cmd = [
            javabuild.tool("java"),
            *javabuild.TOMCAT_JVM_FLAGS,
            "-Xms512m",
            "-Xmx512m",
            *jvm_options,
            "-cp",
            cp,
            "CodecBench",
            *(("3", "1500", "150") if quick else ("21", "4000", "150")),
            *(f"{n}:{frame.hex()}" for n, frame in frames.items()),
        ]
    except Exception as e:  # javabuild.JavaUnavailable, a javac failure...
        raise JavaUnavailable(f"{type(e).__name__}: {e}") from None
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    if proc.returncode != 0:
        raise JavaUnavailable(f"CodecBench failed:\n{proc.stdout}{proc.stderr[-4000:]}")
    out: dict[int, dict[str, Any]] = {}
    info: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        n = rec["attributes"]
        jframe = bytes.fromhex(rec["frame"])
        ours = frames[n]
        mask = slice(_ALIVE_OFFSET, _ALIVE_OFFSET + 8)
        same = len(jframe) == len(ours) and (
            jframe[: mask.start] + jframe[mask.stop :] == ours[: mask.start] + ours[mask.stop :]
        )
        if not same or decode(jframe) != decode(ours):
            raise AssertionError(f"Java's frame for {n} attribute(s) differs from pytribes'")
        out[n] = {op: rec[f"{op}_us"] for op in OPS}
        out[n]["frame_bytes"] = len(jframe)
        info = {"tomcat": rec["tomcat"], "java": rec["java"], "jvm_options": " ".join(jvm_options)}
    return out, info


# ------------------------------------------------------------------------------------- report


def collect(
    quick: bool = False, java: bool = True, version: int = 10, jvm_options: list[str] | None = None
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    py = python_side(quick)
    jv: dict[int, dict[str, Any]] = {}
    info: dict[str, str] = {}
    java_error = None
    if java:
        try:
            frames = {n: py[n]["frame"] for n in CASES}
            jv, info = java_side(frames, quick, version, list(jvm_options or ()))
        except JavaUnavailable as e:
            java_error = str(e)
    cases: list[dict[str, Any]] = []
    for n in CASES:
        ops: dict[str, Any] = {}
        for op in OPS:
            p, j = summary(py[n][op]), summary(jv.get(n, {}).get(op))
            ratio = p["median"] / j["median"] if p and j else None
            ops[op] = {"pytribes": p, "java": j, "ratio": ratio}
        cases.append({"attributes": n, "frame_bytes": len(py[n]["frame"]), "ops": ops})
    rt1 = cases[0]["ops"]["round_trip"]["pytribes"]["median"]
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "java": info.get("java"),
        "jvm_options": info.get("jvm_options"),
        "tomcat": info.get("tomcat"),
        "cpus": os.cpu_count(),
        "load_average": [load_before, os.getloadavg()[0]],
        "java_error": java_error,
        "quick": quick,
        "goal": {"round_trip_1_attribute_us": GOAL_US, "measured_us": rt1, "met": rt1 <= GOAL_US},
        "cases": cases,
    }


def _cell(s: dict[str, Any] | None) -> str:
    return "–" if s is None else f"{s['median']:.2f} ± {s['spread'] / 2:.2f}"


def markdown(report: dict[str, Any]) -> str:
    java = (
        f"Tomcat {report['tomcat']} on {report['java']}"
        + (f" ({report['jvm_options']})" if report["jvm_options"] else "")
        if report["java"]
        else f"Java: not run ({(report['java_error'] or 'disabled').splitlines()[0]})"
    )
    load = report["load_average"]
    lines = [
        f"pytribes ({report['python']}) vs {java}: EVT_SESSION_DELTA, µs per operation, "
        "median ± half spread over repeated runs; ratio = pytribes / Java medians.  "
        f"{report['cpus']} CPUs, 1-minute load average {load[0]:.1f} before / {load[1]:.1f} "
        "after.",
        "",
        "| attributes | frame bytes | operation | pytribes µs | Java µs | pytribes / Java |",
        "|---|---|---|---|---|---|",
    ]
    for c in report["cases"]:
        for op in OPS:
            o = c["ops"][op]
            ratio = "–" if o["ratio"] is None else f"{o['ratio']:.2f}"
            lines.append(
                f"| {c['attributes']} | {c['frame_bytes']} | {op.replace('_', ' ')} | "
                f"{_cell(o['pytribes'])} | {_cell(o['java'])} | {ratio} |"
            )
    g = report["goal"]
    lines += [
        "",
        f"Goal (issue 2): one-attribute round trip <= {g['round_trip_1_attribute_us']:.0f} µs: "
        f"{g['measured_us']:.2f} µs, {'met' if g['met'] else 'NOT met'}.",
    ]
    return "\n".join(lines) + "\n"


def rows(quick: bool, make_row: Callable[..., dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows for benchmarks/runner.py (`python -m benchmarks`)."""
    report = collect(quick=quick)
    for c in report["cases"]:
        n = c["attributes"]
        for op in OPS:
            o = c["ops"][op]
            yield make_row(
                scenario=f"codec.{op}.{n}attr",
                title=f"codec {op.replace('_', ' ')} EVT_SESSION_DELTA, {n} attribute(s)",
                unit="µs",
                higher_is_better=False,
                py_runs=o["pytribes"]["runs"],
                java_runs=o["java"]["runs"] if o["java"] else None,
                group="codec",
                pair="in-process",
                measures=f"{op.replace('_', ' ')} of a whole frame ({c['frame_bytes']} B): "
                "ChannelData + SessionMessageImpl + DeltaRequest, per call (Java: XByteBuffer, "
                "ChannelData, XByteBuffer.serialize/deserialize, DeltaRequest.serialize/"
                "readExternal)",
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_codec", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-java", action="store_true", help="pytribes only")
    p.add_argument("--tomcat-version", type=int, choices=(9, 10), default=10)
    p.add_argument(
        "--jvm-option",
        action="append",
        default=[],
        metavar="OPT",
        help="an extra JVM option for the Java side, e.g. -XX:+UseParallelGC (repeatable)",
    )
    args = p.parse_args(argv)
    report = collect(
        quick=args.quick,
        java=not args.no_java,
        version=args.tomcat_version,
        jvm_options=args.jvm_option,
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(markdown(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
