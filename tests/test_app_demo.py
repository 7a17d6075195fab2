"""`pytribes demo` as a user runs it: two node processes (and nginx when installed) come up on
loopback, both answer /jw/api/cluster with both members, the balancer alternates, and SIGINT
stops everything cleanly (children gone, temporary files removed).  Plus the `node` flags."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import ROOT
from tribes.cli import build_parser, node_config

A, B = "127.0.0.11", "127.0.0.12"


def free_port(hosts: tuple[str, ...], avoid: frozenset[int] | set[int] = frozenset()) -> int:
    for _ in range(100):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = int(s.getsockname()[1])
        if port in avoid:
            continue
        try:
            for h in hosts[1:]:
                with socket.socket() as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_demo_starts_serves_and_stops_on_sigint() -> None:
    tribes_port = free_port((A, B))
    http_port = free_port((A, B), {tribes_port})
    lb_port = free_port(("127.0.0.1",), {tribes_port, http_port})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tribes.cli",
            "demo",
            "--hosts",
            f"{A},{B}",
            "--tribes-port",
            str(tribes_port),
            "--http-port",
            str(http_port),
            "--lb",
            f"127.0.0.1:{lb_port}",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    output: list[str] = []

    def wait_line(pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                msg = f"no {pattern!r} within {timeout} s:\n" + "\n".join(output)
                raise AssertionError(msg) from None
            if line is None:
                raise AssertionError(f"demo ended before {pattern!r}:\n" + "\n".join(output))
            output.append(line)
            if re.search(pattern, line):
                return line

    try:
        wait_line(r"^pytribes demo: ready$", 90)
        text = "\n".join(output)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", text)]
        assert len(pids) == 2
        m = re.search(r"files: (\S+)", text)
        assert m
        workdir = Path(m.group(1))
        assert workdir.is_dir()

        for host, name in ((A, "node1"), (B, "node2")):
            body = get_json(f"http://{host}:{http_port}/jw/api/cluster")
            assert body["local"]["name"] == name and body["local"]["host"] == host
            assert {(x["host"], x["port"]) for x in body["members"]} == {
                (A, tribes_port),
                (B, tribes_port),
            }
            assert all(x["state"] == "alive" for x in body["members"])

        if shutil.which("nginx"):
            assert "load balancer (nginx, round robin)" in text
            served = {
                get_json(f"http://127.0.0.1:{lb_port}/jw/api/cluster")["local"]["name"]
                for _ in range(4)
            }
            assert served == {"node1", "node2"}

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0
        wait_line(r"^pytribes demo: stopped$", 5)
        text = "\n".join(output)
        assert "node_stopped" in text  # graceful stops, not kills
        assert "killed" not in text
        assert not workdir.exists()
        for pid in pids:
            assert not alive(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_node_http_and_db_flags() -> None:
    args = build_parser().parse_args(
        [
            "node",
            "--bind",
            f"{A}:4000",
            "--member",
            f"{B}:4000:12",
            "--http",
            f"{A}:8081",
            "--db",
            "mysql+pymysql://joget:pw@127.0.0.1/jwdb",
        ]
    )
    cfg = node_config(args)
    assert cfg.http == (A, 8081)
    assert cfg.db == "mysql+pymysql://joget:pw@127.0.0.1/jwdb"
    plain = node_config(build_parser().parse_args(["node", "--bind", f"{A}:4000"]))
    assert plain.http is None and plain.db is None
