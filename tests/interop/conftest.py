"""Fixtures that run real Apache Tomcat nodes (see tests/interop/tomcat.py).

Missing Java / Tomcat / tcpdump make the tests that need them skip -- or fail under CI=true.

* ``tomcat_homes(version)`` / ``tomcat_webapps(version)``: CATALINA_HOME and the built test webapp.
* ``tomcat_node(version, address, start=False, **kw)``: a :class:`TomcatNode`, closed after the
  test (``module_tomcat_node``: after the module).
* ``tomcat_cluster(version, addresses, start=True, **kw)``: nodes listing each other as static
  members, started one after the other (``module_tomcat_cluster``: module scope).
* ``tomcat_pair_capture`` / ``tomcat10_pair_capture``: a pcap of two real Tomcat 9.0.70 /
  10.1.60 nodes (127.0.0.11 and 127.0.0.12, Tribes port 4000) replicating sessions, with the
  scenario's data (:class:`tests.interop.capture.PairCapture`). Session scoped: the scenario runs
  once per test run, and its nodes are stopped before the fixture returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.interop.capture import PairCapture, run_pair_scenario, tcpdump_missing
from tests.interop.tomcat import (
    DISTS,
    StaticMemberSpec,
    TomcatNode,
    WebappBuild,
    build_webapp,
    make_cluster,
    tomcat_home,
)
from tests.support import require, require_tool


def require_tomcat(version: int) -> None:
    """Skips (fails in CI) unless Java and the given Tomcat version are installed."""
    for tool in ("java", "javac", "jar"):
        require_tool(tool)
    dist = DISTS[version]
    missing = dist.missing()
    require(not missing, f"Tomcat {dist.full_version} ({', '.join(missing)})")


def require_tcpdump() -> None:
    why = tcpdump_missing()
    require(why is None, why or "tcpdump")


@pytest.fixture(scope="session")
def tomcat_homes() -> Callable[[int], Path]:
    def get(version: int) -> Path:
        require_tomcat(version)
        return tomcat_home(version)

    return get


@pytest.fixture(scope="session")
def tomcat_webapps() -> Callable[[int], WebappBuild]:
    def get(version: int) -> WebappBuild:
        require_tomcat(version)
        return build_webapp(version)

    return get


class _NodeFactory:
    """Creates nodes under one base directory and closes all of them at teardown."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.nodes: list[TomcatNode] = []

    def node(
        self,
        version: int,
        address: str,
        *,
        start: bool = False,
        ready_timeout: float = 90.0,
        **kwargs: Any,
    ) -> TomcatNode:
        require_tomcat(version)
        kwargs.setdefault("work_dir", self.base / f"{address}-{kwargs.get('tribes_port', 4000)}")
        node = TomcatNode(version, address, **kwargs)
        self.nodes.append(node)
        if start:
            node.start()
            node.wait_ready(ready_timeout)
        return node

    def cluster(
        self,
        version: int,
        addresses: Sequence[str],
        *,
        start: bool = True,
        extra_members: Sequence[StaticMemberSpec] = (),
        wait_members: bool = True,
        ready_timeout: float = 90.0,
        **kwargs: Any,
    ) -> list[TomcatNode]:
        """Started one at a time (a node starting while its peer is itself still starting
        could wait 60 s for state that never comes), then waits until each sees all others."""
        require_tomcat(version)
        nodes = make_cluster(version, addresses, self.base, extra_members=extra_members, **kwargs)
        self.nodes.extend(nodes)
        if start:
            for n in nodes:
                n.start()
                n.wait_ready(ready_timeout)
            if wait_members:
                for n in nodes:
                    n.wait_members([m for m in nodes if m is not n], 30)
        return nodes

    def close(self) -> None:
        errors = []
        for n in reversed(self.nodes):
            try:
                n.close()
            except Exception as e:  # pragma: no cover - best effort teardown
                errors.append(e)
        self.nodes.clear()
        if errors:
            raise errors[0]


@pytest.fixture
def tomcat_node(tmp_path: Path) -> Iterator[Callable[..., TomcatNode]]:
    f = _NodeFactory(tmp_path)
    yield f.node
    f.close()


@pytest.fixture
def tomcat_cluster(tmp_path: Path) -> Iterator[Callable[..., list[TomcatNode]]]:
    f = _NodeFactory(tmp_path)
    yield f.cluster
    f.close()


@pytest.fixture(scope="module")
def module_tomcat_node(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., TomcatNode]]:
    f = _NodeFactory(tmp_path_factory.mktemp("tomcat-nodes"))
    yield f.node
    f.close()


@pytest.fixture(scope="module")
def module_tomcat_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., list[TomcatNode]]]:
    f = _NodeFactory(tmp_path_factory.mktemp("tomcat-cluster"))
    yield f.cluster
    f.close()


def start_tomcat_beside(
    factory: Callable[..., TomcatNode], version: int, tomcat_host: str, pytribes_host: str
) -> TomcatNode:
    """A started Tomcat whose static members are itself and one pytribes node (Tribes port
    4000 on both); it waits at most 20 s for a state transfer at start."""
    return factory(
        version,
        tomcat_host,
        members=[StaticMemberSpec(tomcat_host), StaticMemberSpec(pytribes_host)],
        manager_attributes={"stateTransferTimeout": 20},
        start=True,
    )


def _pair_capture(version: int, tmp_path_factory: pytest.TempPathFactory) -> PairCapture:
    require_tomcat(version)
    require_tcpdump()
    return run_pair_scenario(version, tmp_path_factory.mktemp(f"tomcat{version}-capture"))


@pytest.fixture(scope="session")
def tomcat_pair_capture(tmp_path_factory: pytest.TempPathFactory) -> PairCapture:
    """Two Tomcat 9.0.70 nodes (127.0.0.11:4000 / 127.0.0.12:4000) recorded replicating."""
    return _pair_capture(9, tmp_path_factory)


@pytest.fixture(scope="session")
def tomcat10_pair_capture(tmp_path_factory: pytest.TempPathFactory) -> PairCapture:
    """The same scenario with two Tomcat 10.1.60 nodes."""
    return _pair_capture(10, tmp_path_factory)
