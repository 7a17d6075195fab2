"""Channel peers driven over stdin/stdout: a real Tribes GroupChannel (Java) and a pytribes node
(Python), speaking one line protocol -- for the raw-channel interop tests and the channel
benchmarks (benchmarks/bench_channel_java.py).

* Java: ``tests/interop/java/src/pytribes/interop/ChannelPeer.java``, compiled here against the
  Debian jars of Tomcat 9.0.70 or 10.1.60 (the jar list of ``tests/javagen.py``), cached under
  ``tests/interop/build/javapeer/<version>``.
* Python: ``python -m tests.interop.pypeer`` (tests/interop/pypeer.py).

Both take ``--bind HOST:PORT --unique-id N --member HOST:PORT:N ... [--heartbeat MS]
[--expiration MS] [--rpc-timeout MS] [--read-test true|false] [--read-test-timeout MS]`` (the
Python one also ``--tomcat-version 9|10``), print ``{"event": "started", ...}`` once the channel
runs, then answer one JSON line per command (see ChannelPeer.java): ``members``,
``wait_members n= timeout=``, ``send tag= count= size= options= concurrency=``, ``stats tag=``,
``wait tag= count= timeout=``, ``fail tag=``, ``quit``.  Membership changes come as
``{"event": "member_added"|"member_disappeared", "member": "tcp://h:p"}`` lines.

Every message is a ByteMessage whose payload starts with a 28-byte header (`make_payload`):
magic "PTBM", tag, sequence number, the send options, the sender's monotonic ns.  Times in
answers (``start_ns``, ``end_ns``, ``first_ns``, ``last_ns``) are CLOCK_MONOTONIC nanoseconds
(Java's System.nanoTime and Python's time.monotonic_ns), so they compare across processes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from benchmarks import javabuild
from tests.javagen import jars, java_step
from tests.support import ROOT, require_tool

SRC_DIR = ROOT / "tests" / "interop" / "java" / "src"
BUILD_DIR = ROOT / "tests" / "interop" / "build" / "javapeer"
MAIN_CLASS = "pytribes.interop.ChannelPeer"

#: Quick start-up for tests (C1 only, serial GC); benchmarks pass their own flags.
TEST_JVM_FLAGS: tuple[str, ...] = (
    "-Xms64m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.net.preferIPv4Stack=true",
)
#: A JVM tuned for throughput (full JIT), for benchmarks.
BENCH_JVM_FLAGS: tuple[str, ...] = ("-Xms256m", "-Xmx512m", "-Djava.net.preferIPv4Stack=true")

MAGIC = 0x5054424D  # "PTBM"
HEADER = struct.Struct(">iiqiq")  # magic, tag, seq, options, sender monotonic ns


@functools.lru_cache(maxsize=32)
def _pattern(n: int) -> bytes:
    """The filler of sequence number 0, plus 256 bytes.  Byte i of a payload is
    ``(i * 31 + seq) & 0xFF`` = ``((i + 223 * seq) * 31) & 0xFF`` (223 = 31^-1 mod 256), so the
    filler of `seq` is this pattern from offset ``(223 * seq) & 0xFF``: one slice per message
    instead of a Python loop per byte (which cost more than the send of a 10 KiB message)."""
    return bytes(((HEADER.size + t) * 31) & 0xFF for t in range(n + 256))


def make_payload(tag: int, seq: int, options: int, size: int) -> bytes:
    """The test message: header + filler up to `size` bytes (at least the header)."""
    head = HEADER.pack(MAGIC, tag, seq, options, time.monotonic_ns())
    n = max(size, HEADER.size) - HEADER.size
    k = (223 * seq) & 0xFF
    return head + _pattern(n)[k : k + n]


def parse_payload(data: bytes) -> tuple[int, int, int, int] | None:
    """(tag, seq, options, sent_ns), or None when it is not a test message."""
    if len(data) < HEADER.size:
        return None
    magic, tag, seq, options, sent = HEADER.unpack_from(data)
    return None if magic != MAGIC else (tag, seq, options, sent)


# ------------------------------------------------------------------------------------------ build


def build(version: int) -> Path:
    """Compile the Java peer against Tomcat `version`'s jars (cached); the classes directory."""
    return java_step(lambda: javabuild.build(SRC_DIR, version, BUILD_DIR / str(version)))


def java_command(version: int, args: Sequence[str], jvm_flags: Sequence[str]) -> list[str]:
    java = require_tool("java")
    cp = os.pathsep.join([str(build(version)), *map(str, jars(version))])
    return [java, *jvm_flags, "-cp", cp, MAIN_CLASS, *args]


def python_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "tests.interop.pypeer", *args]


def peer_args(
    bind: tuple[str, int],
    unique_id: int,
    members: Sequence[tuple[str, int, int]],
    **options: object,
) -> list[str]:
    """``--bind h:p --unique-id n --member h:p:n ...`` plus ``--key value`` per option
    (``read_test=True`` -> ``--read-test true``)."""
    out = ["--bind", f"{bind[0]}:{bind[1]}", "--unique-id", str(unique_id)]
    for host, port, uid in members:
        out += ["--member", f"{host}:{port}:{uid}"]
    for k, v in options.items():
        value = str(v).lower() if isinstance(v, bool) else str(v)
        out += ["--" + k.replace("_", "-"), value]
    return out


# ------------------------------------------------------------------------------------------ client


class PeerError(RuntimeError):
    pass


class Peer:
    """One peer process.  `command` is synchronous (call it from a thread in trio code)."""

    def __init__(self, cmd: list[str], name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self.events: list[dict[str, Any]] = []
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._cond = threading.Condition()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"{name}-stdout")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"event": "stdout", "line": line.rstrip("\n")}
            if "event" in obj:
                obj["t"] = time.monotonic()
                with self._cond:
                    self.events.append(obj)
                    self._cond.notify_all()
            else:
                self._answers.put(obj)
        self._answers.put(None)
        with self._cond:
            self._cond.notify_all()

    def wait_event(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise PeerError(
                        f"{self.name}: no such event within {timeout} s; events {self.events}\n"
                        + self.log_tail()
                    )
                self._cond.wait(min(left, 0.2))

    def wait_started(self, timeout: float = 60.0) -> dict[str, Any]:
        ev = self.wait_event(lambda e: e["event"] in ("started", "failed"), timeout)
        if ev["event"] == "failed":
            raise PeerError(f"{self.name} failed to start: {ev.get('error')}\n{self.log_tail()}")
        return ev

    def command(self, line: str, timeout: float = 120.0) -> dict[str, Any]:
        """Send one command; its JSON answer (raises PeerError if not ok)."""
        with self._lock:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as e:
                raise PeerError(f"{self.name}: {line!r}: {e}\n{self.log_tail()}") from None
            try:
                obj = self._answers.get(timeout=timeout)
            except queue.Empty:
                raise PeerError(f"{self.name}: no answer to {line!r} in {timeout} s") from None
        if obj is None:
            raise PeerError(f"{self.name} exited during {line!r}\n{self.log_tail()}")
        if not obj.get("ok"):
            raise PeerError(f"{self.name}: {line!r} -> {obj}")
        return obj

    def members(self) -> list[str]:
        return list(self.command("members")["members"])

    def wait_members(self, n: int, timeout: float = 10.0) -> list[str]:
        got = list(self.command(f"wait_members n={n} timeout={int(timeout * 1000)}")["members"])
        if len(got) < n:
            raise PeerError(f"{self.name}: {len(got)} members, wanted {n}: {got}")
        return got

    def send(
        self, tag: int, count: int, size: int, options: int, concurrency: int = 1
    ) -> dict[str, Any]:
        return self.command(
            f"send tag={tag} count={count} size={size} options={options} concurrency={concurrency}"
        )

    def stats(self, tag: int) -> dict[str, Any]:
        return self.command(f"stats tag={tag}")

    def wait_received(self, tag: int, count: int, timeout: float = 30.0) -> dict[str, Any]:
        return self.command(
            f"wait tag={tag} count={count} timeout={int(timeout * 1000)}", timeout + 30
        )

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def close(self, timeout: float = 15.0) -> int | None:
        """`quit` (graceful: the channel stops, MSG_STOP), then wait; killed if stuck."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_java_peer(
    version: int,
    args: Sequence[str],
    log_path: Path,
    *,
    jvm_flags: Sequence[str] = TEST_JVM_FLAGS,
    name: str | None = None,
    timeout: float = 60.0,
) -> Peer:
    peer = Peer(java_command(version, args, jvm_flags), name or f"java{version}", log_path)
    try:
        peer.wait_started(timeout)
    except BaseException:
        peer.close(2)
        raise
    return peer


def start_python_peer(
    args: Sequence[str], log_path: Path, *, name: str = "pytribes", timeout: float = 30.0
) -> Peer:
    peer = Peer(python_command(args), name, log_path)
    try:
        peer.wait_started(timeout)
    except BaseException:
        peer.close(2)
        raise
    return peer
