"""Packet captures of real Tomcat nodes (tcpdump on ``lo``) and a tiny pcap reader.

:func:`record` runs tcpdump around a block. :func:`run_pair_scenario` starts two real Tomcat
nodes, records them replicating sessions through a scripted scenario (membership, create, typed
attributes, non-sticky alternation, remove, changeSessionId, invalidate, login, graceful stop,
restart with state transfer, graceful stop) and returns the pcap plus everything the scenario
used (session ids, attribute values, step timestamps), so decoding tests can check the bytes
against what really happened.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dpkt

from tests.interop.tomcat import (
    MANAGER_NAME,
    StaticMemberSpec,
    from_typed,
    make_cluster,
    typed,
)

FRAME_START = b"FLT2002"
FRAME_END = b"TLF2003"


def tcpdump_missing() -> str | None:
    """Why :func:`record` cannot run here (None if it can)."""
    if shutil.which("tcpdump") is None:
        return "the program 'tcpdump'"
    if os.geteuid() != 0:
        return "root (to run tcpdump)"
    return None


# --------------------------------------------------------------------------- recording


@dataclass
class Recording:
    path: Path
    bpf_filter: str
    iface: str
    packets_captured: int | None = None
    packets_dropped: int | None = None
    stderr: str = ""
    seconds: float = 0.0


@contextlib.contextmanager
def record(
    path: Path | str,
    ports: Iterable[int],
    iface: str = "lo",
    *,
    hosts: Iterable[str] | None = None,
    extra_filter: str | None = None,
    start_timeout: float = 10.0,
) -> Iterator[Recording]:
    """Captures TCP traffic on ``ports`` (optionally only to/from ``hosts``) into ``path``.

    Returns once tcpdump is really capturing (it printed "listening on"); on exit it stops
    tcpdump with SIGINT and waits for it, so the file is complete (``-U`` writes every packet
    at once, ``--immediate-mode`` avoids kernel batching). ``-Z root`` keeps tcpdump from
    dropping to the ``tcpdump`` user, which could not write into pytest's 0700 tmp dirs.
    """
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise RuntimeError("tcpdump is not installed")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ports = list(ports)
    if not ports:
        raise ValueError("record() needs at least one port")
    flt = "tcp and (" + " or ".join(f"port {p}" for p in ports) + ")"
    if hosts:
        flt += " and (" + " or ".join(f"host {h}" for h in hosts) + ")"
    if extra_filter:
        flt += f" and ({extra_filter})"
    rec = Recording(path, flt, iface)
    cmd = [
        tcpdump,
        "-i",
        iface,
        "-w",
        str(path),
        "-U",
        "--immediate-mode",
        "-n",
        "-s",
        "0",
        "-Z",
        "root",
        flt,
    ]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    lines: list[str] = []
    listening = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            if "listening on" in line:
                listening.set()

    reader = threading.Thread(target=pump, name="tcpdump-stderr", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not listening.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start ({cmd}):\n" + "\n".join(lines))
        yield rec
        # let the last packets (e.g. FINs of a just-stopped JVM) reach the socket
        time.sleep(0.3)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        reader.join(5)
        rec.stderr = "\n".join(lines)
        rec.seconds = time.monotonic() - t0
        m = re.search(r"(\d+) packets? captured", rec.stderr)
        rec.packets_captured = int(m.group(1)) if m else None
        m = re.search(r"(\d+) packets? dropped by kernel", rec.stderr)
        rec.packets_dropped = int(m.group(1)) if m else None


# --------------------------------------------------------------------------- reading pcaps


@dataclass(frozen=True)
class TcpSegment:
    ts: float
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    flags: int
    payload: bytes

    @property
    def conn(self) -> tuple[str, int, str, int]:
        return (self.src, self.sport, self.dst, self.dport)


def read_tcp_segments(path: Path | str) -> list[TcpSegment]:
    """Every IPv4 TCP segment of a pcap (Ethernet, Linux SLL or raw IP link types)."""
    out: list[TcpSegment] = []
    with open(path, "rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        link = reader.datalink()
        for ts, buf in reader:
            if link == dpkt.pcap.DLT_EN10MB:
                ip = dpkt.ethernet.Ethernet(buf).data
            elif link == dpkt.pcap.DLT_LINUX_SLL:
                ip = dpkt.sll.SLL(buf).data
            elif link in (dpkt.pcap.DLT_RAW, 101):
                ip = dpkt.ip.IP(buf)
            else:
                raise ValueError(f"unsupported pcap link type {link}")
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            tcp = ip.data
            out.append(
                TcpSegment(
                    ts,
                    socket.inet_ntoa(ip.src),
                    tcp.sport,
                    socket.inet_ntoa(ip.dst),
                    tcp.dport,
                    tcp.seq,
                    tcp.flags,
                    bytes(tcp.data),
                )
            )
    return out


def tcp_streams(segments: Iterable[TcpSegment]) -> dict[tuple[str, int, str, int], bytes]:
    """Payload bytes per direction of each connection, in sequence order (retransmitted or
    overlapping bytes are dropped). Good enough for loopback captures without loss."""
    by_conn: dict[tuple[str, int, str, int], list[TcpSegment]] = {}
    for s in segments:
        if s.payload:
            by_conn.setdefault(s.conn, []).append(s)
    out = {}
    for conn, segs in by_conn.items():
        base = segs[0].seq  # the first segment captured (in time order)
        segs.sort(key=functools.partial(_seq_offset, base=base))
        data = bytearray()
        for s in segs:
            off = (s.seq - base) % (1 << 32)
            if off + len(s.payload) <= len(data):
                continue
            data += s.payload[len(data) - off :] if off < len(data) else s.payload
        out[conn] = bytes(data)
    return out


def _seq_offset(s: TcpSegment, base: int) -> int:
    return (s.seq - base) % (1 << 32)


def split_frames(stream: bytes) -> list[bytes]:
    """Splits a Tribes byte stream into whole ``FLT2002 len body TLF2003`` frames."""
    frames = []
    i = 0
    while i + 11 <= len(stream):
        if stream[i : i + 7] != FRAME_START:
            raise ValueError(f"no FLT2002 at offset {i}")
        n = int.from_bytes(stream[i + 7 : i + 11], "big")
        end = i + 11 + n + 7
        if end > len(stream):
            break
        if stream[end - 7 : end] != FRAME_END:
            raise ValueError(f"no TLF2003 at offset {end - 7}")
        frames.append(stream[i:end])
        i = end
    return frames


# --------------------------------------------------------------------------- the scenario


@dataclass
class ScenarioStep:
    """One thing the scenario did; times are ``time.time()`` (same clock as the pcap)."""

    index: int
    node: str  # "A" or "B" (the node that served / underwent it)
    action: str  # start, create, set, read, remove, changeid, invalidate, login, stop, ...
    t_start: float
    t_end: float = 0.0
    session: str | None = None  # session label ("s1", "s2", ...)
    session_id: str | None = None  # the id the request was sent with (or created)
    new_session_id: str | None = None  # changeid / login: the id afterwards
    attribute: str | None = None
    java_class: str | None = None
    value: Any = None  # the Python value (as from_typed gives it)
    typed: dict[str, Any] | None = None  # the attribute as Tomcat reported it
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class PairCapture:
    """What :func:`run_pair_scenario` returns (the ``tomcat_pair_capture`` fixture value)."""

    version: int
    tomcat_version: str  # "9.0.70" / "10.1.60"
    server_info: str  # "Apache Tomcat/9.0.70 (Debian)"
    pcap: Path
    recording: Recording
    nodes: dict[str, StaticMemberSpec]  # "A" / "B" -> host, Tribes port, uniqueId
    http: dict[str, tuple[str, int]]
    steps: list[ScenarioStep]
    #: label -> session id: "s1" (created on A), "s1_changed" (after changeSessionId, then
    #: invalidated), "s2" (created on B, alive at the restart), "s3_initial" (created on A by
    #: the login request), "s3" (after the login's id change; principal alice).
    sessions: dict[str, str]
    #: label -> attribute name -> (Java class, Python value): the attributes each session
    #: held at the end (s1 / s1_changed: just before the invalidation).
    final_attributes: dict[str, dict[str, tuple[str, Any]]]
    removed: dict[str, list[str]]  # label -> attribute names removed
    principals: dict[str, str]  # label -> user name logged in ("s3" -> "alice")
    manager_name: str  # "localhost#/jw"
    membership_name: str  # "Catalina-Channel-StaticMembership"
    timings: dict[str, float]
    logs: dict[str, Path]

    def steps_for(self, action: str) -> list[ScenarioStep]:
        return [s for s in self.steps if s.action == action]


class ScenarioError(AssertionError):
    pass


def _pojo(name: str, **kw: Any) -> dict[str, Any]:
    base = {
        "id": 0,
        "label": None,
        "name": name,
        "count": 0,
        "ratio": 0.0,
        "active": False,
        "boxed": None,
        "tags": None,
        "child": None,
    }
    base.update(kw)
    return base


#: (name, Java class, Python value) set on s1 in this order, alternating A, B, A, ...
S1_ATTRIBUTES: tuple[tuple[str, str, Any], ...] = (
    ("str", "java.lang.String", "hello, Tribes \u2014 \u00fcn\u00efc\u00f6d\u00e9 \u2713"),
    ("int", "java.lang.Integer", 42),
    ("long", "java.lang.Long", 1234567890123),
    ("bool", "java.lang.Boolean", True),
    ("dbl", "java.lang.Double", 3.14159),
    ("bytes", "[B", b"\x00\x01\x7f\x80\xfepytribes"),
    ("list", "java.util.ArrayList", ["a", 1, 2.5, True, None]),
    ("map", "java.util.HashMap", {"k1": "v1", "k2": 2, "nested": ["x", "y"]}),
    (
        "pojo",
        "lab.Pojo",
        _pojo(
            "pojo-1",
            id=7,
            label="base-label",
            count=3,
            ratio=0.5,
            active=True,
            boxed=9,
            tags=["t1", "t2"],
            child=_pojo("child", count=1),
        ),
    ),
)


def _pojo_input(v: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (_pojo_input(x) if isinstance(x, dict) else x) for k, x in v.items() if x is not None
    }


def _typed_input(java_class: str, value: Any) -> dict[str, Any]:
    if java_class == "lab.Pojo":
        return typed(java_class, _pojo_input(value))
    return typed(java_class, value)


def run_pair_scenario(
    version: int,
    work_dir: Path,
    *,
    addresses: Sequence[str] = ("127.0.0.11", "127.0.0.12"),
    tribes_port: int = 4000,
    http_port: int = 8080,
    pcap_name: str | None = None,
    idle_seconds: float = 6.0,
) -> PairCapture:
    """Runs the two-node scenario under tcpdump; both nodes are stopped when it returns.

    ``idle_seconds`` of quiet after the cluster formed let one heartbeat cycle (MSG_PING RPC +
    reply, TcpFailureDetector probes, connect-only probes; every 5 s) into the capture.
    """
    work_dir = Path(work_dir)
    pcap = work_dir / (pcap_name or f"tomcat{version}-pair.pcap")
    nodes = make_cluster(version, addresses, work_dir, tribes_port=tribes_port, http_port=http_port)
    a, b = nodes
    by_label = {"A": a, "B": b}
    steps: list[ScenarioStep] = []
    sessions: dict[str, str] = {}
    final: dict[str, dict[str, tuple[str, Any]]] = {}
    removed: dict[str, list[str]] = {}
    timings: dict[str, float] = {}

    @contextlib.contextmanager
    def step(label: str, action: str, **kw: Any) -> Iterator[ScenarioStep]:
        s = ScenarioStep(len(steps), label, action, time.time(), **kw)
        yield s
        s.t_end = time.time()
        steps.append(s)

    def check(cond: bool, what: str) -> None:
        if not cond:
            raise ScenarioError(
                f"tomcat {version} scenario: {what}\n--- A log\n{a.log_tail(30)}"
                f"\n--- B log\n{b.log_tail(30)}"
            )

    def check_attrs(
        label: str, sess: dict[str, Any] | None, expect: dict[str, tuple[str, Any]], where: str
    ) -> None:
        check(sess is not None, f"{where}: session {label} missing")
        assert sess is not None
        got = {k: (v["class"], from_typed(v)) for k, v in sess["attributes"].items()}
        check(got == expect, f"{where}: attributes of {label}: {got} != {expect}")

    def read(label: str, sess_label: str) -> dict[str, Any]:
        sid = sessions[sess_label]
        with step(label, "read", session=sess_label, session_id=sid) as s:
            got = by_label[label].session(sid, create=False)
            check(
                got is not None and got["id"] == sid,
                f"read of {sess_label} on {label} gave {got and got['id']}",
            )
            assert got is not None
            s.detail["isNew"] = got["isNew"]
        check_attrs(sess_label, got, final[sess_label], f"read on {label}")
        return got

    def set_attr(label: str, sess_label: str, name: str, cls: str, value: Any) -> None:
        sid = sessions[sess_label]
        with step(
            label,
            "set",
            session=sess_label,
            session_id=sid,
            attribute=name,
            java_class=cls,
            value=value,
        ) as s:
            got = by_label[label].set_attribute(sid, name, _typed_input(cls, value))
            s.typed = got["attributes"].get(name)
        check(got["id"] == sid, f"set on {label} answered for session {got['id']} not {sid}")
        final[sess_label][name] = (cls, value)
        check_attrs(sess_label, got, final[sess_label], f"set {name} on {label}")

    def wait_pair() -> None:
        a.wait_members([b], 30)
        b.wait_members([a], 30)

    t_all = time.monotonic()
    try:
        with record(pcap, [tribes_port], hosts=addresses) as rec:
            t_scenario = time.monotonic()
            # -- membership
            with step("A", "start"):
                a.start()
                timings["A_ready"] = a.wait_ready()
            with step("B", "start"):
                b.start()
                timings["B_ready"] = b.wait_ready()
            with step("A", "membership"):
                wait_pair()
            timings["cluster_formed"] = time.monotonic() - t_scenario
            if idle_seconds > 0:
                with step("A", "idle", detail={"seconds": idle_seconds}):
                    time.sleep(idle_seconds)
            server_info = a.server_info()

            # -- s1: create on A, typed attributes alternating A/B
            with step("A", "create", session="s1") as s:
                created = a.session()
                assert created is not None
                sessions["s1"] = s.session_id = created["id"]
                final["s1"] = {}
                check(created["isNew"], "new session is not isNew")
            for i, (name, cls, value) in enumerate(S1_ATTRIBUTES):
                set_attr("A" if i % 2 == 0 else "B", "s1", name, cls, value)
            read("B", "s1")
            read("A", "s1")
            set_attr("B", "s1", "int", "java.lang.Integer", 43)
            read("A", "s1")
            with step("B", "remove", session="s1", session_id=sessions["s1"], attribute="bool"):
                got = b.jw("remove", session_id=sessions["s1"], name="bool")["session"]
            del final["s1"]["bool"]
            removed["s1"] = ["bool"]
            check_attrs("s1", got, final["s1"], "remove on B")
            read("A", "s1")

            # -- changeSessionId on A, then the new id on B
            with step("A", "changeid", session="s1", session_id=sessions["s1"]) as s:
                r = a.jw("changeid", session_id=sessions["s1"])
                s.new_session_id = r["newId"]
            check(r["oldId"] == sessions["s1"] and r["newId"] != r["oldId"], f"changeid: {r}")
            sessions["s1_changed"] = r["newId"]
            final["s1_changed"] = dict(final["s1"])
            read("B", "s1_changed")
            check(b.peek(sessions["s1"]) is None, "old id still known on B after changeSessionId")

            # -- invalidate on A; gone on B
            with step("A", "invalidate", session="s1_changed", session_id=sessions["s1_changed"]):
                r = a.jw("invalidate", session_id=sessions["s1_changed"])
            check(r["invalidated"] == sessions["s1_changed"], f"invalidate: {r}")
            check(b.peek(sessions["s1_changed"]) is None, "invalidated session still on B")

            # -- s2: created on B, lives through B's restart
            with step("B", "create", session="s2") as s:
                created = b.session()
                assert created is not None
                sessions["s2"] = s.session_id = created["id"]
                final["s2"] = {}
            set_attr("B", "s2", "user", "java.lang.String", "bob")
            set_attr("A", "s2", "visits", "java.lang.Integer", 1)
            set_attr("B", "s2", "visits", "java.lang.Integer", 2)
            set_attr("A", "s2", "pojo2", "lab.Pojo", _pojo("pojo-2", id=-5, tags=["only"]))
            read("B", "s2")

            # -- s3: login on A (session created, id rotated, GenericPrincipal replicated)
            with step("A", "login", session="s3", detail={"user": "alice"}) as s:
                r = a.jw("login", user="alice", password="alice-pw")
                s.session_id = r["previousSessionId"]
                s.new_session_id = r["session"]["id"]
                s.detail["principal"] = r["session"]["principal"]
            check(
                r["remoteUser"] == "alice" and r["session"]["principal"]["name"] == "alice",
                f"login: {r}",
            )
            check(r["previousSessionId"] != r["session"]["id"], f"login kept the session id: {r}")
            sessions["s3_initial"] = r["previousSessionId"]
            sessions["s3"] = r["session"]["id"]
            final["s3"] = {}
            set_attr("A", "s3", "role", "java.lang.String", "admin")
            with step("B", "read", session="s3", session_id=sessions["s3"]):
                got3 = b.session(sessions["s3"], create=False)
            check(
                got3 is not None and (got3.get("principal") or {}).get("name") == "alice",
                f"principal not replicated to B: {got3}",
            )

            # -- B: graceful stop, A drops it; B restarts and pulls the sessions
            with step("B", "stop") as s:
                s.detail["seconds"] = b.stop()
            with step("A", "member_gone"):
                a.wait_members([], 30)
            timings["B_stop"] = steps[-2].detail["seconds"]
            with step("B", "restart") as s:
                mark = b.log_mark()
                b.start()
                timings["B_restart_ready"] = b.wait_ready()
                s.detail["state_transfer_log"] = b.wait_log(
                    r"session state sent at .* received in \[\d+\] ms", 10, since=mark
                ).group(0)
            with step("B", "membership"):
                wait_pair()
            for lbl in ("s2", "s3"):
                got = b.peek(sessions[lbl])
                check_attrs(lbl, got, final[lbl], "after state transfer on B")
            read("B", "s2")
            read("A", "s2")

            # -- graceful stop of A (MSG_STOP to B), then B
            with step("A", "stop") as s:
                s.detail["seconds"] = a.stop()
            with step("B", "member_gone"):
                b.wait_members([], 30)
            with step("B", "stop") as s:
                s.detail["seconds"] = b.stop()
            timings["scenario"] = time.monotonic() - t_scenario
    finally:
        for n in nodes:
            n.close()
    timings["total_with_capture"] = time.monotonic() - t_all
    return PairCapture(
        version=version,
        tomcat_version=a.dist.full_version,
        server_info=server_info,
        pcap=pcap,
        recording=rec,
        nodes={"A": a.spec, "B": b.spec},
        http={"A": (a.address, a.http_port), "B": (b.address, b.http_port)},
        steps=steps,
        sessions=sessions,
        final_attributes={
            "s1": final["s1"],
            "s1_changed": final["s1_changed"],
            "s2": final["s2"],
            "s3": final["s3"],
        },
        removed=removed,
        principals={"s3": "alice"},
        manager_name=MANAGER_NAME,
        membership_name="Catalina-Channel-StaticMembership",
        timings=timings,
        logs={"A": a.log_path, "B": b.log_path},
    )
