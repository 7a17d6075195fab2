"""Compile a benchmark's Java sources against the Debian Tomcat jars at run time (cached).

The same jar selection as tests/javagen.py (`/usr/share/java/tomcat<9|10>-*.jar`, unversioned
names, no i18n/ant; `PYTRIBES_TOMCAT_JAR_DIR` overrides the directory), without its pytest
dependency: a missing JDK or jar set raises `JavaUnavailable`, which the runners turn into
"java: null" rows instead of failing.

    classes = build(SRC_DIR, version=10)          # -> <SRC_DIR>/../build/<name>-10/classes
    cmd = java_command(SRC_DIR, 10, "pytribes.bench.ReplicationWorker", heap="2g")
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

JAR_DIR = Path(os.environ.get("PYTRIBES_TOMCAT_JAR_DIR", "/usr/share/java"))
BUILD_ROOT = Path(__file__).resolve().parent / "java" / "build"
_VERSIONED_JAR = re.compile(r"-\d+(\.\d+)*\.jar$")
#: The flags catalina.sh passes on Java 9+ (so the server JVM behaves as a real Tomcat's).
TOMCAT_JVM_FLAGS = (
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
)


class JavaUnavailable(RuntimeError):
    """No JDK, or not the Tomcat jars of the requested version."""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise JavaUnavailable(f"`{name}` not found on PATH")
    return path


def jars(version: int) -> list[Path]:
    found = sorted(
        p
        for p in JAR_DIR.glob(f"tomcat{version}-*.jar")
        if not _VERSIONED_JAR.search(p.name)
        and "i18n" not in p.name
        and "catalina-ant" not in p.name
    )
    names = {p.name for p in found}
    needed = {
        f"tomcat{version}-{n}.jar" for n in ("tribes", "catalina-ha", "catalina", "util", "juli")
    }
    if not needed <= names:
        missing = sorted(needed - names)
        raise JavaUnavailable(f"Tomcat {version} jars missing in {JAR_DIR}: {missing}")
    return found


_lock = threading.Lock()


def build(src_dir: Path, version: int, out: Path | None = None) -> Path:
    """`javac` every .java under `src_dir` against Tomcat `version` into `out`/classes (default
    a folder of BUILD_ROOT); returns the classes dir.  Recompiles only when a source, a jar or
    the JDK changed.  (The test suite's generators and peers compile through this too.)"""
    javac = tool("javac")
    tool("java")
    jar_list = jars(version)
    sources = sorted(src_dir.rglob("*.java"))
    if not sources:
        raise JavaUnavailable(f"no Java sources in {src_dir}")
    h = hashlib.sha256(f"v{version}\0{os.path.realpath(javac)}\0".encode())
    for src in sources:
        h.update(str(src.relative_to(src_dir)).encode() + b"\0" + src.read_bytes() + b"\0")
    for jar in jar_list:
        st = jar.resolve().stat()
        h.update(f"{jar.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    stamp = h.hexdigest()
    out = out if out is not None else BUILD_ROOT / f"{src_dir.name}-{version}"
    classes, stamp_file = out / "classes", out / "stamp"
    with _lock:
        if classes.is_dir() and stamp_file.is_file() and stamp_file.read_text() == stamp:
            return classes
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="classes-", dir=out))
        cmd = [
            javac, "-encoding", "UTF-8", "-nowarn", "-Xlint:none", "-d", str(tmp),
            "-cp", os.pathsep.join(map(str, jar_list)), *map(str, sources),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"javac failed for Tomcat {version}:\n{proc.stdout}{proc.stderr}")
        if classes.exists():
            shutil.rmtree(classes)
        tmp.rename(classes)
        stamp_file.write_text(stamp)
        return classes


def java_command(
    src_dir: Path, version: int, main_class: str, *args: str, heap: str = "1g"
) -> list[str]:
    """``java <Tomcat flags> -Xmx<heap> -cp <classes>:<jars> main_class args`` (compiling first)."""
    classes = build(src_dir, version)
    cp = os.pathsep.join([str(classes), *map(str, jars(version))])
    return [tool("java"), *TOMCAT_JVM_FLAGS, f"-Xmx{heap}", "-cp", cp, main_class, *args]
