"""Ground truth from the real Tomcat classes: the Java vector generator and checker in tests/java.

``tests/java/src`` holds a small Java program (``pytribes.javagen.VectorGen``) that is compiled
against the Debian Tomcat jars of each version (9 -> 9.0.70, 10 -> 10.1.60):

* ``gen OUTDIR`` writes ``manifest.json`` and one ``NAME.bin`` per vector, all produced by the real
  classes (``MemberImpl.getData``, ``XByteBuffer.createDataPackage``, ``XByteBuffer.serialize``,
  ``DeltaRequest.serialize``, ``DeltaManager.serializeSessions``, ...) from fixed inputs;
* ``serve`` reads ``{"id", "kind", "hex"}`` JSON lines on stdin, parses the bytes with the real
  classes and answers ``{"id", "ok": true, "value": description}`` or ``{"id", "ok": false,
  "error": "<Java exception text>"}``.

The description format is documented in ``tests/java/README.md``. A vector's ``fields`` is the
checker's description of its bytes, built from the generator's *input* objects; keys starting with
``_`` are writer-side hints (iteration order, HashMap capacity, attribute order, ...) that a parse
does not reproduce -- compare with :func:`strip_private` applied to both sides.

Test modules get the fixtures by importing them::

    from tests.javagen import java_checker, java_vectors, tomcat_version  # noqa: F401

    def test_member(java_vectors, java_checker):
        v = java_vectors["member_ipv4"]
        assert java_checker.check("member", my_encode(...)) == strip_private(v.fields)

Both fixtures are session-scoped and parametrized over Tomcat 9 and 10 (via ``tomcat_version``);
each version costs one ``javac`` (cached in ``tests/java/build/<version>``), one ``gen`` run and
one ``serve`` process per test session. A missing JDK or missing jars skip the tests, and fail
them when ``CI=true`` (``tests.support.require``).
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from benchmarks import javabuild
from tests.support import ROOT, require, require_tool

JAVA_DIR = ROOT / "tests" / "java"
SRC_DIR = JAVA_DIR / "src"
BUILD_DIR = JAVA_DIR / "build"

VERSIONS: tuple[int, ...] = (9, 10)
#: The Tomcat release each major version's Debian jars must be.
EXPECTED_TOMCAT = {9: "9.0.70", 10: "10.1.60"}
MAIN_CLASS = "pytribes.javagen.VectorGen"
JVM_FLAGS = (
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xss4m",
)
#: Request kinds of the checker (see tests/java/README.md).
CHECK_KINDS = ("frame", "channel_data", "member", "object", "delta", "sessions", "utf", "version")
#: Vector kinds in the manifest.
VECTOR_KINDS = ("member", "channel_data", "frame", "ack", "stream")
CHECK_TIMEOUT = 120.0


class JavaCheckError(Exception):
    """The real Java classes rejected the bytes; the message is the Java exception text."""

    def __init__(self, kind: str, error: str, trace: list[str] | None = None) -> None:
        super().__init__(f"[{kind}] {error}")
        self.kind = kind
        self.error = error
        self.trace = trace or []


# ---------------------------------------------------------------------------------------- build


def java_step[T](step: Callable[[], T]) -> T:
    """Run a benchmarks.javabuild step; a missing JDK or jar set fails in CI, skips elsewhere."""
    try:
        return step()
    except javabuild.JavaUnavailable as e:
        require(False, str(e))
        raise


def jars(version: int) -> list[Path]:
    """The Debian Tomcat jars of one major version (unversioned names, no i18n/ant)."""
    return java_step(lambda: javabuild.jars(version))


def build(version: int) -> Path:
    """Compile tests/java/src against Tomcat ``version``'s jars; returns the classes directory.

    Cached: recompiles only when a source, a jar or the JDK changed.
    """
    return java_step(lambda: javabuild.build(SRC_DIR, version, BUILD_DIR / str(version)))


def classpath(version: int) -> str:
    """The runtime classpath (compiled generator + Tomcat jars) for ``version``."""
    return os.pathsep.join([str(build(version)), *map(str, jars(version))])


def java_command(version: int, *args: str) -> list[str]:
    """``java ... VectorGen ARGS`` for ``version`` (compiling first if needed)."""
    java = require_tool("java")
    return [java, *JVM_FLAGS, "-cp", classpath(version), MAIN_CLASS, *args]


# -------------------------------------------------------------------------------------- vectors


@dataclass(frozen=True)
class Vector:
    """One generated vector: bytes from the real classes plus the inputs that produced them."""

    name: str
    kind: str  # member | channel_data | frame | ack | stream
    version: int  # 9 or 10
    data: bytes
    fields: Any  # the description of the bytes (the checker's "value"), with "_" hints
    mask: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) to ignore
    patched: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) set to alive
    check: str = "object"  # the checker kind that reads these bytes
    notes: str = ""
    expect_error: str | None = None  # the real classes must fail with an error containing this

    @property
    def expected(self) -> Any:
        """``fields`` without the "_" writer hints: what the checker returns for ``data``."""
        return strip_private(self.fields)

    def masked(self, data: bytes | None = None) -> bytes:
        """``data`` (default: this vector's bytes) with the mask ranges zeroed."""
        return apply_mask(self.data if data is None else data, self.mask)


def strip_private(value: Any) -> Any:
    """Drop every ``_``-prefixed key, recursively (writer-side hints of the descriptions)."""
    if isinstance(value, dict):
        return {k: strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [strip_private(v) for v in value]
    return value


def apply_mask(data: bytes, mask: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for off, length in mask:
        out[off : off + length] = bytes(min(length, max(0, len(out) - off)))
    return bytes(out)


_manifests: dict[int, dict[str, Any]] = {}
_vectors: dict[int, dict[str, Vector]] = {}
_gen_lock = threading.Lock()


def _generate(version: int) -> None:
    cmd = java_command(version, "gen")
    with tempfile.TemporaryDirectory(prefix=f"javagen{version}-") as tmp:
        proc = subprocess.run([*cmd, tmp], capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(
                f"VectorGen gen failed for Tomcat {version} (rc {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr[-20000:]}"
            )
        manifest = json.loads((Path(tmp) / "manifest.json").read_text(encoding="utf-8"))
        result: dict[str, Vector] = {}
        for e in manifest["vectors"]:
            result[e["name"]] = Vector(
                name=e["name"],
                kind=e["kind"],
                version=int(e["version"]),
                data=(Path(tmp) / e["file"]).read_bytes(),
                fields=e["fields"],
                mask=[(int(o), int(n)) for o, n in e.get("mask", [])],
                patched=[(int(o), int(n)) for o, n in e.get("patched", [])],
                check=e["check"],
                notes=e.get("notes", ""),
                expect_error=e.get("expectError"),
            )
    manifest["vectors"] = [e["name"] for e in manifest["vectors"]]
    _manifests[version] = manifest
    _vectors[version] = result


def vectors(version: int) -> dict[str, Vector]:
    """All vectors of Tomcat ``version`` by name (generated once per test session)."""
    with _gen_lock:
        if version not in _vectors:
            _generate(version)
        return _vectors[version]


def manifest(version: int) -> dict[str, Any]:
    """The manifest of ``version`` without its vector entries (constants, SUIDs, lab classes)."""
    vectors(version)
    return _manifests[version]


# -------------------------------------------------------------------------------------- checker


class JavaChecker:
    """A long-running ``VectorGen serve`` process parsing bytes with the real Tomcat classes."""

    def __init__(self, version: int) -> None:
        self.version = version
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._next_id = 0
        self._log: IO[str] | None = None

    def __enter__(self) -> JavaChecker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._proc is not None:
            return
        cmd = java_command(self.version, "serve")
        # closed in close()
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def stderr_tail(self, limit: int = 8000) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-limit:]

    def request(self, kind: str, data: bytes = b"") -> dict[str, Any]:
        """Send one request; returns the raw answer ``{"id", "ok", "value" | "error"}``."""
        if kind not in CHECK_KINDS:
            raise ValueError(f"unknown checker kind {kind!r}; known: {CHECK_KINDS}")
        self.start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        with self._lock:
            self._next_id += 1
            rid = self._next_id
            line = json.dumps({"id": rid, "kind": kind, "hex": data.hex()})
            try:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
                answer = self._lines.get(timeout=CHECK_TIMEOUT)
            except (BrokenPipeError, queue.Empty) as exc:
                raise RuntimeError(
                    f"Java checker (Tomcat {self.version}) did not answer: {exc!r}\n"
                    f"{self.stderr_tail()}"
                ) from exc
            if answer is None:
                raise RuntimeError(
                    f"Java checker (Tomcat {self.version}) exited (rc {proc.poll()}):\n"
                    f"{self.stderr_tail()}"
                )
            reply: dict[str, Any] = json.loads(answer)
            if reply.get("id") != rid:
                raise RuntimeError(f"Java checker answered id {reply.get('id')}, expected {rid}")
            return reply

    def check(self, kind: str, data: bytes = b"") -> Any:
        """Parse ``data`` as ``kind`` with the real classes; returns the description.

        Raises :class:`JavaCheckError` (with the Java exception text) when Java rejects the bytes.
        """
        reply = self.request(kind, data)
        if not reply["ok"]:
            raise JavaCheckError(kind, reply["error"], reply.get("trace"))
        return reply["value"]

    def tomcat(self) -> str:
        """The Tomcat version of the jars this checker runs on, e.g. ``"10.1.60.0"``."""
        return str(self.check("version")["tomcat"])

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


_checkers: dict[int, JavaChecker] = {}


def checker(version: int) -> JavaChecker:
    """The shared checker of ``version`` (one ``serve`` process per test session)."""
    with _gen_lock:
        c = _checkers.get(version)
        if c is None:
            c = _checkers[version] = JavaChecker(version)
    c.start()
    return c


@atexit.register
def close_checkers() -> None:
    for c in list(_checkers.values()):
        c.close()
    _checkers.clear()


# -------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session", params=VERSIONS, ids=lambda v: f"tomcat{v}")
def tomcat_version(request: pytest.FixtureRequest) -> int:
    """9 or 10: the Tomcat major version a test runs against."""
    version: int = request.param
    return version


@pytest.fixture(scope="session")
def java_vectors(tomcat_version: int) -> dict[str, Vector]:
    """The vectors generated by the real classes of ``tomcat_version``."""
    return vectors(tomcat_version)


@pytest.fixture(scope="session")
def java_checker(tomcat_version: int) -> Iterator[JavaChecker]:
    """The real-classes checker of ``tomcat_version`` (started once per session)."""
    yield checker(tomcat_version)


@pytest.fixture(scope="session")
def java_vectors_all() -> dict[int, dict[str, Vector]]:
    """Vectors of every version at once (for cross-version tests): {9: {...}, 10: {...}}."""
    return {v: vectors(v) for v in VERSIONS}
