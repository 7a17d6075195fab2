"""Benchmarks: plain scripts, run as `python -m benchmarks.<name>`; never pass/fail tests."""
