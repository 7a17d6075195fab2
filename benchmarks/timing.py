"""Tiny timing helper shared by the benchmark scripts: median and spread of repeated runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def per_call_us(
    fn: Callable[[], object], *, number: int = 2000, repeat: int = 7
) -> tuple[float, float]:
    """Median µs per call over `repeat` runs of `number` calls (after one warm-up run), and the
    spread (max - min) of those runs."""
    for _ in range(number // 10 or 1):
        fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number * 1e6)
    return statistics.median(runs), max(runs) - min(runs)


def row(name: str, fn: Callable[[], object], number: int = 2000) -> str:
    med, spread = per_call_us(fn, number=number)
    return f"| {name} | {med:.2f} | ±{spread / 2:.2f} |"
