"""What the app needs from the running cluster node, and how it describes the cluster.

The app is written against the surface of `tribes.net.cluster.open_cluster`'s object
(`ClusterLike` below); tests may pass anything with the same surface.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tribes.config import NodeConfig
from tribes.session import Session, SessionManager
from tribes.wire.member import Member, format_unique_id


class NodeLike(Protocol):
    """The parts of `tribes.net.node.Node` the app reads."""

    config: NodeConfig

    @property
    def local_member(self) -> Member: ...

    def version_of(self, member: Member) -> int: ...


class ClusterLike(Protocol):
    """The parts of the running cluster (`open_cluster`) the app uses."""

    @property
    def node(self) -> NodeLike: ...

    def members(self) -> Sequence[Member]: ...

    def manager(self, context_path: str) -> SessionManager: ...

    def find_session(self, context_path: str, session_id: str | None) -> Session | None: ...

    def create_session(self, context_path: str) -> Session: ...

    async def complete(self, session: Session) -> Any: ...

    async def invalidate(self, session: Session) -> Any: ...

    async def change_session_id(self, session: Session) -> Any: ...


TOMCAT_LINES = {9: "Tomcat 9.0", 10: "Tomcat 10.1+"}


def _listed(obj: object, name: str) -> list[Any]:
    """`obj.<name>` as a list, whether it is a property or a method (None/absent: [])."""
    value = getattr(obj, name, None)
    if callable(value):
        value = value()
    return list(value) if value is not None else []


def server_of(cluster: ClusterLike, m: Member) -> tuple[str | None, str | None]:
    """(kind, server label) of a member, from what we know of it: a pytribes node says so in
    its member payload ("pytribes 0.1.0"); anything else is a Tomcat, labelled by the Tribes
    line it writes (the MemberImpl serialVersionUID we learned, or the one configured for the
    peer): "Tomcat 9.0" or "Tomcat 10.1+". Nothing known yet: (None, None)."""
    version = m.pytribes_version
    if version is not None:
        return "pytribes", f"pytribes {version}".strip()
    node = cluster.node
    static = getattr(node, "static", None)
    known = getattr(static, "version_known", None)
    try:
        if callable(known) and not known(m):
            return None, None
        return "tomcat", TOMCAT_LINES.get(node.version_of(m))
    except Exception:  # pragma: no cover - purely informative
        return None, None


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """How this process presents itself: its readable name and its HTTP address."""

    name: str
    http_host: str | None = None
    http_port: int | None = None


def default_node_name(config: NodeConfig) -> str:
    """``<hostname>@<tribes address>:<port>``; hostnames alone are not unique on one machine."""
    return f"{socket.gethostname()}@{config.receiver.address}:{config.receiver.port}"


def _state_of(cluster: ClusterLike, member: Member) -> str:
    detector = getattr(cluster.node, "detector", None)
    try:
        if any(member.same(m) for m in _listed(detector, "remove_suspects")):
            return "suspect"
    except Exception:  # pragma: no cover - purely informative
        pass
    return "alive"


def _member_json(cluster: ClusterLike, m: Member, *, state: str) -> dict[str, Any]:
    version: int | None
    try:
        version = cluster.node.version_of(m)
    except Exception:
        version = None
    kind, server = server_of(cluster, m) if state != "down" else (None, None)
    return {
        "name": m.name,
        "host": m.host_text,
        "port": m.port,
        "unique_id": format_unique_id(m.unique_id),
        "state": state,
        "alive": state != "down",
        "alive_ms": m.alive if state != "down" else None,
        "local": False,
        "current": False,
        "kind": kind,
        "version": version,
        "server": server,
        "domain": m.domain.decode("latin-1") if m.domain else None,
        "sessions": None,
    }


def local_json(cluster: ClusterLike, identity: NodeIdentity) -> dict[str, Any]:
    """The node that serves this request."""
    node = cluster.node
    m = node.local_member
    return {
        "name": identity.name,
        "host": m.host_text,
        "port": m.port,
        "member": m.name,
        "unique_id": format_unique_id(m.unique_id),
        "http_host": identity.http_host,
        "http_port": identity.http_port,
        "kind": "pytribes",
        "version": node.config.tomcat_version,
        "uptime_ms": m.alive,
    }


def members_json(
    cluster: ClusterLike, identity: NodeIdentity, context_path: str
) -> list[dict[str, Any]]:
    """Every member: this node first (``current``), then the live members, oldest first,
    then the configured static peers that are not members now (``state: down``)."""
    node = cluster.node
    local = node.local_member
    try:
        held: int | None = len(cluster.manager(context_path))
    except Exception:
        held = None
    me = _member_json(cluster, local, state="alive")
    me.update(
        name=local.name,
        display_name=identity.name,
        local=True,
        current=True,
        kind="pytribes",
        version=node.config.tomcat_version,
        server="pytribes",
        alive_ms=local.alive,
        sessions=held,
    )
    out = [me]
    live = list(cluster.members())
    for m in live:
        entry = _member_json(cluster, m, state=_state_of(cluster, m))
        entry["display_name"] = m.name
        out.append(entry)
    try:  # the configured static members (`StaticMembership.peers`)
        configured: list[Member] = _listed(getattr(node, "static", None), "peers")
    except Exception:  # pragma: no cover - purely informative
        configured = []
    for p in configured:
        if not any(p.same(m) for m in live) and not p.same(local):
            entry = _member_json(cluster, p, state="down")
            entry["display_name"] = p.name
            out.append(entry)
    return out
