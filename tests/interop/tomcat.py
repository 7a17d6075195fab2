"""Real Apache Tomcat nodes for the interop tests.

* Tomcat 9.0.70: Debian 12 only ships the jars (``libtomcat9-java``), so a CATALINA_HOME is
  assembled once under ``tests/interop/build/`` (``lib/`` symlinks with the upstream file names,
  ``bin/tomcat-juli.jar`` and a ``bin/bootstrap.jar`` holding the bootstrap classes taken from the
  Debian jars).
* Tomcat 10.1.60: the Debian ``tomcat10`` package, CATALINA_HOME ``/usr/share/tomcat10``.

Each :class:`TomcatNode` gets its own CATALINA_BASE (``work_dir``) with a generated ``server.xml``
(SimpleTcpCluster + DeltaManager + StaticMembershipService, see :meth:`TomcatNode.server_xml`) and
small ``conf/`` files written here, and serves the test webapp (``tests/interop/webapp``) at
``/jw``. The API is synchronous (use ``trio.to_thread.run_sync`` from trio tests).

Cluster membership as Tomcat sees it is read from the webapp (``GET /jw/t/members``, a
ContainerServlet that calls ``ClusterManager.getCluster().getMembers()``), which is exact and
does not depend on log wording; it needs the node's HTTP connector, so it is not available while
the node is paused or starting.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).resolve().parent
BUILD_DIR = HERE / "build"
WEBAPP_SRC = HERE / "webapp"
JAVA_DIR = Path("/usr/share/java")
CONTEXT_PATH = "/jw"
MANAGER_NAME = "localhost#/jw"

INTERCEPTOR_PACKAGE = "org.apache.catalina.tribes.group.interceptors."
DEFAULT_INTERCEPTORS: tuple[str, ...] = (
    "TcpPingInterceptor",
    "TcpFailureDetector",
    "MessageDispatchInterceptor",
)

#: Lean JVM flags: start-up speed matters more than peak performance on 2 cores.
DEFAULT_JVM_FLAGS: tuple[str, ...] = (
    "-Xms64m",
    "-Xmx256m",
    "-Xss512k",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-Djava.security.egd=file:/dev/./urandom",
    "-Djava.awt.headless=true",
)

#: What catalina.sh adds on Java 9+ (Tomcat's memory-leak protection needs these).
ADD_OPENS: tuple[str, ...] = (
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
)


class TomcatError(RuntimeError):
    """A Tomcat node did not do what the harness expected (the message has the log tail)."""


# --------------------------------------------------------------------------- distributions


@dataclass(frozen=True)
class TomcatDist:
    version: int  # 9 or 10
    full_version: str  # "9.0.70"
    jar_prefix: str  # "tomcat9"
    servlet_package: str  # "javax.servlet"

    def jar(self, name: str) -> Path:
        """A Debian jar, e.g. ``jar("catalina-ha")`` -> /usr/share/java/tomcat9-catalina-ha.jar."""
        return JAVA_DIR / f"{self.jar_prefix}-{name}.jar"

    def missing(self) -> list[str]:
        """What this machine lacks to run this Tomcat version (empty if nothing)."""
        needed = ["catalina", "catalina-ha", "tribes", "coyote", "util", "juli", "servlet-api"]
        out = [str(self.jar(n)) for n in needed if not self.jar(n).is_file()]
        if self.version == 10:
            for p in ("bin/bootstrap.jar", "bin/tomcat-juli.jar", "lib/catalina-ha.jar"):
                if not (TOMCAT10_HOME / p).exists():
                    out.append(str(TOMCAT10_HOME / p))
        return out


DISTS: dict[int, TomcatDist] = {
    9: TomcatDist(9, "9.0.70", "tomcat9", "javax.servlet"),
    10: TomcatDist(10, "10.1.60", "tomcat10", "jakarta.servlet"),
}
TOMCAT10_HOME = Path("/usr/share/tomcat10")

# upstream lib/ file name -> Debian jar suffix (same layout as /usr/share/tomcat10/lib)
_LIB_JARS: dict[str, str] = {
    "annotations-api.jar": "annotations-api",
    "catalina.jar": "catalina",
    "catalina-ha.jar": "catalina-ha",
    "catalina-storeconfig.jar": "storeconfig",
    "catalina-tribes.jar": "tribes",
    "el-api.jar": "el-api",
    "jasper.jar": "jasper",
    "jasper-el.jar": "jasper-el",
    "jaspic-api.jar": "jaspic-api",
    "jsp-api.jar": "jsp-api",
    "servlet-api.jar": "servlet-api",
    "tomcat-api.jar": "api",
    "tomcat-coyote.jar": "coyote",
    "tomcat-dbcp.jar": "dbcp",
    "tomcat-jdbc.jar": "jdbc",
    "tomcat-jni.jar": "jni",
    "tomcat-util.jar": "util",
    "tomcat-util-scan.jar": "util-scan",
    "tomcat-websocket.jar": "websocket",
    "websocket-api.jar": "websocket-api",
}

# classes of the upstream bin/bootstrap.jar: (Debian jar suffix, entry prefix)
_BOOTSTRAP_ENTRIES: tuple[tuple[str, str], ...] = (
    ("catalina", "org/apache/catalina/startup/Bootstrap.class"),
    ("catalina", "org/apache/catalina/startup/CatalinaProperties.class"),
    ("catalina", "org/apache/catalina/startup/ClassLoaderFactory"),
    ("catalina", "org/apache/catalina/startup/Constants.class"),
    ("catalina", "org/apache/catalina/startup/SafeForkJoinWorkerThreadFactory"),
    ("catalina", "org/apache/catalina/startup/Tool.class"),
    ("catalina", "org/apache/catalina/security/SecurityClassLoad.class"),
    ("catalina", "org/apache/catalina/webresources/war/Handler.class"),
    ("catalina", "org/apache/catalina/webresources/war/WarURLConnection.class"),
    ("util", "org/apache/tomcat/util/buf/UriUtil.class"),
)


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """Serialises builds between pytest processes sharing the checkout."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _file_key(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        real = p.resolve()
        st = real.stat()
        h.update(f"{p}|{real}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def tomcat_home(version: int) -> Path:
    """CATALINA_HOME for a version (the 9.0 one is assembled and cached on first use)."""
    dist = DISTS[version]
    if missing := dist.missing():
        raise TomcatError(f"Tomcat {dist.full_version} is not installed: missing {missing}")
    if version == 10:
        return TOMCAT10_HOME
    final = BUILD_DIR / f"tomcat-{dist.full_version}-home"
    sources = [dist.jar(s) for s in _LIB_JARS.values()] + [dist.jar("juli")]
    key = _file_key(p for p in sources if p.exists()) + "|v2"
    stamp = final / ".stamp"
    if stamp.is_file() and stamp.read_text() == key:
        return final
    with _build_lock(f"tomcat-{dist.full_version}-home"):
        if stamp.is_file() and stamp.read_text() == key:
            return final
        tmp = BUILD_DIR / f".tmp-home-{dist.full_version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            (tmp / "lib").mkdir(parents=True)
            (tmp / "bin").mkdir()
            for upstream, suffix in _LIB_JARS.items():
                src = dist.jar(suffix)
                if src.exists():
                    (tmp / "lib" / upstream).symlink_to(src)
            (tmp / "bin" / "tomcat-juli.jar").symlink_to(dist.jar("juli"))
            _write_bootstrap_jar(dist, tmp / "bin" / "bootstrap.jar")
            (tmp / ".stamp").write_text(key)
            _replace_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write_bootstrap_jar(dist: TomcatDist, out: Path) -> None:
    manifest = (
        "Manifest-Version: 1.0\r\n"
        "Main-Class: org.apache.catalina.startup.Bootstrap\r\n"
        "Specification-Title: Apache Tomcat Bootstrap\r\n"
        f"Implementation-Version: {dist.full_version}\r\n"
        "Created-By: pytribes tests/interop/tomcat.py\r\n\r\n"
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/MANIFEST.MF", manifest)
        sources: dict[str, zipfile.ZipFile] = {}
        try:
            for suffix, prefix in _BOOTSTRAP_ENTRIES:
                if suffix not in sources:
                    sources[suffix] = zipfile.ZipFile(dist.jar(suffix))
                src = sources[suffix]
                names = [n for n in src.namelist() if n.startswith(prefix)]
                if not names:
                    raise TomcatError(f"{prefix} not found in {dist.jar(suffix)}")
                for n in names:
                    z.writestr(n, src.read(n))
        finally:
            for s in sources.values():
                s.close()


# --------------------------------------------------------------------------- the test webapp


@dataclass(frozen=True)
class WebappBuild:
    version: int
    directory: Path  # exploded webapp (the docBase)
    war: Path  # the same as a .war


def build_webapp(version: int) -> WebappBuild:
    """Compiles ``tests/interop/webapp`` for a Tomcat version (cached under build/).

    The Java sources are written against ``javax.servlet``; for 10.1 every ``javax.servlet``
    is rewritten to ``jakarta.servlet`` (and web.xml to the Jakarta EE 10 schema).
    """
    dist = DISTS[version]
    if missing := dist.missing():
        raise TomcatError(f"Tomcat {dist.full_version} is not installed: missing {missing}")
    javac = shutil.which("javac")
    jar_tool = shutil.which("jar")
    if javac is None or jar_tool is None:
        raise TomcatError("javac and jar are needed to build the test webapp")
    final = BUILD_DIR / f"webapp-{dist.full_version}"
    sources = sorted((WEBAPP_SRC / "src").rglob("*.java"))
    web_xml = WEBAPP_SRC / "WEB-INF" / "web.xml"
    classpath = [
        dist.jar(n)
        for n in (
            "servlet-api",
            "catalina",
            "catalina-ha",
            "tribes",
            "api",
            "util",
            "juli",
            "coyote",
        )
    ]
    h = hashlib.sha256()
    for p in [*sources, web_xml]:
        h.update(p.relative_to(WEBAPP_SRC).as_posix().encode() + b"\0" + p.read_bytes())
    h.update(_file_key(classpath).encode())
    h.update(os.path.realpath(javac).encode())
    key = h.hexdigest()
    result = WebappBuild(version, final / "jw", final / "jw.war")
    stamp = final / ".stamp"
    if stamp.is_file() and stamp.read_text() == key:
        return result
    with _build_lock(f"webapp-{dist.full_version}"):
        if stamp.is_file() and stamp.read_text() == key:
            return result
        tmp = BUILD_DIR / f".tmp-webapp-{dist.full_version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            src_dir = tmp / "src"
            classes = tmp / "jw" / "WEB-INF" / "classes"
            classes.mkdir(parents=True)
            generated = []
            for s in sources:
                text = s.read_text(encoding="utf-8")
                if dist.servlet_package != "javax.servlet":
                    text = text.replace("javax.servlet", dist.servlet_package)
                out = src_dir / s.relative_to(WEBAPP_SRC / "src")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(text, encoding="utf-8")
                generated.append(str(out))
            cmd = [
                javac,
                "--release",
                "11",
                "-encoding",
                "UTF-8",
                "-nowarn",
                "-g",
                "-cp",
                os.pathsep.join(map(str, classpath)),
                "-d",
                str(classes),
                *generated,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise TomcatError(f"javac failed:\n{proc.stdout}\n{proc.stderr}")
            xml = web_xml.read_text(encoding="utf-8")
            if version == 10:
                javaee, jakartaee = (
                    "http://xmlns.jcp.org/xml/ns/javaee",
                    "https://jakarta.ee/xml/ns/jakartaee",
                )
                xml = (
                    xml.replace(f"{javaee}/web-app_4_0.xsd", f"{jakartaee}/web-app_6_0.xsd")
                    .replace(javaee, jakartaee)
                    .replace('version="4.0"', 'version="6.0"')
                )
            (tmp / "jw" / "WEB-INF" / "web.xml").write_text(xml, encoding="utf-8")
            proc = subprocess.run(
                [jar_tool, "cf", str(tmp / "jw.war"), "-C", str(tmp / "jw"), "."],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise TomcatError(f"jar failed:\n{proc.stdout}\n{proc.stderr}")
            shutil.rmtree(src_dir)
            (tmp / ".stamp").write_text(key)
            _replace_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- members / typed JSON


def _signed(b: int) -> int:
    b &= 0xFF
    return b - 256 if b > 127 else b


def normalize_unique_id(uid: bytes | Sequence[int]) -> tuple[int, ...]:
    """16 bytes (``bytes`` or ints, signed or unsigned) -> 16 signed ints as Tomcat prints them."""
    values = tuple(_signed(b) for b in uid)
    if len(values) != 16:
        raise ValueError(f"a Tribes uniqueId has 16 bytes, not {len(values)}")
    return values


def default_unique_id(address: str, port: int = 4000) -> tuple[int, ...]:
    """``{0,...,0,<last octet>}`` (as in OBSERVED.md) -- the port is folded in if it is not 4000."""
    last = int(address.rsplit(".", 1)[1])
    uid = [0] * 16
    uid[15] = last
    if port != 4000:
        uid[12], uid[13] = port >> 8, port & 0xFF
    return normalize_unique_id(uid)


@dataclass(frozen=True)
class StaticMemberSpec:
    """One ``<Member>`` of a StaticMembershipService."""

    host: str
    port: int = 4000
    unique_id: tuple[int, ...] | bytes | None = None  # None: default_unique_id(host, port)

    @property
    def uid(self) -> tuple[int, ...]:
        if self.unique_id is None:
            return default_unique_id(self.host, self.port)
        return normalize_unique_id(self.unique_id)

    @property
    def uid_bytes(self) -> bytes:
        return bytes(b & 0xFF for b in self.uid)

    def uid_attr(self) -> str:
        return "{" + ",".join(str(b) for b in self.uid) + "}"


@dataclass(frozen=True)
class MemberInfo:
    """A cluster member as a Tomcat node reports it (GET /jw/t/members)."""

    host: str
    port: int
    unique_id: tuple[int, ...]
    name: str
    alive_time: int
    ready: bool
    suspect: bool
    command: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MemberInfo:
        return cls(
            d["host"],
            d["port"],
            tuple(d["uniqueId"]),
            d["name"],
            d["aliveTime"],
            d["ready"],
            d["suspect"],
            d["command"],
        )

    @property
    def endpoint(self) -> tuple[str, int]:
        return (self.host, self.port)


def typed(java_class: str, value: Any) -> dict[str, Any]:
    """Typed JSON for the webapp: ``typed("Long", 5)``, ``typed("byte[]", b"..")``.

    Short class names are accepted (see lab.Typed.canonical). ``bytes`` values are sent as hex.
    Collections may hold plain JSON values (implicitly typed) or nested ``typed(...)`` dicts.
    """
    if isinstance(value, bytes | bytearray):
        value = bytes(value).hex()
    return {"class": java_class, "value": value}


_MAP_SUFFIXES = ("Map", "Hashtable", "Properties")


def from_typed(tj: Mapping[str, Any] | None) -> Any:
    """Typed JSON (as the webapp reports it) -> a plain Python value.

    String/Character -> str, integral boxes -> int, Double/Float -> float, Boolean -> bool,
    byte[] -> bytes, arrays and collections -> list, maps -> dict, Date -> epoch ms (int),
    other objects (lab.Pojo) -> dict of fields (superclass fields first).
    """
    if tj is None:
        return None
    cls = tj.get("class")
    value = tj.get("value")
    if cls is None:
        return None
    if cls == "[B":
        return bytes.fromhex(str(value))
    if cls in ("java.lang.Double", "java.lang.Float", "double", "float"):
        return float(str(value)) if isinstance(value, str) else float(value or 0)
    if isinstance(value, list):
        if cls.endswith(_MAP_SUFFIXES) and all(isinstance(p, list) and len(p) == 2 for p in value):
            return {_hashable(from_typed(k)): from_typed(v) for k, v in value}
        return [from_typed(v) if isinstance(v, dict) and "class" in v else v for v in value]
    if isinstance(value, dict):
        return {k: from_typed(v) for k, v in value.items()}
    return value


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


# --------------------------------------------------------------------------- HTTP


@dataclass
class HttpResult:
    status: int
    body: Any  # decoded JSON (or the raw text if it was not JSON)
    headers: dict[str, str]
    elapsed: float

    @property
    def set_session_id(self) -> str | None:
        """The JSESSIONID from a Set-Cookie header, if any."""
        m = re.search(r"JSESSIONID=([^;]+)", self.headers.get("set-cookie", ""))
        return m.group(1) if m else None


def http_request(
    host: str,
    port: int,
    path: str,
    *,
    method: str = "GET",
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    session_id: str | None = None,
    timeout: float = 10.0,
) -> HttpResult:
    """One HTTP/1.1 request on a fresh connection; ``body`` is sent as JSON if not None."""
    if params:
        path = path + ("&" if "?" in path else "?") + urlencode(params, doseq=True)
    headers = {"Connection": "close", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json; charset=utf-8"
        method = "POST" if method == "GET" else method
    if session_id:
        headers["Cookie"] = f"JSESSIONID={session_id}"
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    text = raw.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    return HttpResult(resp.status, parsed, hdrs, time.monotonic() - t0)


# --------------------------------------------------------------------------- the node

_LIVE_NODES: weakref.WeakSet[TomcatNode] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:  # pragma: no cover - safety net only
    for node in list(_LIVE_NODES):
        with contextlib.suppress(Exception):
            node.kill()


def _port_in_use(address: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((address, port))
    except OSError as e:
        return e.errno == errno.EADDRINUSE
    finally:
        s.close()
    return False


@dataclass
class Interceptor:
    """An ``<Interceptor>``; ``class_name`` may be short (``TcpFailureDetector``)."""

    class_name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def full_class_name(self) -> str:
        return self.class_name if "." in self.class_name else INTERCEPTOR_PACKAGE + self.class_name


def _attrs(d: Mapping[str, Any]) -> str:
    out = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append(f" {k}={quoteattr(str(v))}")
    return "".join(out)


class TomcatNode:
    """One real Tomcat JVM in its own CATALINA_BASE (``work_dir``).

    Nothing starts in the constructor; call :meth:`start` then :meth:`wait_ready`. The JVM runs
    in its own process group, so :meth:`kill`/:meth:`pause` reach it and nothing else. Always
    :meth:`close` (the fixtures do) -- an atexit hook kills forgotten JVMs as a last resort.
    """

    def __init__(
        self,
        version: int,
        address: str,
        *,
        work_dir: Path,
        http_port: int = 8080,
        tribes_port: int = 4000,
        shutdown_port: int = 8005,
        unique_id: bytes | Sequence[int] | None = None,
        members: Sequence[StaticMemberSpec] = (),
        name: str | None = None,
        channel_send_options: int = 6,
        cluster_name: str | None = None,
        cluster_attributes: Mapping[str, Any] | None = None,
        manager_attributes: Mapping[str, Any] | None = None,
        membership_attributes: Mapping[str, Any] | None = None,
        expiration_time: int | None = None,
        receiver_attributes: Mapping[str, Any] | None = None,
        sender_attributes: Mapping[str, Any] | None = None,
        interceptors: Sequence[str | Interceptor] | None = None,
        replication_valve_filter: str = "",
        jvm_route_binder_valve: bool = False,
        jvm_route: str | None = None,
        session_timeout_minutes: int = 30,
        log_levels: Mapping[str, str] | None = None,
        jvm_flags: Sequence[str] = DEFAULT_JVM_FLAGS,
        extra_jvm_flags: Sequence[str] = (),
        webapp: WebappBuild | None = None,
        users: Mapping[str, tuple[str, Sequence[str]]] | None = None,
    ) -> None:
        if version not in DISTS:
            raise ValueError(f"unsupported Tomcat version {version} (9 or 10)")
        if not address.startswith("127."):
            raise ValueError(f"tests use loopback addresses only, not {address}")
        self.version = version
        self.dist = DISTS[version]
        self.address = address
        self.http_port = http_port
        self.tribes_port = tribes_port
        self.shutdown_port = shutdown_port
        self.unique_id = (
            normalize_unique_id(unique_id)
            if unique_id is not None
            else default_unique_id(address, tribes_port)
        )
        self.static_members = list(members)
        self.name = name or f"tomcat{version}@{address}:{tribes_port}"
        self.work_dir = Path(work_dir)
        self.channel_send_options = channel_send_options
        self.cluster_name = cluster_name
        self.cluster_attributes = dict(cluster_attributes or {})
        self.manager_attributes: dict[str, Any] = {
            "expireSessionsOnShutdown": False,
            "notifyListenersOnReplication": True,
        }
        self.manager_attributes.update(manager_attributes or {})
        self.membership_attributes = dict(membership_attributes or {})
        if expiration_time is not None:
            self.membership_attributes["expirationTime"] = expiration_time
        # autoBind=1: fail loudly if the port is taken instead of moving to port+1 (which would
        # break StaticMembershipService's local-member lookup)
        self.receiver_attributes: dict[str, Any] = {"autoBind": 1}
        self.receiver_attributes.update(receiver_attributes or {})
        self.sender_attributes = dict(sender_attributes or {})
        self.interceptors: list[Interceptor] = [
            i if isinstance(i, Interceptor) else Interceptor(i)
            for i in (DEFAULT_INTERCEPTORS if interceptors is None else interceptors)
        ]
        self.replication_valve_filter = replication_valve_filter
        self.jvm_route_binder_valve = jvm_route_binder_valve
        self.jvm_route = jvm_route
        self.session_timeout_minutes = session_timeout_minutes
        self.log_levels = dict(log_levels or {})
        self.jvm_flags = list(jvm_flags) + list(extra_jvm_flags)
        self._webapp = webapp
        self.users = dict(
            users or {"alice": ("alice-pw", ("r1", "r2")), "bob": ("bob-pw", ("r1",))}
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_fh: Any = None
        self._run_log_offset = 0
        self._paused = False
        self.started_at: float | None = None  # time.monotonic() of the last start()
        self.ready_seconds: float | None = None  # start() -> HTTP ready, last run
        self.start_count = 0
        self._lock = threading.Lock()
        _LIVE_NODES.add(self)

    # ----------------------------------------------------------------- identity

    def __repr__(self) -> str:
        return f"<TomcatNode {self.name} pid={self.pid}>"

    @property
    def spec(self) -> StaticMemberSpec:
        """This node as a ``<Member>`` of other nodes' static membership."""
        return StaticMemberSpec(self.address, self.tribes_port, self.unique_id)

    @property
    def home(self) -> Path:
        return tomcat_home(self.version)

    @property
    def webapp(self) -> WebappBuild:
        if self._webapp is None:
            self._webapp = build_webapp(self.version)
        return self._webapp

    @property
    def log_path(self) -> Path:
        return self.work_dir / "logs" / "catalina.out"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def url(self, path: str = "/") -> str:
        """``url("/jw/t/session")`` -> ``http://127.0.0.11:8080/jw/t/session``."""
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{self.address}:{self.http_port}{path}"

    # ----------------------------------------------------------------- configuration

    def all_members(self) -> list[StaticMemberSpec]:
        """The static members written to server.xml: this node first, then the others."""
        me = self.spec
        others = [m for m in self.static_members if (m.host, m.port) != (me.host, me.port)]
        return [me, *others]

    def server_xml(self) -> str:
        cluster_attrs: dict[str, Any] = {
            "className": "org.apache.catalina.ha.tcp.SimpleTcpCluster",
            "channelSendOptions": self.channel_send_options,
            "clusterName": self.cluster_name,
        }
        cluster_attrs.update(self.cluster_attributes)
        members = "\n".join(
            f'            <Member className="org.apache.catalina.tribes.membership.StaticMember"'
            f"{_attrs({'host': m.host, 'port': m.port, 'uniqueId': m.uid_attr()})}/>"
            for m in self.all_members()
        )
        interceptors = "\n".join(
            f"          <Interceptor{_attrs({'className': i.full_class_name, **i.attributes})}/>"
            for i in self.interceptors
        )
        receiver = {
            "className": "org.apache.catalina.tribes.transport.nio.NioReceiver",
            "address": self.address,
            "port": self.tribes_port,
            **self.receiver_attributes,
        }
        valves = [
            f'        <Valve className="org.apache.catalina.ha.tcp.ReplicationValve"'
            f" filter={quoteattr(self.replication_valve_filter)}/>"
        ]
        if self.jvm_route_binder_valve:
            valves.append(
                '        <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>'
            )
        sci_filter = (
            "org.apache.jasper.servlet.JasperInitializer|org.apache.tomcat.websocket.server.WsSci"
        )
        manager = {
            "className": "org.apache.catalina.ha.session.DeltaManager",
            **self.manager_attributes,
        }
        membership = {
            "className": "org.apache.catalina.tribes.membership.StaticMembershipService",
            **self.membership_attributes,
        }
        sender = {
            "className": "org.apache.catalina.tribes.transport.ReplicationTransmitter",
            **self.sender_attributes,
        }
        host = {
            "name": "localhost",
            "appBase": "webapps",
            "unpackWARs": False,
            "autoDeploy": False,
            "deployOnStartup": False,
        }
        context = {
            "path": CONTEXT_PATH,
            "docBase": str(self.webapp.directory),
            "privileged": True,
            "reloadable": False,
            "containerSciFilter": sci_filter,
        }
        engine = {"name": "Catalina", "defaultHost": "localhost", "jvmRoute": self.jvm_route}
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tests/interop/tomcat.py for {self.name} (Tomcat {self.dist.full_version}). -->
<Server{_attrs({"address": self.address, "port": self.shutdown_port, "shutdown": "SHUTDOWN"})}>
  <Service name="Catalina">
    <Connector{
            _attrs(
                {
                    "address": self.address,
                    "port": self.http_port,
                    "protocol": "HTTP/1.1",
                    "connectionTimeout": 20000,
                    "maxThreads": 40,
                }
            )
        }/>
    <Engine{_attrs(engine)}>
      <Realm className="org.apache.catalina.realm.MemoryRealm" pathname="conf/jw-users.xml"/>
      <Cluster{_attrs(cluster_attrs)}>
        <Manager{_attrs(manager)}/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership{_attrs(membership)}>
{members}
          </Membership>
          <Receiver{_attrs(receiver)}/>
          <Sender{_attrs(sender)}>
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"/>
          </Sender>
{interceptors}
        </Channel>
{chr(10).join(valves)}
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>
      </Cluster>
      <Host{_attrs(host)}>
        <Context{_attrs(context)}>
          <JarScanner scanClassPath="false" scanManifest="false"/>
        </Context>
      </Host>
    </Engine>
  </Service>
</Server>
"""

    def _write_base(self) -> None:
        conf = self.work_dir / "conf"
        for d in ("conf", "logs", "temp", "work", "webapps"):
            (self.work_dir / d).mkdir(parents=True, exist_ok=True)
        (conf / "server.xml").write_text(self.server_xml(), encoding="utf-8")
        (conf / "catalina.properties").write_text(
            "# Written by tests/interop/tomcat.py: one class loader over CATALINA_HOME/lib.\n"
            'common.loader="${catalina.base}/lib","${catalina.base}/lib/*.jar",'
            '"${catalina.home}/lib","${catalina.home}/lib/*.jar"\n'
            "server.loader=\n"
            "shared.loader=\n"
            "# The test webapp needs no TLDs, fragments or annotations from jars.\n"
            "tomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar\n"
            "tomcat.util.scan.StandardJarScanFilter.jarsToScan=\n",
            encoding="utf-8",
        )
        levels = "".join(f"{k}.level = {v}\n" for k, v in self.log_levels.items())
        (conf / "logging.properties").write_text(
            "# Written by tests/interop/tomcat.py: everything to the console (logs/catalina.out).\n"
            "handlers = java.util.logging.ConsoleHandler\n"
            ".handlers = java.util.logging.ConsoleHandler\n"
            ".level = INFO\n"
            "java.util.logging.ConsoleHandler.level = ALL\n"
            "java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter\n"
            "java.util.logging.ConsoleHandler.encoding = UTF-8\n" + levels,
            encoding="utf-8",
        )
        ns, ver = (
            ("https://jakarta.ee/xml/ns/jakartaee", "6.0")
            if self.version == 10
            else ("http://xmlns.jcp.org/xml/ns/javaee", "4.0")
        )
        (conf / "web.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<!-- Global web.xml written by tests/interop/tomcat.py: deliberately (almost) empty;"
            " the test webapp declares what it needs. -->\n"
            f'<web-app xmlns="{ns}" version="{ver}" metadata-complete="true">\n'
            f"  <session-config><session-timeout>{self.session_timeout_minutes}"
            "</session-timeout></session-config>\n"
            "</web-app>\n",
            encoding="utf-8",
        )
        users = "\n".join(
            f"  <user{_attrs({'username': u, 'password': pw, 'roles': ','.join(roles)})}/>"
            for u, (pw, roles) in self.users.items()
        )
        (conf / "jw-users.xml").write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<tomcat-users>\n{users}\n</tomcat-users>\n',
            encoding="utf-8",
        )

    def command(self) -> list[str]:
        home = self.home
        base = self.work_dir.resolve()
        java = shutil.which("java")
        if java is None:
            raise TomcatError("java is not on PATH")
        return [
            java,
            *self.jvm_flags,
            *ADD_OPENS,
            f"-Djava.util.logging.config.file={base}/conf/logging.properties",
            "-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager",
            "-Djdk.tls.ephemeralDHKeySize=2048",
            "-Djava.protocol.handler.pkgs=org.apache.catalina.webresources",
            "-Dorg.apache.catalina.security.SecurityListener.UMASK=0027",
            "-classpath",
            f"{home}/bin/bootstrap.jar:{home}/bin/tomcat-juli.jar",
            f"-Dcatalina.base={base}",
            f"-Dcatalina.home={home}",
            f"-Djava.io.tmpdir={base}/temp",
            "org.apache.catalina.startup.Bootstrap",
            "start",
        ]

    # ----------------------------------------------------------------- life cycle

    def start(self) -> None:
        """Writes CATALINA_BASE (server.xml regenerated from the current settings) and starts
        the JVM. Returns at once; see :meth:`wait_ready`."""
        with self._lock:
            if self.is_running():
                raise TomcatError(f"{self.name} is already running")
            busy = [
                p
                for p in (self.http_port, self.tribes_port, self.shutdown_port)
                if _port_in_use(self.address, p)
            ]
            if busy:
                raise TomcatError(f"{self.name}: {self.address} ports {busy} are already in use")
            self.webapp  # noqa: B018 - build before the clock starts
            self._write_base()
            if self._log_fh is None:
                self._log_fh = open(self.log_path, "ab")  # noqa: SIM115
            self._log_fh.write(
                f"==== harness: start #{self.start_count + 1} of {self.name}"
                f" at {time.strftime('%H:%M:%S')}\n".encode()
            )
            self._log_fh.flush()
            self._run_log_offset = self.log_path.stat().st_size
            env = {
                k: v
                for k, v in os.environ.items()
                if k
                not in (
                    "JAVA_TOOL_OPTIONS",
                    "JDK_JAVA_OPTIONS",
                    "_JAVA_OPTIONS",
                    "CATALINA_OPTS",
                    "JAVA_OPTS",
                    "CATALINA_BASE",
                    "CATALINA_HOME",
                )
            }
            env.setdefault("LANG", "C.UTF-8")
            self.started_at = time.monotonic()
            self.ready_seconds = None
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.work_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._paused = False
            self.start_count += 1

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Waits until ``/jw/t/ping`` answers 200 (so the context -- and any state transfer --
        is done). Returns the seconds since :meth:`start`."""
        if self.proc is None or self.started_at is None:
            raise TomcatError(f"{self.name} was never started")
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise TomcatError(
                    f"{self.name} exited with {self.proc.returncode} while starting\n"
                    + self.log_tail()
                )
            try:
                r = http_request(self.address, self.http_port, "/jw/t/ping", timeout=2.0)
                if r.status == 200:
                    self.ready_seconds = time.monotonic() - self.started_at
                    return self.ready_seconds
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TomcatError(f"{self.name} not ready after {timeout} s\n" + self.log_tail())
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> float:
        """Graceful stop through the shutdown port (SIGTERM if it does not listen yet). The
        cluster sends its MSG_STOP. Returns the seconds until the JVM exited; kills it if it
        does not exit within ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            self._close_log()
            return 0.0
        if self._paused:
            self.resume()
        t0 = time.monotonic()
        try:
            with socket.create_connection((self.address, self.shutdown_port), timeout=2.0) as s:
                s.sendall(b"SHUTDOWN\n")
        except OSError:
            self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TomcatError(
                f"{self.name} did not stop within {timeout} s (killed)\n" + self.log_tail()
            ) from None
        self._close_log()
        return time.monotonic() - t0

    def kill(self) -> None:
        """SIGKILL to the JVM's process group (no MSG_STOP, connections reset)."""
        if self.proc is None or self.proc.poll() is not None:
            self._close_log()
            return
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._paused = False
        self._close_log()

    def pause(self) -> None:
        """SIGSTOP. Note: the kernel still accepts TCP connections for a stopped JVM, so peers
        keep it as a member for minutes (see OBSERVED.md); use a real network cut for that."""
        self._signal(signal.SIGSTOP)
        self._paused = True
        self._wait_stopped(True)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        self._paused = False
        self._wait_stopped(False)

    def _wait_stopped(self, stopped: bool, timeout: float = 5.0) -> None:
        """Signals are asynchronous: wait until /proc shows every JVM thread (not) stopped."""
        if self.proc is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for task in Path(f"/proc/{self.proc.pid}/task").glob("*/stat"):
                with contextlib.suppress(OSError):
                    states.append(task.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t"))
            if not states:
                return  # the process is gone
            if all(states) if stopped else not any(states):
                return
            time.sleep(0.01)
        raise TomcatError(
            f"{self.name}: still {'running' if stopped else 'stopped'} after {timeout} s"
        )

    def restart(self, *, wait: bool = True, timeout: float = 90.0) -> float | None:
        """Graceful stop then start (server.xml is rewritten from the current settings)."""
        self.stop()
        self.start()
        return self.wait_ready(timeout) if wait else None

    def close(self) -> None:
        """Stops the node whatever its state (graceful first, then SIGKILL)."""
        try:
            if self.is_running():
                self.stop(timeout=20.0)
        except Exception:
            self.kill()
        finally:
            self.kill()

    def __enter__(self) -> TomcatNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def _close_log(self) -> None:
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    # ----------------------------------------------------------------- logs

    def log_mark(self) -> int:
        """An offset into the log, for ``wait_log(..., since=mark)``."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as fh:
            fh.seek(since)
            return fh.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(
        self, pattern: str | re.Pattern[str], timeout: float = 30.0, since: int | None = None
    ) -> re.Match[str]:
        """Waits for ``pattern`` (regex, searched with MULTILINE) in the log written since
        ``since`` (default: since the current run's start)."""
        rx = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern
        start = self._run_log_offset if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_text(start))
            if m:
                return m
            if time.monotonic() > deadline:
                raise TomcatError(
                    f"{self.name}: no /{rx.pattern}/ in the log within {timeout} s\n"
                    + self.log_tail()
                )
            time.sleep(0.1)

    # ----------------------------------------------------------------- webapp calls

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        session_id: str | None = None,
        timeout: float = 10.0,
    ) -> HttpResult:
        return http_request(
            self.address,
            self.http_port,
            path,
            method=method,
            params=params,
            body=body,
            session_id=session_id,
            timeout=timeout,
        )

    def jw(
        self,
        endpoint: str,
        *,
        session_id: str | None = None,
        body: Any = None,
        expect: int | None = 200,
        timeout: float = 10.0,
        **params: Any,
    ) -> dict[str, Any]:
        """Calls a webapp endpoint, e.g. ``jw("set", session_id=sid, name="n", type="Long",
        value=5)`` -> the decoded JSON. Raises TomcatError if the status is not ``expect``."""
        r = self.request(
            f"{CONTEXT_PATH}/t/{endpoint}",
            params=params or None,
            body=body,
            session_id=session_id,
            timeout=timeout,
        )
        if expect is not None and r.status != expect:
            raise TomcatError(f"{self.name} /jw/t/{endpoint} -> {r.status}: {r.body}")
        if not isinstance(r.body, dict):
            raise TomcatError(f"{self.name} /jw/t/{endpoint}: not JSON: {r.body!r}")
        return r.body

    def members(self) -> list[MemberInfo]:
        """Cluster members as this Tomcat sees them (``CatalinaCluster.getMembers()``)."""
        return [MemberInfo.from_json(m) for m in self.jw("members")["members"]]

    def wait_members(
        self,
        expected: Iterable[tuple[str, int] | StaticMemberSpec | TomcatNode],
        timeout: float = 30.0,
    ) -> list[MemberInfo]:
        """Waits until the member set is exactly ``expected`` ((host, port) pairs, specs or
        nodes); returns it."""
        want = set()
        for e in expected:
            if isinstance(e, TomcatNode):
                want.add((e.address, e.tribes_port))
            elif isinstance(e, StaticMemberSpec):
                want.add((e.host, e.port))
            else:
                want.add((e[0], int(e[1])))
        deadline = time.monotonic() + timeout
        while True:
            got: list[MemberInfo] = []
            with contextlib.suppress(OSError, TomcatError):
                got = self.members()
                if {m.endpoint for m in got} == want:
                    return got
            if time.monotonic() > deadline:
                raise TomcatError(
                    f"{self.name}: members {[m.endpoint for m in got]} != "
                    f"{sorted(want)} after {timeout} s\n" + self.log_tail()
                )
            time.sleep(0.2)

    def session(
        self, session_id: str | None = None, *, create: bool = True
    ) -> dict[str, Any] | None:
        """GET /jw/t/session (accesses the session; creates one unless ``create=False``)."""
        s: dict[str, Any] | None = self.jw("session", session_id=session_id, create=int(create))[
            "session"
        ]
        return s

    def new_session(self) -> str:
        """Creates a session on this node; returns its id."""
        s = self.jw("session", create=1)["session"]
        if s is None:
            raise TomcatError(f"{self.name}: no session created")
        return str(s["id"])

    def peek(self, session_id: str) -> dict[str, Any] | None:
        """The session as the Manager holds it, without accessing it (no replication traffic)."""
        s: dict[str, Any] | None = self.jw("peek", id=session_id)["session"]
        return s

    def session_ids(self) -> list[str]:
        return [s["id"] for s in self.jw("sessions")["sessions"]]

    def set_attribute(
        self,
        session_id: str,
        name: str,
        value: Mapping[str, Any] | Any,
        java_class: str | None = None,
    ) -> dict[str, Any]:
        """Sets one attribute (JSON body). ``value`` is typed JSON, or a plain value with
        ``java_class`` given (``set_attribute(sid, "n", 5, "Long")``)."""
        tj = typed(java_class, value) if java_class is not None else value
        s: dict[str, Any] = self.jw("set", session_id=session_id, body={"name": name, "value": tj})[
            "session"
        ]
        return s

    def server_info(self) -> str:
        return str(self.jw("ping")["serverInfo"])


def make_cluster(
    version: int,
    addresses: Sequence[str],
    base_dir: Path,
    *,
    extra_members: Sequence[StaticMemberSpec] = (),
    **node_kwargs: Any,
) -> list[TomcatNode]:
    """Nodes (not started) that list each other (plus ``extra_members``) as static members;
    the work dirs are ``base_dir/<address>``."""
    port = node_kwargs.pop("tribes_port", 4000)
    specs = [StaticMemberSpec(a, port) for a in addresses] + list(extra_members)
    return [
        TomcatNode(
            version, a, work_dir=base_dir / a, tribes_port=port, members=specs, **node_kwargs
        )
        for a in addresses
    ]
