"""Micro-benchmark: tribes.jserial vs javaobj-py3 on the TRIBES.md Appendix A streams.

    .venv/bin/python benchmarks/bench_jserial.py [--quick]

Prints µs per operation (best of several runs) for reading and writing:
  A.5  SessionMessageImpl (one object: 7-field descriptor + superclass)  -- the hot path
  A.6  DeltaRequest payload (top-level block data interleaved with objects)
  A.9  ALL_SESSION_DATA for one session (many small boxed objects, back references)

Our side: `read_stream` / `write_stream` (every top-level content; one handle table).
javaobj: v1 and v2 parsers reading *every* top-level content (its `loads` stops after the first
one and logs a warning), and v1's marshaller writing what v1 read.  Whether a javaobj write
reproduces the input bytes is reported too.
"""

from __future__ import annotations

import io
import logging
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_jserial_tribes import (  # noqa: E402
    A5_SESSION_MESSAGE,
    A6_DELTA_REQUEST,
    A9_ALL_SESSION_DATA_10_1,
)
from tribes.jserial import read_stream, write_stream  # noqa: E402

VECTORS = {
    "A.5 SessionMessageImpl": A5_SESSION_MESSAGE,
    "A.6 DeltaRequest": A6_DELTA_REQUEST,
    "A.9 ALL_SESSION_DATA": A9_ALL_SESSION_DATA_10_1,
}


def best_us(fn: Callable[[], object], quick: bool) -> float:
    t = timeit.Timer(fn)
    n, _ = t.autorange()
    runs = t.repeat(repeat=3 if quick else 7, number=max(1, n // (4 if quick else 1)))
    return min(runs) / max(1, n // (4 if quick else 1)) * 1e6


def javaobj_v1_read_all(data: bytes) -> list[object]:
    import javaobj.v1 as v1

    fd = io.BytesIO(data)
    u = v1.JavaObjectUnmarshaller(fd)
    out = []
    while fd.tell() < len(data):
        out.append(u.readObject(ignore_remaining_data=True))
    return out


def javaobj_v2_read_all(data: bytes) -> list[object]:
    import javaobj.v2 as v2

    transformers = [v2.transformers.DefaultObjectTransformer()]
    parser = v2.core.JavaStreamParser(io.BytesIO(data), transformers)
    return list(parser.run())


def javaobj_v1_write(objs: list[object]) -> bytes:
    import javaobj.v1 as v1

    m = v1.JavaObjectMarshaller()
    m.object_stream = io.BytesIO()
    m._writeStreamHeader()
    for o in objs:
        m.writeObject(o)
    return m.object_stream.getvalue()


def attempt(fn: Callable[[], object]) -> tuple[bool, object]:
    try:
        return True, fn()
    except Exception as e:  # javaobj fails on some inputs; report instead of crashing
        return False, f"fails: {type(e).__name__}: {str(e)[:60]}"


def main() -> None:
    quick = "--quick" in sys.argv
    logging.disable(logging.CRITICAL)
    try:
        import javaobj  # noqa: F401

        have_javaobj = True
    except ImportError:
        have_javaobj = False
    print(f"{'stream':26} {'impl':12} {'read µs':>9} {'write µs':>9}  write == input")
    for name, data in VECTORS.items():
        items = read_stream(data)
        same = write_stream(items) == data
        r = best_us(lambda data=data: read_stream(data), quick)
        w = best_us(lambda items=items: write_stream(items), quick)
        print(f"{name:26} {'jserial':12} {r:9.1f} {w:9.1f}  {same}")
        if not have_javaobj:
            continue
        ok1, objs1 = attempt(lambda data=data: javaobj_v1_read_all(data))
        ok2, _ = attempt(lambda data=data: javaobj_v2_read_all(data))
        r1 = best_us(lambda data=data: javaobj_v1_read_all(data), quick) if ok1 else None
        r2 = best_us(lambda data=data: javaobj_v2_read_all(data), quick) if ok2 else None
        w1: float | None = None
        same1: object = "n/a"
        if ok1:
            okw, out = attempt(lambda objs1=objs1: javaobj_v1_write(objs1))  # type: ignore[misc]
            if okw:
                w1 = best_us(lambda objs1=objs1: javaobj_v1_write(objs1), quick)  # type: ignore[misc]
                same1 = out == data
            else:
                same1 = out
        print(f"{'':26} {'javaobj v1':12} {_fmt(r1)} {_fmt(w1)}  {same1}")
        print(f"{'':26} {'javaobj v2':12} {_fmt(r2)} {'-':>9}  (v2 cannot write)")


def _fmt(v: float | None) -> str:
    return f"{v:9.1f}" if v is not None else f"{'fails':>9}"


if __name__ == "__main__":
    main()
