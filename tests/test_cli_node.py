"""`pytribes node`: real processes (`python -m tribes.cli node ...`) on 127.0.0.11/.12 join each
other, say so in their logs (text and JSON lines on stderr), and a SIGINT makes the stopping node
send MSG_STOP, which the other one logs at once; bad flags and files exit 2 with a clear message."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.support import ROOT
from tribes.cli import main

HOSTS = ("127.0.0.11", "127.0.0.12")

#: Short timings (the defaults are Tomcat's 5 s) so that nothing here waits long.
FAST_TOML = """\
[membership]
expiration_time = 1.5
connect_timeout = 0.3
rpc_timeout = 0.5
ping_interval = 0.5

[failure_detector]
connect_timeout = 0.3
read_test_timeout = 0.5
"""


def common_port() -> int:
    """A port free on both test addresses."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((HOSTS[0], 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as s:
                s.bind((HOSTS[1], port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


class NodeProcess:
    """One `python -m tribes.cli node` process; its stderr lines are collected as they come."""

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tribes.cli", "node", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pred: Callable[[str], bool], timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if pred(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"{self.name}: no matching log line within {timeout} s; log:\n"
                        + "\n".join(self.lines)
                    )
                self._cond.wait(min(left, 0.1))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)


@pytest.fixture
def spawn() -> Iterator[Callable[..., NodeProcess]]:
    procs: list[NodeProcess] = []

    def start(*args: str, name: str = "node") -> NodeProcess:
        p = NodeProcess(list(args), name)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.close()


def text_event(line: str) -> tuple[datetime, str, dict[str, str]]:
    """``TS LEVEL event=NAME k=v ...`` -> (ts, NAME, fields) (values unquoted, simple)."""
    ts, _level, rest = line.split(" ", 2)
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', rest)
    fields = {k: v.strip('"') for k, v in pairs}
    return datetime.fromisoformat(ts), fields.pop("event"), fields


def json_event(line: str) -> tuple[datetime, str, dict[str, object]]:
    obj = json.loads(line)
    return datetime.fromisoformat(obj.pop("ts")), obj.pop("event"), obj


def is_text_event(name: str, **want: str) -> Callable[[str], bool]:
    def pred(line: str) -> bool:
        try:
            _, ev, fields = text_event(line)
        except (ValueError, KeyError):
            return False
        return ev == name and all(fields.get(k) == v for k, v in want.items())

    return pred


def is_json_event(name: str, **want: object) -> Callable[[str], bool]:
    def pred(line: str) -> bool:
        try:
            _, ev, fields = json_event(line)
        except (ValueError, KeyError):
            return False
        return ev == name and all(fields.get(k) == v for k, v in want.items())

    return pred


def test_two_node_processes_join_and_see_a_graceful_stop_at_once(
    tmp_path: Path, spawn: Callable[..., NodeProcess]
) -> None:
    port = common_port()
    a_addr, b_addr = f"{HOSTS[0]}:{port}", f"{HOSTS[1]}:{port}"
    conf = tmp_path / "fast.toml"
    conf.write_text(FAST_TOML)
    # A: text logs, file + flags; B: JSON logs, its own entry in the member list
    a = spawn(
        "--config", str(conf), "--bind", a_addr, "--member", f"{b_addr}:12", "--unique-id", "11",
        name="A",
    )  # fmt: skip
    a.wait_line(is_text_event("node_started"))
    b = spawn(
        "--config", str(conf), "--bind", b_addr, "--member", f"{a_addr}:11",
        "--member", f"{b_addr}:12", "--log-format", "json", name="B",
    )  # fmt: skip

    # they join each other, each says so once in its own log format
    added_b = b.wait_line(is_json_event("member_added", member=f"tcp://{a_addr}"))
    assert json_event(added_b)[2]["unique_id"] == "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,11}"
    added_a = a.wait_line(is_text_event("member_added", member=f"tcp://{b_addr}"))
    assert text_event(added_a)[2]["unique_id"] == "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,12}"
    started = json_event(b.wait_line(is_json_event("node_started")))[2]
    assert started["local"] == f"tcp://{b_addr}" and started["peers"] == 1
    loaded = json_event(b.wait_line(is_json_event("config_loaded")))[2]
    assert loaded["members"] == f"tcp://{a_addr}"  # B's own entry was taken out
    assert loaded["unique_id"] == "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,12}"  # ... and gave B its id

    # they stay members over several heartbeats (0.5 s) and expiration times (1.5 s)
    time.sleep(2.0)
    assert not any(is_text_event("member_disappeared")(x) for x in a.lines)

    # SIGINT to B: graceful stop (MSG_STOP, BABY-ALEX); A drops B at once, not at an expiry
    b.signal(signal.SIGINT)
    assert b.wait() == 0
    b.wait_line(is_json_event("signal", signal="SIGINT", action="stop"))
    stopping = json_event(b.wait_line(is_json_event("node_stopping")))
    assert stopping[2]["notified"] == 1
    b.wait_line(is_json_event("node_stopped"))
    gone = text_event(a.wait_line(is_text_event("member_disappeared", reason="shutdown"), 5))
    assert gone[2]["member"] == f"tcp://{b_addr}" and gone[2]["command"] == "BABY-ALEX"
    delay = (gone[0] - stopping[0]).total_seconds()
    assert delay < 0.4, f"A took {delay:.3f} s to drop B (heartbeat 0.5 s, expiration 1.5 s)"

    # SIGTERM stops A the same way
    a.signal(signal.SIGTERM)
    assert a.wait() == 0
    assert any(is_text_event("signal", signal="SIGTERM", action="stop")(x) for x in a.lines)
    assert any(is_text_event("node_stopped")(x) for x in a.lines)
    # every line is one event line (no tracebacks, no stray output)
    assert all(text_event(x)[1] for x in a.lines)
    assert all(json_event(x)[1] for x in b.lines)


INTERCEPTORS = "org.apache.catalina.tribes.group.interceptors"


def server_xml(port: int, extra_membership_attr: str = "") -> str:
    members = "\n".join(
        f'<Member className="org.apache.catalina.tribes.membership.StaticMember" host="{h}" '
        f'port="{port}" uniqueId="{{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,{h.rsplit(".", 1)[1]}}}"/>'
        for h in HOSTS
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Engine name="Catalina" defaultHost="localhost">
      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="6">
        <Manager className="org.apache.catalina.ha.session.DeltaManager"/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.StaticMembershipService"
                      expirationTime="1500" rpcTimeout="500" {extra_membership_attr}>
{members}
          </Membership>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver"
                    address="127.0.0.11" port="{port}"/>
          <Interceptor className="{INTERCEPTORS}.TcpPingInterceptor"/>
          <Interceptor className="{INTERCEPTORS}.TcpFailureDetector" readTestTimeout="500"/>
          <Interceptor className="{INTERCEPTORS}.MessageDispatchInterceptor"/>
        </Channel>
      </Cluster>
      <Host name="localhost" appBase="webapps"/>
    </Engine>
  </Service>
</Server>
"""


@pytest.mark.parametrize("flag", ["--server-xml", "--config"])
def test_server_xml_picks_this_node_and_warnings_are_logged_once(
    tmp_path: Path, spawn: Callable[..., NodeProcess], flag: str
) -> None:
    port = common_port()
    # "--config" decides by content: the name says nothing
    path = tmp_path / ("server.xml" if flag == "--server-xml" else "cluster.conf")
    path.write_text(server_xml(port, 'bogusAttribute="1"'))
    # the file's receiver is .11; --bind picks .12's <Member> (its uniqueId), .11 stays a peer
    p = spawn(flag, str(path), "--bind", f"{HOSTS[1]}:{port}", "--tomcat-version", "9")
    loaded = text_event(p.wait_line(is_text_event("config_loaded")))[2]
    assert loaded["local"] == f"tcp://{HOSTS[1]}:{port}"
    assert loaded["unique_id"] == "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,12}"
    assert loaded["members"] == f"tcp://{HOSTS[0]}:{port}"
    assert loaded["tomcat_version"] == "9"
    p.wait_line(is_text_event("node_started"))
    p.signal(signal.SIGTERM)
    assert p.wait() == 0
    warnings = [x for x in p.lines if is_text_event("config_warning")(x)]
    assert len(warnings) == 1 and "bogusAttribute" in warnings[0], p.lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--member", "127.0.0.12:4000"], "no receiver address: give --bind"),
        (["--bind", "127.0.0.11"], "bad address '127.0.0.11': expected HOST:PORT"),
        (["--bind", "127.0.0.11:70000"], "port '70000' is not 0..65535"),
        (["--bind", "127.0.0.11:0"], "a node needs a fixed port"),
        (["--bind", "127.0.0.11:4000", "--member", "127.0.0.12"], "bad member '127.0.0.12'"),
        (["--bind", "127.0.0.11:4000", "--member", "127.0.0.12:4000:999"], "must be 0..255"),
        (["--bind", "127.0.0.11:4000", "--member", "db.example:4000"], "is not an IP address"),
        (["--bind", "127.0.0.11:4000", "--unique-id", "{1,2}"], "needs 16 signed bytes"),
        (["--bind", "127.0.0.11:4000", "--log-level", "LOUD"], "--log-level: unknown log level"),
        (["--bind", "127.0.0.11:4000", "--config", "/nonexistent/node.toml"], "cannot read"),
    ],
)
def test_bad_flags_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["node", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytribes node: error: ") and message in err, err
    assert err.count("\n") == 1  # one line, no traceback


def test_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_toml = tmp_path / "node.toml"
    bad_toml.write_text("[receiver]\nprot = 4000\n")
    assert main(["node", "--bind", "127.0.0.11:4000", "--config", str(bad_toml)]) == 2
    assert "unknown key 'receiver.prot'" in capsys.readouterr().err
    bad_xml = tmp_path / "server.xml"
    bad_xml.write_text(server_xml(4000).replace("uniqueId=\"{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,12}\"",
                                                "uniqueId=\"{1,2,3}\""))  # fmt: skip
    assert main(["node", "--server-xml", str(bad_xml)]) == 2
    err = capsys.readouterr().err
    assert "server.xml:" in err and "uniqueId" in err
    # one file only
    with pytest.raises(SystemExit) as e:
        main(["node", "--server-xml", str(bad_xml), "--config", str(bad_toml)])
    assert e.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_argparse_rejects_unknown_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["node", "--bind", "127.0.0.11:4000", "--tomcat-version", "8"])
    assert e.value.code == 2
    assert "--tomcat-version" in capsys.readouterr().err


def test_busy_port_is_a_clear_runtime_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server((HOSTS[0], 0)) as busy:
        port = busy.getsockname()[1]
        rc = main(["node", "--bind", f"{HOSTS[0]}:{port}", "--member", f"{HOSTS[1]}:{port}"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "pytribes node: error:" in err and "in use" in err.lower(), err
