"""The pieces of the seed's deployment, run for real on one machine for the topology tests.

* :class:`Proc`: a child process in its own process group (optionally inside a network
  namespace), its output in a log file; :meth:`Proc.stop` / :meth:`Proc.kill` end the whole
  group.  Every live one is killed at interpreter exit as a last resort.
* :class:`Topology`: "hosts" as network namespaces on one bridge -- the seed's docker network.
  The bridge lives in the root namespace with the subnet's ``.1`` (the load balancer's side, as
  the brief allows); each host is a namespace with a veth whose inner end is ``eth0``, no default
  route, so nothing in it can reach anything but the other hosts of the test.
  :meth:`Topology.cut` / :meth:`Topology.heal` set the host's ``eth0`` down / up: the
  equivalent of ``docker network disconnect`` / ``connect``.
* :class:`MariaDB`: a throwaway ``mariadbd`` (own datadir, socket, port, bind address),
  database and user created through the unix socket (which works across namespaces).
* :class:`Nginx`: the seed's balancer -- non-sticky round robin, ``proxy_connect_timeout 2s``,
  ``proxy_next_upstream error timeout http_502 http_503 http_504``, Host / X-Forwarded-For /
  X-Forwarded-Proto headers -- with its own pid, logs and temp paths, as a foreground child.
* :class:`AppNode`: ``python -m tribes.cli node --bind ... --member ... --unique-id ... --http
  ... --db ...`` as a subprocess.
* :class:`WebClient`: a small HTTP client with a cookie jar, as a browser would use the site.
* :class:`Chromium`: headless Chromium driven through the DevTools protocol over
  ``--remote-debugging-pipe`` (no port, no websocket, no download).

Addresses: loopback (127.0.0.0/8) and the addresses of the namespaces a :class:`Topology` made
itself (10.231.X.0/24, X chosen free at start); never anything else.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"

#: The seed's balancer settings (docker/nginx.conf holds the same lines; a test compares them).
NGINX_PROXY_SETTINGS: tuple[str, ...] = (
    "proxy_set_header Host $http_host;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "proxy_connect_timeout 2s;",
    "proxy_next_upstream error timeout http_502 http_503 http_504;",
)


class HarnessError(RuntimeError):
    """A piece of the topology did not do what the harness expected (with its log tail)."""


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    interval: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> Any:
    """Polls ``predicate`` until it returns something truthy (returned); exceptions count as
    "not yet".  Raises HarnessError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:
            last = e
        if time.monotonic() > deadline:
            extra = f" (last error: {last!r})" if last else ""
            raise HarnessError(
                f"{what}: not after {timeout} s{extra}" + (("\n" + detail()) if detail else "")
            )
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------- processes

_LIVE: weakref.WeakSet[Proc] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:  # pragma: no cover - safety net only
    for p in list(_LIVE):
        with contextlib.suppress(Exception):
            p.kill()


#: Every child (and its children: nginx workers, Chromium's processes) carries this variable
#: with the pid of the test process that started it, so that a later run can end what a run
#: killed with SIGKILL left behind (`sweep_orphans`).
OWNER_ENV = "PYTRIBES_TOPOLOGY_OWNER"
_swept = False


def sweep_orphans() -> list[int]:
    """SIGKILLs the processes that earlier test runs of this harness started and whose test
    process is gone (found by `OWNER_ENV` in /proc/*/environ); their pids."""
    killed = []
    me = str(os.getpid())
    needle = f"{OWNER_ENV}=".encode()
    for d in Path("/proc").glob("[0-9]*"):
        try:
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        for item in env.split(b"\0"):
            if item.startswith(needle):
                owner = item[len(needle) :].decode(errors="replace")
                if owner != me and owner.isdigit() and not _pid_alive(int(owner)):
                    with contextlib.suppress(OSError):
                        os.kill(int(d.name), signal.SIGKILL)
                        killed.append(int(d.name))
                break
    return killed


def netns_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


class Proc:
    """A child process in its own session (so its whole group can be signalled)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        netns: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = name
        self.argv = [*netns_prefix(netns), *argv]
        self.netns = netns
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.pass_fds = tuple(pass_fds)
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_offset = 0
        self.starts = 0

    def start(self) -> None:
        global _swept
        if self.running:
            raise HarnessError(f"{self.name} is already running")
        if not _swept:
            _swept = True
            sweep_orphans()
        env = dict(os.environ if self.env is None else self.env)
        env[OWNER_ENV] = str(os.getpid())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as fh:
            fh.write(
                f"==== harness: start #{self.starts + 1} of {self.name} at "
                f"{time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode()
            )
            self._run_offset = fh.tell()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                pass_fds=self.pass_fds,
            )
        self.starts += 1
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """``sig`` to the group, wait; SIGKILL if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(10)
        # leftovers of the group (nginx workers, ...) go too
        self._signal_group(signal.SIGKILL)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL to the whole group (``kill -9``), waits for the exit."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)

    def log_text(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(since)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_text()
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> bool:
        """True while running (or never started); HarnessError once it has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise HarnessError(
                f"{self.name} exited with {self.proc.returncode}\n" + self.log_tail()
            )
        return True


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0) -> str:
    """Runs a short command; its output (stdout + stderr) or HarnessError."""
    p = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and p.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} -> {p.returncode}\n{p.stdout}{p.stderr}")
    return p.stdout + p.stderr


# --------------------------------------------------------------------------- network namespaces

STATE_DIR = Path("/run/pytribes-topology")
NAME_PREFIX = "pyt"


@dataclass
class Host:
    """One "machine" of the topology: a namespace with ``eth0`` at ``address``."""

    name: str
    netns: str
    address: str
    root_veth: str  # the bridge port in the root namespace

    def __str__(self) -> str:
        return f"{self.name}({self.address})"


def netns_supported() -> str | None:
    """None if this process can make namespaces, veths and bridges; else why not."""
    if not is_root():
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the program 'ip' (iproute2) is missing"
    probe = f"{NAME_PREFIX}-probe-{os.getpid()}"
    try:
        run(["ip", "netns", "add", probe])
        run(["ip", "-n", probe, "link", "set", "lo", "up"])
    except (HarnessError, OSError) as e:
        return f"'ip netns' does not work here: {e}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _pid_alive(pid: int) -> bool:
    """Running (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def sweep_stale_topologies() -> list[str]:
    """Tears down what earlier runs that died (SIGKILL of pytest) left behind; the tags."""
    swept: list[str] = []
    if not STATE_DIR.is_dir():
        return swept
    for f in STATE_DIR.glob("*.json"):
        try:
            state = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(int(state.get("pid", 0))):
            continue
        _teardown(state.get("netns", []), state.get("links", []))
        f.unlink(missing_ok=True)
        swept.append(f.stem)
    return swept


def _kill_netns_processes(netns: str) -> None:
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    for word in out.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.kill(int(word), signal.SIGKILL)


def _teardown(namespaces: Iterable[str], links: Iterable[str]) -> None:
    for ns in namespaces:
        _kill_netns_processes(ns)
    for link in links:
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


class Topology:
    """A bridge in the root namespace (``10.231.X.1/24``) and one namespace per host.

    ``topo.add_host("n1")`` -> Host with address ``10.231.X.11`` (hosts are numbered from .11
    in the order they are added, unless ``last_octet`` is given).
    """

    def __init__(self, *, subnet_third_octet: int | None = None) -> None:
        self.tag = f"{random.randrange(16**4):04x}"
        self.octet = (
            subnet_third_octet if subnet_third_octet is not None else self._free_subnet_octet()
        )
        self.bridge = f"{NAME_PREFIX}{self.tag}br"
        self.gateway = f"10.231.{self.octet}.1"
        self.hosts: dict[str, Host] = {}
        self.links: list[str] = []
        self._next = 11
        self._closed = False
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self._state_file = STATE_DIR / f"{self.tag}.json"
        sweep_stale_topologies()
        try:
            run(["ip", "link", "add", self.bridge, "type", "bridge"])
            self.links.append(self.bridge)
            self._save()
            # bridged traffic between the hosts must not meet the machine's iptables FORWARD
            # policy (a Docker engine sets it to DROP); older kernels lack the option
            subprocess.run(
                ["ip", "link", "set", "dev", self.bridge, "type", "bridge",
                 "nf_call_iptables", "0", "nf_call_ip6tables", "0", "nf_call_arptables", "0"],
                capture_output=True, check=False,
            )  # fmt: skip
            run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge])
            run(["ip", "link", "set", self.bridge, "up"])
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _free_subnet_octet() -> int:
        used = set(re.findall(r"inet 10\.231\.(\d+)\.", run(["ip", "-4", "-o", "addr"])))
        for _ in range(200):
            n = random.randrange(1, 250)
            if str(n) not in used:
                return n
        raise HarnessError("no free 10.231.X.0/24 subnet")

    def _save(self) -> None:
        self._state_file.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "netns": [h.netns for h in self.hosts.values()],
                    "links": self.links,
                }
            )
        )

    def add_host(self, name: str, last_octet: int | None = None) -> Host:
        if not re.fullmatch(r"[a-z0-9]{1,4}", name):
            raise ValueError("host names: 1-4 lower-case letters/digits (interface name limit)")
        if name in self.hosts:
            raise ValueError(f"host {name} exists")
        octet = last_octet if last_octet is not None else self._next
        self._next = max(self._next, octet) + 1
        host = Host(
            name,
            netns=f"{NAME_PREFIX}-{self.tag}-{name}",
            address=f"10.231.{self.octet}.{octet}",
            root_veth=f"{NAME_PREFIX}{self.tag}{name}",
        )
        self.hosts[name] = host
        run(["ip", "netns", "add", host.netns])
        self._save()
        run(["ip", "link", "add", host.root_veth, "type", "veth", "peer", "name", "eth0",
             "netns", host.netns])  # fmt: skip
        self.links.append(host.root_veth)
        self._save()
        ns = ["ip", "-n", host.netns]
        run([*ns, "link", "set", "lo", "up"])
        run([*ns, "addr", "add", f"{host.address}/24", "dev", "eth0"])
        run([*ns, "link", "set", "eth0", "up"])
        run(["ip", "link", "set", host.root_veth, "master", self.bridge])
        run(["ip", "link", "set", host.root_veth, "up"])
        return host

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def cut(self, name: str) -> None:
        """The host's only link goes down (``docker network disconnect``)."""
        run(["ip", "-n", self.hosts[name].netns, "link", "set", "eth0", "down"])

    def heal(self, name: str) -> None:
        """The link comes back (``docker network connect``)."""
        h = self.hosts[name]
        run(["ip", "-n", h.netns, "link", "set", "eth0", "up"])
        # the connected route comes back with the link; make sure the address did not go
        if h.address not in run(["ip", "-n", h.netns, "-4", "-o", "addr", "show", "eth0"]):
            run(["ip", "-n", h.netns, "addr", "add", f"{h.address}/24", "dev", "eth0"])

    def is_cut(self, name: str) -> bool:
        out = run(["ip", "-n", self.hosts[name].netns, "-o", "link", "show", "eth0"])
        return "state DOWN" in out or ",UP" not in out.split(">")[0]

    def describe(self) -> str:
        return ", ".join(str(h) for h in self.hosts.values()) + f" on {self.bridge}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _teardown([h.netns for h in self.hosts.values()], reversed(self.links))
        self._state_file.unlink(missing_ok=True)

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- MariaDB


class MariaDB:
    """A throwaway MariaDB server: ``install()`` then ``start()`` / ``create_database()``."""

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 3306,
        netns: str | None = None,
    ) -> None:
        if not host.startswith("127.") and netns is None:
            raise ValueError("MariaDB binds to loopback, or to an address in a test namespace")
        self.workdir = workdir
        self.host = host
        self.port = port
        self.netns = netns
        self.datadir = workdir / "data"
        self.socket = workdir / "mysqld.sock"
        self.proc = Proc(
            "mariadbd",
            self._argv(),
            workdir / "mariadbd.log",
            netns=netns,
        )
        self.databases: dict[str, tuple[str, str]] = {}

    @staticmethod
    def programs() -> dict[str, str | None]:
        return {
            n: shutil.which(n) or shutil.which(n, path="/usr/sbin:/usr/bin")
            for n in ("mariadbd", "mariadb-install-db", "mariadb")
        }

    def _user_args(self) -> list[str]:
        return ["--user=root"] if is_root() else []

    def _argv(self) -> list[str]:
        return [
            self.programs()["mariadbd"] or "mariadbd",
            "--no-defaults",
            *self._user_args(),
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--pid-file={self.workdir / 'mariadbd.pid'}",
            "--log-error",  # to stderr -> our log file
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--max-connections=200",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ]

    def install(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if (self.datadir / "mysql").is_dir():
            return
        run(
            [
                self.programs()["mariadb-install-db"] or "mariadb-install-db",
                "--no-defaults",
                *self._user_args(),
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            timeout=120,
        )

    def start(self, timeout: float = 60.0) -> None:
        self.install()
        self.proc.start()
        wait_until(
            lambda: self.proc.check_alive() and self._sql("SELECT 1", check=False)[0] == 0,
            timeout,
            f"MariaDB on {self.host}:{self.port}",
            detail=self.proc.log_tail,
        )

    def _sql(self, sql: str, *, check: bool = True) -> tuple[int, str]:
        p = subprocess.run(
            [
                self.programs()["mariadb"] or "mariadb",
                "--no-defaults",
                f"--socket={self.socket}",
                "-uroot",
                "--batch",
                "-e",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check and p.returncode != 0:
            raise HarnessError(f"mariadb: {sql!r} -> {p.returncode}: {p.stderr}")
        return p.returncode, p.stdout

    def sql(self, sql: str) -> str:
        return self._sql(sql)[1]

    def create_database(self, name: str, user: str, password: str) -> str:
        """The database and a user allowed to use it from anywhere; the SQLAlchemy URL."""
        self.sql(
            f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4;"
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}';"
            f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'%';"
            "FLUSH PRIVILEGES;"
        )
        self.databases[name] = (user, password)
        return self.url(name)

    def url(self, name: str) -> str:
        user, password = self.databases[name]
        return f"mysql+pymysql://{user}:{password}@{self.host}:{self.port}/{name}?charset=utf8mb4"

    def stop(self) -> None:
        self.proc.stop(signal.SIGTERM, timeout=30)


# --------------------------------------------------------------------------- nginx


@dataclass
class Upstream:
    name: str
    servers: list[tuple[str, int]]
    extra: str = ""  # appended to every server line, e.g. "max_fails=1 fail_timeout=5s"


@dataclass
class Nginx:
    """nginx as the seed's balancer; ``routes`` maps location prefixes to upstream names
    (default: everything to the first upstream)."""

    workdir: Path
    upstreams: list[Upstream]
    listen: tuple[str, int] = ("127.0.0.1", 0)
    routes: Mapping[str, str] = field(default_factory=dict)
    netns: str | None = None
    proc: Proc | None = None

    def __post_init__(self) -> None:
        host, port = self.listen
        if not host.startswith("127.") and self.netns is None:
            raise ValueError("nginx listens on loopback (or in a test namespace)")
        if port == 0:
            self.listen = (host, free_port(host))

    @property
    def base_url(self) -> str:
        return f"http://{self.listen[0]}:{self.listen[1]}"

    def config(self) -> str:
        d = self.workdir
        ups = []
        for u in self.upstreams:
            lines = "".join(
                f"        server {h}:{p}{' ' + u.extra if u.extra else ''};\n" for h, p in u.servers
            )
            ups.append(f"    upstream {u.name} {{\n{lines}    }}\n")
        routes = dict(self.routes) or {"/": self.upstreams[0].name}
        proxy = "".join(f"            {s}\n" for s in NGINX_PROXY_SETTINGS)
        locations = "".join(
            f"        location {prefix} {{\n"
            f"            proxy_pass http://{name};\n"
            f"{proxy}"
            "        }\n"
            for prefix, name in routes.items()
        )
        user = "user root root;\n" if is_root() else ""
        return (
            "# Generated by tests/topology/harness.py: the seed's balancer (docker/nginx.conf).\n"
            f"{user}"
            "daemon off;\n"
            "worker_processes 1;\n"
            f"pid {d}/nginx.pid;\n"
            f"error_log {d}/error.log info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            "    log_format upstream '$remote_addr [$time_local] \"$request\" $status '\n"
            "                        'upstream=$upstream_addr ustatus=$upstream_status '\n"
            "                        'rt=$request_time urt=$upstream_response_time';\n"
            f"    access_log {d}/access.log upstream;\n"
            f"    client_body_temp_path {d}/tmp/client_body;\n"
            f"    proxy_temp_path {d}/tmp/proxy;\n"
            f"    fastcgi_temp_path {d}/tmp/fastcgi;\n"
            f"    uwsgi_temp_path {d}/tmp/uwsgi;\n"
            f"    scgi_temp_path {d}/tmp/scgi;\n"
            "    server_tokens off;\n" + "".join(ups) + "    server {\n"
            f"        listen {self.listen[0]}:{self.listen[1]};\n"
            "        server_name _;\n"
            f"{locations}"
            "    }\n"
            "}\n"
        )

    def start(self, timeout: float = 15.0) -> None:
        nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
        if nginx is None:
            raise HarnessError("nginx is not installed")
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config())
        base = [nginx, "-e", str(self.workdir / "error.log"), "-p", str(self.workdir), "-c",
                str(conf)]  # fmt: skip
        run([*netns_prefix(self.netns), *base, "-t"])
        self.proc = Proc("nginx", base, self.workdir / "nginx.out", netns=self.netns)
        self.proc.start()
        wait_until(
            lambda: self.proc is not None and (self.proc.check_alive() and port_open(*self.listen)),
            timeout,
            f"nginx on {self.base_url}",
            detail=self.log_tail,
        )

    def access_log(self) -> list[str]:
        try:
            return (self.workdir / "access.log").read_text().splitlines()
        except OSError:
            return []

    def log_tail(self) -> str:
        parts = []
        for n in ("nginx.out", "error.log", "access.log"):
            with contextlib.suppress(OSError):
                lines = (self.workdir / n).read_text().splitlines()[-30:]
                parts.append(f"--- nginx {n} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(signal.SIGQUIT, timeout=10)


# --------------------------------------------------------------------------- HTTP with cookies


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str
    elapsed: float

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class WebClient:
    """One user's browser-like client: a cookie jar (host-only, path-aware enough for one
    site), manual redirects, a fresh connection per request (as the balancer sees it)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, tuple[str, str]] = {}  # name -> (value, path)
        self.history: list[Response] = []

    def cookie(self, name: str = "JSESSIONID") -> str | None:
        c = self.cookies.get(name)
        return c[0] if c else None

    def _cookie_header(self, path: str) -> str | None:
        pairs = [
            f"{k}={v}"
            for k, (v, p) in self.cookies.items()
            if path == p or path.startswith(p.rstrip("/") + "/") or p == "/"
        ]
        return "; ".join(pairs) or None

    def _store(self, set_cookie: str) -> None:
        first, *attrs = [a.strip() for a in set_cookie.split(";")]
        name, _, value = first.partition("=")
        path = "/"
        expired = False
        for a in attrs:
            k, _, v = a.partition("=")
            k = k.strip().lower()
            if k == "path" and v:
                path = v
            elif k == "max-age":
                with contextlib.suppress(ValueError):
                    expired = int(v) <= 0
            elif k == "expires" and "1970" in v:
                expired = True
        if expired or value.strip('"') == "":
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = (value.strip('"'), path)

    def request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = False,
        timeout: float | None = None,
    ) -> Response:
        url = path if path.startswith("http") else self.base_url + path
        hdrs = {"Connection": "close", "User-Agent": "pytribes-topology-tests"}
        data: bytes | None = None
        if form is not None:
            data = urlencode(form, doseq=True).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if c := self._cookie_header(parts.path):
            hdrs["Cookie"] = c
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(
            parts.hostname or self.host, parts.port or 80, timeout=timeout or self.timeout
        )
        try:
            conn.request(method, target, body=data, headers=hdrs)
            r = conn.getresponse()
            body = r.read()
            resp = Response(r.status, list(r.getheaders()), body, url, time.monotonic() - t0)
        finally:
            conn.close()
        for k, v in resp.headers:
            if k.lower() == "set-cookie":
                self._store(v)
        self.history.append(resp)
        if follow and resp.status in (301, 302, 303, 307, 308):
            loc = resp.header("location") or "/"
            nxt = urljoin(url, loc)
            m = method if resp.status in (307, 308) else "GET"
            return self.request(m, nxt, follow=True, timeout=timeout)
        return resp

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)


# --------------------------------------------------------------------------- HTML forms


class _FormParser(HTMLParser):
    """Forms of a page: action, method and the default values of their fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "fields": {},
                "id": a.get("id", ""),
            }
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and "name" in a:
            if a.get("type", "text").lower() in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("type", "").lower() in ("submit", "button", "image"):
                return
            self._form["fields"][a["name"]] = a.get("value", "")
        elif tag == "textarea" and "name" in a:
            self._textarea = a["name"]
            self._form["fields"][a["name"]] = ""
        elif tag == "select" and "name" in a:
            self._select = a["name"]
        elif (
            tag == "option"
            and self._select
            and ("selected" in a or self._select not in self._form["fields"])
        ):
            self._form["fields"][self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] += data


def html_forms(html: str) -> list[dict[str, Any]]:
    p = _FormParser()
    p.feed(html)
    return p.forms


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("tr", "li", "p", "div", "br", "h1", "h2", "h3", "table", "section"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        if tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Visible text of a page, one block (row, item, paragraph) per line."""
    p = _TextParser()
    p.feed(html)
    lines = (re.sub(r"\s+", " ", line).strip() for line in "".join(p.parts).split("\n"))
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- pytribes app nodes


@dataclass
class AppNode:
    """``python -m tribes.cli node ...`` -- one pytribes app node."""

    name: str
    workdir: Path
    bind: tuple[str, int]
    http: tuple[str, int]
    members: Sequence[tuple[str, int, int]]  # (host, port, short uniqueId); may include itself
    unique_id: int
    db: str
    netns: str | None = None
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    proc: Proc = field(init=False)

    def __post_init__(self) -> None:
        for h in (self.bind[0], self.http[0]):
            if not h.startswith("127.") and self.netns is None:
                raise ValueError(f"{self.name}: {h} is neither loopback nor in a test namespace")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("CI_DEBUG", None)
        self.proc = Proc(
            self.name, self.argv(), self.workdir / f"{self.name}.log", netns=self.netns,
            env=env, cwd=ROOT,
        )  # fmt: skip

    def argv(self) -> list[str]:
        out = [
            sys.executable,
            "-m",
            "tribes.cli",
            "node",
            "--bind",
            f"{self.bind[0]}:{self.bind[1]}",
            "--unique-id",
            str(self.unique_id),
            "--http",
            f"{self.http[0]}:{self.http[1]}",
            "--db",
            self.db,
            "--advertise",  # a pytribes-only cluster: the monitor labels peers as pytribes
        ]
        for h, p, uid in self.members:
            out += ["--member", f"{h}:{p}:{uid}"]
        return out + list(self.extra_args)

    @property
    def base_url(self) -> str:
        return f"http://{self.http[0]}:{self.http[1]}"

    @property
    def address(self) -> str:
        return self.bind[0]

    def client(self) -> WebClient:
        return WebClient(self.base_url, timeout=10)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc.start()

    def healthy(self) -> bool:
        self.proc.check_alive()
        try:
            return self.client().get("/jw/health", timeout=2).status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_until(self.healthy, timeout, f"{self.name} /jw/health", detail=self.proc.log_tail)

    def cluster(self) -> dict[str, Any]:
        r = self.client().get("/jw/api/cluster", timeout=5)
        if r.status != 200:
            raise HarnessError(f"{self.name} /jw/api/cluster -> {r.status}: {r.text[:300]}")
        data: dict[str, Any] = r.json()
        return data

    def live_peers(self) -> set[str]:
        """Addresses of the members this node sees alive (itself excluded)."""
        data = self.cluster()
        local = data.get("local", {})
        out = set()
        for m in data.get("members", []):
            if m.get("local") or (
                m.get("host") == local.get("host") and m.get("port") == local.get("port")
            ):
                continue
            if m.get("state", "alive") in ("alive", "suspect") and m.get("alive", True):
                out.add(str(m.get("host")))
        return out

    def wait_peers(self, peers: Iterable[str], timeout: float = 30.0) -> None:
        want = set(peers)
        wait_until(
            lambda: self.live_peers() == want,
            timeout,
            f"{self.name} sees exactly {sorted(want)} alive",
            interval=0.25,
            detail=lambda: self._peers_detail(),
        )

    def _peers_detail(self) -> str:
        try:
            return json.dumps(self.cluster(), indent=1)[:3000] + "\n" + self.proc.log_tail()
        except Exception as e:
            return f"{e!r}\n" + self.proc.log_tail()

    def stop(self) -> None:
        self.proc.stop(signal.SIGTERM, timeout=15)

    def kill(self) -> None:
        self.proc.kill()


# --------------------------------------------------------------------------- headless Chromium


CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--window-size=1280,900",
)


def chromium_binary() -> str | None:
    for n in ("chromium", "chromium-browser"):
        if p := shutil.which(n):
            return p
    return None


class CdpError(HarnessError):
    pass


class Chromium:
    """Headless Chromium with the DevTools protocol over fds 3/4 (``--remote-debugging-pipe``).

    ``with Chromium(tmp) as b: page = b.new_page(); page.goto(url); page.text()``.
    """

    def __init__(
        self,
        workdir: Path,
        binary: str | None = None,
        *,
        allow_hosts: Sequence[str] = ("127.0.0.1",),
    ) -> None:
        self.workdir = workdir
        #: the only hosts the browser may reach; every other name resolves to nothing
        self.allow_hosts = tuple(allow_hosts)
        self.binary = binary or chromium_binary()
        if self.binary is None:
            raise HarnessError("chromium is not installed")
        self.profile = workdir / "profile"
        self._next_id = 0
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.events: list[dict[str, Any]] = []
        self.proc: Proc | None = None
        self._to_chrome: int | None = None
        self._from_chrome: int | None = None
        self._reader: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        self.profile.mkdir(parents=True, exist_ok=True)
        cmd_r, cmd_w = os.pipe()  # we write commands, chromium reads on fd 3
        ev_r, ev_w = os.pipe()  # chromium writes on fd 4, we read
        # the child's ends go above 9, so that the shell's 3<& / 4>& never clobber them
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, ev_w)]
        os.close(cmd_r)
        os.close(ev_w)
        cmd_r, ev_w = high
        script = f'exec "$0" "$@" 3<&{cmd_r} 4>&{ev_w} {cmd_r}<&- {ev_w}>&-'
        argv = [
            shutil.which("bash") or "/bin/bash",  # dash takes single-digit fds only
            "-c",
            script,
            self.binary or "chromium",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self.profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND"
            + "".join(f", EXCLUDE {h}" for h in self.allow_hosts),
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = Proc(
            "chromium", argv, self.workdir / "chromium.log", pass_fds=(cmd_r, ev_w),
            env={**os.environ, "HOME": str(self.workdir)},
        )  # fmt: skip
        try:
            self.proc.start()
        finally:
            os.close(cmd_r)
            os.close(ev_w)
        self._to_chrome, self._from_chrome = cmd_w, ev_r
        self._reader = threading.Thread(target=self._read_loop, daemon=True, name="cdp-reader")
        self._reader.start()
        self.version = self.call("Browser.getVersion", timeout=30)

    def _read_loop(self) -> None:
        buf = b""
        assert self._from_chrome is not None
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                with self._cond:
                    if "id" in msg:
                        self._pending[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cond.notify_all()

    def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            mid = self._next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": dict(params or {})}
        if session:
            msg["sessionId"] = session
        assert self._to_chrome is not None
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._pending:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CdpError(
                        f"{method}: no answer ({'chromium closed' if self._closed else 'timeout'})"
                        + ("\n" + self.proc.log_tail() if self.proc else "")
                    )
                self._cond.wait(left)
            reply = self._pending.pop(mid)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def event_count(self) -> int:
        with self._cond:
            return len(self.events)

    def wait_event(
        self,
        method: str,
        *,
        session: str | None = None,
        after: int = 0,
        timeout: float = 30.0,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[after:]:
                    if (
                        ev.get("method") == method
                        and (session is None or ev.get("sessionId") == session)
                        and (match is None or match(ev))
                    ):
                        return ev
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CdpError(f"no {method} event within {timeout} s")
                self._cond.wait(left)

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, target, session)
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    def log_tails(self) -> str:
        return self.proc.log_tail(40) if self.proc else ""

    def close(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            if self.proc.running:
                self.call("Browser.close", timeout=5)
        with contextlib.suppress(Exception):
            assert self.proc.proc is not None
            self.proc.proc.wait(5)
        self.proc.stop(signal.SIGTERM, timeout=5)
        for fd in (self._to_chrome, self._from_chrome):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_chrome = self._from_chrome = None

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Page:
    browser: Chromium
    target_id: str
    session: str

    def call(self, method: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.browser.call(method, params, session=self.session, **kw)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        r = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in r:
            raise CdpError(f"JS error in {expression[:80]!r}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    @contextlib.contextmanager
    def navigation(self, timeout: float = 30.0) -> Iterator[None]:
        """Waits, after the block, for the load event of the navigation the block started."""
        mark = self.browser.event_count()
        yield
        self.browser.wait_event(
            "Page.loadEventFired", session=self.session, after=mark, timeout=timeout
        )

    def goto(self, url: str, timeout: float = 30.0) -> None:
        with self.navigation(timeout):
            r = self.call("Page.navigate", {"url": url})
            if r.get("errorText"):
                raise CdpError(f"navigate {url}: {r['errorText']}")

    def reload(self, timeout: float = 30.0) -> None:
        with self.navigation(timeout):
            self.call("Page.reload", {"ignoreCache": True})

    @property
    def url(self) -> str:
        return str(self.evaluate("location.href"))

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def html(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML"))

    def fill(self, selector: str, value: str) -> None:
        """Sets a field's value as typing would (input/change events fire)."""
        ok = self.evaluate(
            "(() => { const e = document.querySelector(" + json.dumps(selector) + ");"
            " if (!e) return false; e.focus(); e.value = " + json.dumps(value) + ";"
            " e.dispatchEvent(new Event('input', {bubbles: true}));"
            " e.dispatchEvent(new Event('change', {bubbles: true})); return true; })()"
        )
        if not ok:
            raise CdpError(f"no element {selector!r} on {self.url}")

    def click(self, selector: str) -> None:
        ok = self.evaluate(
            "(() => { const e = document.querySelector(" + json.dumps(selector) + ");"
            " if (!e) return false; e.click(); return true; })()"
        )
        if not ok:
            raise CdpError(f"no element {selector!r} on {self.url}")

    def submit(self, form_selector: str = "form") -> None:
        """Submits a form the way its submit button would (requestSubmit: validation, the
        button's name/value, submit handlers)."""
        ok = self.evaluate(
            "(() => { const f = document.querySelector(" + json.dumps(form_selector) + ");"
            " if (!f) return false;"
            " const b = f.querySelector('button[type=submit], input[type=submit],"
            " button:not([type])');"
            " if (f.requestSubmit) { b ? f.requestSubmit(b) : f.requestSubmit(); }"
            " else { f.submit(); } return true; })()"
        )
        if not ok:
            raise CdpError(f"no form {form_selector!r} on {self.url}")

    def cookies(self) -> list[dict[str, Any]]:
        return list(self.call("Network.getCookies").get("cookies", []))

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def save_artifact(src: Path, name: str) -> Path | None:
    """Copies a file to ``artifacts/`` (git-ignored) at the repository root; its path."""
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        dst = ARTIFACTS / name
        shutil.copyfile(src, dst)
        return dst
    except OSError:
        return None
