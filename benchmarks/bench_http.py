"""HTTP requests/s with one session write per request: two pytribes app nodes against two real
Tomcat nodes, wrk driving ONE node, the other node replicating with channelSendOptions 6.

    python -m benchmarks.bench_http [--rounds 3] [--seconds 3] [--mixed] [--tomcat-version 10]

Nodes (each its own process, loopback, Tribes port 4000, HTTP 8080, static membership):

    pytribes A 127.0.0.121  B 127.0.0.122   (`pytribes node --http ... --db sqlite:///...`)
    Tomcat   A 127.0.0.123  B 127.0.0.124   (tests/interop/tomcat.py TomcatNode, DeltaManager,
                                             channelSendOptions 6, ReplicationValve; full JIT)

Every A lists both Bs, every B both As, so one B at a time serves either A (the mixed pairs).
wrk (``-t1 -c4``, the Lua script below) drives an A; every request writes a fresh 100-character
String into the one session its JSESSIONID cookie names (created by a first request just before
the run): pytribes ``PUT /jw/api/session/attributes/v`` (the JSON API), Tomcat ``GET
/jw/write.jsp`` (tests/interop/webapp/write.jsp, compiled by Jasper). Both hold the response
until the peer has ACKed the delta (pytribes' middleware awaits ``cluster.complete``; Tomcat's
ReplicationValve sends with options 6). One round: each A alone (no peer: no replication),
then py B up: py A and (mixed) Tomcat A measured, then Tomcat B up: Tomcat A and (mixed) py A.
Round 0 is a warm-up (JIT, JSP compile), not reported.

Rows: requests/s and latency p50/p99 (wrk's, µs) with the peer, the same alone, and "p99 added
by synchronous replication" = p99 with the peer - p99 alone (same round; 0 when negative).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JSP = ROOT / "tests" / "interop" / "webapp" / "write.jsp"
ADDR = {
    ("py", "A"): "127.0.0.121",
    ("py", "B"): "127.0.0.122",
    ("java", "A"): "127.0.0.123",
    ("java", "B"): "127.0.0.124",
}
TRIBES_PORT, HTTP_PORT, SHUTDOWN_PORT = 4000, 8080, 8005
PATHS = {"py": ("PUT", "/jw/api/session/attributes/v"), "java": ("GET", "/jw/write.jsp")}

#: wrk script: every request carries the session cookie (BENCH_COOKIE, or the last Set-Cookie)
#: and, for PUT, a fresh 100-character String as JSON; `done` prints one JSON line.
LUA = r"""
local cookie = os.getenv("BENCH_COOKIE")
local method, path = os.getenv("BENCH_METHOD"), os.getenv("BENCH_PATH")
local pad = string.rep("x", 90)
local n = 0

request = function()
  n = n + 1
  local h = {}
  if cookie then h["Cookie"] = cookie end
  local body = nil
  if method == "PUT" then
    h["Content-Type"] = "application/json"
    body = string.format('{"value":"%s%010d"}', pad, n)
  end
  return wrk.format(method, path, h, body)
end

response = function(status, headers, body)
  local c = headers["Set-Cookie"]
  if c then cookie = c:match("(JSESSIONID=[^;]+)") or cookie end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


class Unavailable(RuntimeError):
    """wrk, Java or the Tomcat installation is missing."""


def _http(host: str, method: str, path: str, cookie: str | None = None) -> tuple[int, str, str]:
    """One request: (status, body, JSESSIONID=... cookie or "")."""
    conn = http.client.HTTPConnection(host, HTTP_PORT, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        body = json.dumps({"value": "x" * 100}) if method == "PUT" else None
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        set_cookie = r.getheader("Set-Cookie") or ""
        return r.status, text, set_cookie.split(";", 1)[0] if "JSESSIONID=" in set_cookie else ""
    finally:
        conn.close()


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
            if pred():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out ({timeout} s) waiting for {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------- the nodes


class PyNode:
    """``pytribes node --http``: SIGINT stops it gracefully (MSG_STOP)."""

    def __init__(self, role: str, db: str, logdir: Path, version: int) -> None:
        self.host = ADDR[("py", role)]
        other = "B" if role == "A" else "A"
        peers = [ADDR[(k, other)] for k in ("py", "java")]
        uid = self.host.rsplit(".", 1)[1]
        cmd = [
            sys.executable, "-m", "tribes.cli", "node", "--bind", f"{self.host}:{TRIBES_PORT}",
            "--unique-id", uid, "--tomcat-version", str(version),
            "--http", f"{self.host}:{HTTP_PORT}", "--db", db, "--log-level", "WARNING",
        ]  # fmt: skip
        for p in peers:
            cmd += ["--member", f"{p}:{TRIBES_PORT}:{p.rsplit('.', 1)[1]}"]
        self.log = (logdir / f"py-{role}.log").open("ab")
        env = {**os.environ, "PYTRIBES_NODE_NAME": f"py-{role}"}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        _wait(lambda: _http(self.host, "GET", "/jw/health")[0] == 200, 60, f"{self.host} health")

    def members(self) -> set[str]:
        status, body, _ = _http(self.host, "GET", "/jw/api/cluster")
        info = json.loads(body) if status == 200 else {}
        return {
            str(m["host"])
            for m in info.get("members", [])
            if not m.get("local") and m.get("state") == "alive"
        }

    def holds(self, cookie: str) -> bool:
        status, body, _ = _http(self.host, "GET", "/jw/api/session", cookie)
        return status == 200 and "v" in json.loads(body).get("attributes", {})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def _tomcat_node_class() -> type[Any]:
    """TomcatNode with JSP support: the interop harness leaves Jasper out (start-up time); here
    the JasperInitializer runs, the global web.xml maps ``*.jsp`` to the JspServlet, and the JDT
    compiler jar Debian's jasper.jar points to (``Class-Path: eclipse-jdt-core.jar``, a name
    that does not resolve next to the lib/ symlinks) is linked into CATALINA_BASE/lib."""
    try:
        from tests.interop.tomcat import TomcatNode
    except ImportError as e:  # pragma: no cover - the tests package is part of the checkout
        raise Unavailable(f"tests.interop.tomcat: {e}") from e

    class JspTomcatNode(TomcatNode):
        def server_xml(self) -> str:
            xml: str = super().server_xml()
            return xml.replace("org.apache.jasper.servlet.JasperInitializer|", "")

        def _write_base(self) -> None:
            super()._write_base()
            web = self.work_dir / "conf" / "web.xml"
            web.write_text(
                web.read_text().replace(
                    "</web-app>",
                    "  <servlet><servlet-name>jsp</servlet-name>"
                    "<servlet-class>org.apache.jasper.servlet.JspServlet</servlet-class>"
                    "<init-param><param-name>development</param-name><param-value>false"
                    "</param-value></init-param><load-on-startup>3</load-on-startup></servlet>\n"
                    "  <servlet-mapping><servlet-name>jsp</servlet-name>"
                    "<url-pattern>*.jsp</url-pattern></servlet-mapping>\n</web-app>",
                )
            )
            lib = self.work_dir / "lib"
            lib.mkdir(exist_ok=True)
            jdt = Path("/usr/share/java/eclipse-jdt-core.jar")
            link = lib / jdt.name
            if jdt.exists() and not link.exists():
                link.symlink_to(jdt)

    return JspTomcatNode


class JavaNode:
    """A Tomcat node (JSP-enabled TomcatNode, throughput JVM flags) serving write.jsp."""

    JVM_FLAGS = (
        "-Xms256m", "-Xmx512m", "-XX:-UsePerfData", "-Djava.awt.headless=true",
        "-Djava.security.egd=file:/dev/./urandom",
    )  # fmt: skip

    def __init__(self, role: str, workdir: Path, version: int) -> None:
        from tests.interop.tomcat import StaticMemberSpec, WebappBuild, build_webapp

        self.host = ADDR[("java", role)]
        other = "B" if role == "A" else "A"
        base = build_webapp(version)
        docbase = workdir / f"webapp-{role}"
        if not docbase.exists():
            shutil.copytree(base.directory, docbase)
            shutil.copy(JSP, docbase / JSP.name)
        self.node = _tomcat_node_class()(
            version,
            self.host,
            work_dir=workdir / f"tomcat-{role}",
            http_port=HTTP_PORT,
            tribes_port=TRIBES_PORT,
            shutdown_port=SHUTDOWN_PORT,
            members=[StaticMemberSpec(ADDR[(k, other)], TRIBES_PORT) for k in ("py", "java")],
            name=f"tomcat-{role}",
            jvm_flags=self.JVM_FLAGS,
            webapp=WebappBuild(version, docbase, docbase.with_suffix(".war")),
        )
        self.node.start()
        self.node.wait_ready(120)

    def members(self) -> set[str]:
        return {m.endpoint[0] for m in self.node.members()}

    def holds(self, cookie: str) -> bool:
        session = self.node.peek(cookie.split("=", 1)[1])
        return session is not None

    def stop(self) -> None:
        self.node.close()


Node = PyNode | JavaNode


# ------------------------------------------------------------------------------------ running


@dataclass
class Settings:
    rounds: int = 3  # measured rounds (plus one warm-up)
    seconds: float = 3.0
    warmup_seconds: float = 2.0
    connections: int = 4
    mixed: bool = True
    tomcat_version: int = 10


@dataclass
class Results:
    #: (metric, pair) -> {round: value}; pair "py" / "java" alone, "py->py", "java->py", ...
    values: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def wrk_run(host: str, impl: str, cookie: str, s: Settings, seconds: float,
            script: Path) -> dict[str, float]:  # fmt: skip
    method, path = PATHS[impl]
    wrk = shutil.which("wrk")
    if wrk is None:
        raise Unavailable("wrk is not installed (Debian package `wrk`)")
    cmd = [wrk, "-t1", f"-c{s.connections}", f"-d{max(1, round(seconds))}s", "--latency",
           "-s", str(script), f"http://{host}:{HTTP_PORT}{path}"]  # fmt: skip
    env = {**os.environ, "BENCH_COOKIE": cookie, "BENCH_METHOD": method, "BENCH_PATH": path}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    r: dict[str, float] = json.loads(line[6:])
    if r["non2xx"] or r["errors"]:
        raise RuntimeError(f"wrk against {impl} {host}: {r['non2xx']} non-2xx, {r['errors']} "
                           f"socket errors of {r['requests']}:\n{out.stdout}")  # fmt: skip
    return r


class Bench:
    def __init__(self, s: Settings, workdir: Path, progress: Callable[[str], None]) -> None:
        self.s, self.workdir, self.progress = s, workdir, progress
        self.db = f"sqlite:///{workdir / 'app.db'}"
        self.script = workdir / "write.lua"
        self.script.write_text(LUA)
        self.results = Results()
        self.impls = ["py", "java"]
        self.nodes: dict[tuple[str, str], Node] = {}

    def start(self, impl: str, role: str) -> None:
        if impl == "py":
            self.nodes[(impl, role)] = PyNode(role, self.db, self.workdir, self.s.tomcat_version)
        else:
            self.nodes[(impl, role)] = JavaNode(role, self.workdir, self.s.tomcat_version)

    def stop(self, impl: str, role: str) -> None:
        node = self.nodes.pop((impl, role), None)
        if node is not None:
            node.stop()

    def wait_peers(self, impl: str, peers: set[str]) -> None:
        node = self.nodes[(impl, "A")]
        _wait(lambda: node.members() == peers, 30, f"{impl} A members == {sorted(peers)}")

    def measure(self, rnd: int, impl: str, pair: str, seconds: float, peer: str = "") -> None:
        """wrk against `impl`'s node A on a fresh session; with `peer` (the B node's kind),
        checks afterwards that B holds that session (it was replicated)."""
        host = ADDR[(impl, "A")]
        method, path = PATHS[impl]
        status, body, cookie = _http(host, method, path)
        if status != 200 or not cookie:
            raise RuntimeError(f"{impl} {host} {method} {path} -> {status} {cookie!r}: {body}")
        r = wrk_run(host, impl, cookie, self.s, seconds, self.script)
        rate = r["requests"] / (r["duration_us"] / 1e6)
        if peer and not self.nodes[(peer, "B")].holds(cookie):
            raise RuntimeError(f"{pair}: the peer does not hold the session {cookie}")
        self.progress(
            f"http {'warm-up' if rnd == 0 else f'round {rnd}'} {pair:9}: {rate:7.0f} req/s  "
            f"p50 {r['p50']:6.0f} µs  p99 {r['p99']:6.0f} µs"
        )
        if rnd > 0:
            for metric, v in (("rate", rate), ("p50", r["p50"]), ("p99", r["p99"])):
                self.results.values.setdefault((metric, pair), {})[rnd] = float(v)

    def round(self, rnd: int) -> None:
        secs = self.s.warmup_seconds if rnd == 0 else self.s.seconds
        order = self.impls if rnd % 2 else self.impls[::-1]  # alternate who goes first
        for impl in order:
            self.wait_peers(impl, set())
            self.measure(rnd, impl, impl, secs)
        for b in ("py", "java"):
            if b not in self.impls:
                continue
            self.start(b, "B")
            try:
                for a in order:
                    if a != b and not self.s.mixed:
                        continue
                    self.wait_peers(a, {ADDR[(b, "B")]})
                    self.measure(rnd, a, f"{a}->{b}", secs, peer=b)
            finally:
                self.stop(b, "B")

    def run(self) -> Results:
        try:
            _tomcat_node_class()
            from tests.interop.tomcat import DISTS

            if missing := DISTS[self.s.tomcat_version].missing():
                raise Unavailable(f"Tomcat {self.s.tomcat_version}: missing {missing}")
            if shutil.which("java") is None:
                raise Unavailable("no java on PATH")
        except Unavailable as e:
            self.progress(f"http: no Tomcat side: {e}")
            self.results.info["java_unavailable"] = str(e)
            self.impls = ["py"]
        try:
            for impl in self.impls:
                self.start(impl, "A")
            for rnd in range(self.s.rounds + 1):
                self.round(rnd)
        finally:
            for key in list(self.nodes):
                self.stop(*key)
        return self.results


def collect(s: Settings, progress: Callable[[str], None] = lambda _: None) -> Results:
    if shutil.which("wrk") is None:
        raise Unavailable("wrk is not installed (Debian package `wrk`)")
    with tempfile.TemporaryDirectory(prefix="pytribes-bench-http-") as tmp:
        return Bench(s, Path(tmp), progress).run()


# --------------------------------------------------------------------------------------- rows


def rows(
    res: Results, s: Settings, make_row: Callable[..., dict[str, Any]]
) -> list[dict[str, Any]]:
    """Same-kind pairs (py->py vs java->java), alone (no peer), the p99 added by replication,
    then the mixed pairs (pytribes A with a Tomcat peer vs Tomcat A with a pytribes peer)."""
    v = res.values
    work = (
        f"wrk -t1 -c{s.connections} -d{s.seconds:g}s on node A, every request writes a fresh "
        "100-char String into one session: PUT /jw/api/session/attributes/v (pytribes app "
        "node, JSON API) vs GET /jw/write.jsp (Tomcat, JSP)"
    )
    kinds = {  # scenario suffix -> (pytribes pair, Java pair, title suffix, what differs)
        "": ("py->py", "java->java", "with its peer", "replicated to node B (options 6) "
             "before the response"),
        ".alone": ("py", "java", "alone (no replication)", "node A alone: no peer"),
        ".mixed": ("py->java", "java->py", "with its peer (mixed: pytribes->Tomcat vs "
                   "Tomcat->pytribes)", "replicated to a peer of the other kind"),
    }  # fmt: skip
    metrics = (
        ("rate", "req/s", True, "HTTP requests/s"),
        ("p50", "µs", False, "HTTP latency p50"),
        ("p99", "µs", False, "HTTP latency p99"),
        ("p99_added", "µs", False, "HTTP p99 added by sync. replication"),
    )

    def runs(metric: str, pair: str, alone: str) -> dict[int, float]:
        if metric != "p99_added":
            return v.get((metric, pair), {})
        with_peer, no_peer = v.get(("p99", pair), {}), v.get(("p99", alone), {})
        # replication cannot make a request faster: a negative difference is noise -> 0
        return {r: max(0.0, with_peer[r] - no_peer[r]) for r in with_peer.keys() & no_peer.keys()}

    out = []
    for key, (py_pair, java_pair, label, how) in kinds.items():
        for metric, unit, hib, title in metrics:
            if metric == "p99_added" and key == ".alone":
                continue
            py_v, java_v = runs(metric, py_pair, "py"), runs(metric, java_pair, "java")
            if not py_v and not java_v:
                continue
            measures = (
                "p99 with the peer - p99 of the same node alone, same round (0 when negative: "
                "noise)"
                if metric == "p99_added"
                else f"{work}; {how}"
            )
            out.append(
                make_row(
                    scenario=f"http.{metric}{key}",
                    title=f"{title}, {label}",
                    unit=unit,
                    higher_is_better=hib,
                    py_runs=py_v,
                    java_runs=java_v,
                    group="http",
                    pair=f"{py_pair} vs {java_pair}",
                    measures=measures,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    from .runner import make_row

    p = argparse.ArgumentParser(prog="bench_http", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--mixed", action="store_true")
    p.add_argument("--tomcat-version", type=int, choices=(9, 10), default=10)
    a = p.parse_args(argv)
    s = Settings(rounds=a.rounds, seconds=a.seconds, mixed=a.mixed,
                 tomcat_version=a.tomcat_version)  # fmt: skip
    res = collect(s, lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(rows(res, s, make_row), indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
