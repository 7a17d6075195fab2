"""docker/: the Compose file validates (where the Compose v2 plugin exists), both nginx
configurations pass ``nginx -t`` and carry the tests' balancer settings, the addresses and
uniqueIds agree across the files, the pytribes commands are accepted by ``pytribes node``'s own
parser, and the Tomcat server.xml loads with pytribes' server.xml reader.

No container engine runs here: nothing is built or started."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, require_tool
from tests.topology.conftest import require_nginx
from tests.topology.harness import NGINX_PROXY_SETTINGS

DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
NGINX_CONFS = (DOCKER / "nginx.conf", DOCKER / "nginx-interop.conf")


def _compose_cli() -> list[str]:
    """`docker compose` (the v2 plugin) when present, else Debian's `docker-compose` (1.29),
    which scripts/lib.sh installs; the file is written to validate with both."""
    docker = shutil.which("docker")
    if docker is not None:
        p = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
        if p.returncode == 0:
            return [docker, "compose"]
    return [require_tool("docker-compose")]


@pytest.mark.parametrize("profiles", [(), ("interop",)], ids=["default", "interop"])
def test_compose_config_validates(profiles: tuple[str, ...]) -> None:
    cli = _compose_cli()
    args = [*cli, "-f", str(COMPOSE)]
    for p in profiles:
        args += ["--profile", p]
    r = subprocess.run([*args, "config", "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    services = subprocess.run(
        [*args, "config", "--services"], capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    default = {"db", "node1", "node2", "lb"}
    everything = default | {"tomcat9", "pytribes-t9", "tomcat10", "pytribes-t10", "lb-interop"}
    # Compose v2 hides profiled services unless asked for; docker-compose 1.29 lists them all.
    assert (default if not profiles else everything) <= set(services) <= everything


# --------------------------------------------------------------------------- the compose file


def _services() -> dict[str, str]:
    """Service name -> its block of docker-compose.yml (two-space indented keys)."""
    text = COMPOSE.read_text()
    body = text.split("\nservices:\n", 1)[1].split("\nnetworks:\n", 1)[0]
    out: dict[str, str] = {}
    name = None
    for line in body.splitlines():
        m = re.match(r"^  ([a-z0-9-]+):\s*$", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def _address(block: str) -> str:
    m = re.search(r"ipv4_address:\s*(\S+)", block)
    assert m, block
    return m.group(1)


def _command(block: str) -> list[str]:
    """The ``command:`` list of a pytribes service (``- item`` lines, anchors resolved)."""
    text = COMPOSE.read_text()
    anchors = dict(re.findall(r'^x-[a-z-]+: &([a-z-]+) "([^"]*)"', text, re.M))
    m = re.search(r"    command:\n((?:      - .*\n)+)", block)
    assert m, block
    items = [line.strip()[2:] for line in m.group(1).splitlines()]
    return [anchors[i[1:]] if i.startswith("*") else i for i in items]


def _pytribes_services() -> dict[str, list[str]]:
    return {
        n: _command(b)
        for n, b in _services().items()
        if "*pytribes" in b  # the x-pytribes anchor: built from docker/pytribes.Dockerfile
    }


def test_pytribes_commands_are_accepted_by_pytribes_node() -> None:
    from tribes.cli import build_parser, node_config

    services = _services()
    addresses = {n: _address(b) for n, b in services.items()}
    pytribes = _pytribes_services()
    assert set(pytribes) == {"node1", "node2", "pytribes-t9", "pytribes-t10"}
    uids: dict[str, int] = {}
    for name, cmd in pytribes.items():
        args = build_parser().parse_args(cmd)
        cfg = node_config(args)
        assert cfg.receiver.address == addresses[name], name
        assert cfg.receiver.port == 4000
        uids[cfg.receiver.address] = cfg.unique_id[-1]
        assert cfg.unique_id == bytes(15) + bytes([int(addresses[name].rsplit(".", 1)[1])])
        for m in cfg.membership.members:
            assert m.host in addresses.values(), f"{name}: member {m.host} is no service"
            assert m.unique_id[-1] == int(m.host.rsplit(".", 1)[1])
        assert "--http=0.0.0.0:8080" in cmd
        db_url = cmd[cmd.index("--db") + 1]
        assert f"@{addresses['db']}:3306/" in db_url
    # the two app nodes list each other; each interop node lists its Tomcat
    peers = {
        n: {m.split("=")[1].split(":")[0] for m in c if m.startswith("--member=")}
        for n, c in pytribes.items()
    }
    assert peers["node1"] == peers["node2"] == {addresses["node1"], addresses["node2"]}
    assert addresses["tomcat9"] in peers["pytribes-t9"]
    assert addresses["tomcat10"] in peers["pytribes-t10"]


def _catalina_props(block: str) -> dict[str, str]:
    m = re.search(r"CATALINA_OPTS: >-\n((?:        .*\n)+)", block)
    assert m, block
    return dict(re.findall(r"-D([\w.]+)=(\S+)", m.group(1)))


@pytest.mark.parametrize("tomcat,peer", [("tomcat9", "pytribes-t9"), ("tomcat10", "pytribes-t10")])
def test_tomcat_server_xml_loads_and_matches_its_pytribes_peer(
    tomcat: str, peer: str, tmp_path: Path
) -> None:
    from tribes.config import load_server_xml

    services = _services()
    props = _catalina_props(services[tomcat])
    assert props["jw.address"] == _address(services[tomcat])
    assert props["jw.peer"] == _address(services[peer])
    xml = (DOCKER / "tomcat" / "server.xml").read_text()
    for k, v in props.items():
        xml = xml.replace("${" + k + "}", v)
    assert "${" not in xml
    path = tmp_path / "server.xml"
    path.write_text(xml)
    cfg = load_server_xml(path)
    assert cfg.receiver.address == props["jw.address"] and cfg.receiver.port == 4000
    assert cfg.unique_id[-1] == int(props["jw.uid"])
    assert cfg.manager.channel_send_options == 6
    (member,) = cfg.membership.members
    assert member.host == props["jw.peer"]
    assert member.unique_id[-1] == int(props["jw.peer.uid"])
    peer_cmd = _pytribes_services()[peer]
    assert f"--bind={props['jw.peer']}:4000" in peer_cmd
    assert f"--unique-id={props['jw.peer.uid']}" in peer_cmd


# --------------------------------------------------------------------------- nginx


def _locations(conf: str) -> list[str]:
    return re.findall(r"location [^{]+\{(.*?)\}", conf, re.S)


@pytest.mark.parametrize("path", NGINX_CONFS, ids=lambda p: p.name)
def test_nginx_conf_has_the_seed_balancer_settings(path: Path) -> None:
    conf = re.sub(r"#.*", "", path.read_text())
    locations = _locations(conf)
    assert locations
    for loc in locations:
        lines = {line.strip() for line in loc.splitlines() if line.strip()}
        missing = [s for s in NGINX_PROXY_SETTINGS if s not in lines]
        assert not missing, f"{path.name}: a location lacks {missing}"
    # non-sticky: no session affinity of any kind
    for word in ("ip_hash", "sticky", "hash ", "least_conn", "keepalive_requests"):
        assert word not in conf, f"{path.name}: {word!r}"


def test_nginx_upstreams_are_the_app_nodes() -> None:
    services = _services()
    servers = re.findall(r"server (\d+\.\d+\.\d+\.\d+):8080;", (DOCKER / "nginx.conf").read_text())
    assert servers == [_address(services["node1"]), _address(services["node2"])]
    interop = (DOCKER / "nginx-interop.conf").read_text()
    for svc in ("pytribes-t9", "tomcat9", "pytribes-t10", "tomcat10"):
        assert f"{_address(services[svc])}:8080" in interop, svc
    ports = re.findall(r'"(\d+):(\d+)"', services["lb-interop"])
    assert {p for _, p in ports} == set(re.findall(r"listen (\d+);", interop))


@pytest.mark.parametrize("path", NGINX_CONFS, ids=lambda p: p.name)
def test_nginx_t_accepts_the_docker_conf(path: Path, tmp_path: Path) -> None:
    require_nginx()
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    assert nginx
    conf = tmp_path / path.name
    shutil.copyfile(path, conf)
    cmd = [nginx, "-t", "-q", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c",
           str(conf), "-g", f"pid {tmp_path / 'nginx.pid'};"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{shlex.join(cmd)}\n{r.stdout}{r.stderr}"
