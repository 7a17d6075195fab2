"""Helpers shared by the test suite."""

from __future__ import annotations

import os
import shutil
import socket
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


def common_port(*hosts: str) -> int:
    """A TCP port free on every one of `hosts` (nodes on several loopback addresses that share
    one Tribes port, as a cluster's <Member> entries usually do)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = int(s.getsockname()[1])
        try:
            for host in hosts[1:]:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no port free on all of {hosts}")


def uid_of(host: str) -> bytes:
    """The uniqueId {0,...,0,N} for the loopback address 127.0.0.N."""
    return bytes(15) + bytes([int(host.rsplit(".", 1)[1])])
