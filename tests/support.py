"""Helpers shared by the test suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"
ROOT = Path(__file__).resolve().parent.parent


def require(ok: bool, what: str) -> None:
    """Skip a test whose external dependency is missing -- but fail in CI, where it must exist."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI and is missing")
    pytest.skip(f"{what} is missing")


def require_tool(name: str) -> str:
    """The path of a program on PATH (javac, nginx, ...), under the same CI rule."""
    path = shutil.which(name)
    require(path is not None, f"the program {name!r}")
    assert path is not None
    return path
