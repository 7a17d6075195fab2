"""In-memory cluster of session registries for the session tests (no sockets).

Every message a node sends goes through `encode_payload` -> `decode_payload` on its way, and the
decoded message must equal the one sent, so every test also checks that everything the manager
produces survives the wire codec.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tribes.messages.codec import decode_payload, encode_payload
from tribes.messages.session import DeltaRequest, Event, SessionMessage
from tribes.session import ALL, ManagerConfig, Send, SessionManager, SessionRegistry

T0 = 1_700_000_000_000
CTX = "localhost#/jw"


@dataclass(eq=False)
class Member:
    """A member as a node would hand it over (compared by identity)."""

    name: str

    def __repr__(self) -> str:
        return f"Member({self.name})"


@dataclass
class Wire:
    """One message as it went over the wire."""

    src: str
    dst: str
    message: SessionMessage
    options: int
    delay_ms: int

    @property
    def event(self) -> int:
        return self.message.event


class Node:
    def __init__(
        self, cluster: Cluster, name: str, tomcat_version: int, config: ManagerConfig
    ) -> None:
        self.cluster = cluster
        self.name = name
        self.member = Member(name)
        self.up = True
        self.registry = SessionRegistry(
            tomcat_version=tomcat_version,
            members=self.members,
            clock=lambda: cluster.now,
            config=config,
        )

    def members(self) -> list[Member]:
        """The other live nodes this one can reach, oldest first."""
        return [
            n.member
            for n in self.cluster.nodes
            if n is not self and n.up and not self.cluster.is_cut(self, n)
        ]

    def context(self, path: str = "/jw", **settings: object) -> SessionManager:
        name = "localhost#" + path if path != "/" else "localhost#"
        existing = self.registry.get(name)
        if existing is not None:
            return existing
        return self.registry.add_context(path, **settings)  # type: ignore[arg-type]

    @property
    def jw(self) -> SessionManager:
        return self.context("/jw")


@dataclass
class Cluster:
    now: int = T0
    nodes: list[Node] = field(default_factory=list)
    log: list[Wire] = field(default_factory=list)
    #: Pairs of node names that cannot reach each other (a partition): not members of each
    #: other, and what one sends the other is lost.
    cuts: set[frozenset[str]] = field(default_factory=set)

    def cut(self, a: Node, b: Node) -> None:
        self.cuts.add(frozenset((a.name, b.name)))

    def heal(self, a: Node, b: Node) -> None:
        self.cuts.discard(frozenset((a.name, b.name)))

    def is_cut(self, a: Node, b: Node) -> bool:
        return frozenset((a.name, b.name)) in self.cuts

    def node(
        self,
        name: str,
        tomcat_version: int = 10,
        *,
        contexts: Iterable[str] = ("/jw",),
        **config: object,
    ) -> Node:
        """A node (newest member) with a manager for each context path."""
        node = Node(self, name, tomcat_version, ManagerConfig(**config))  # type: ignore[arg-type]
        for path in contexts:
            node.context(path)
        self.nodes.append(node)
        return node

    def by_member(self, member: object) -> Node:
        for n in self.nodes:
            if n.member is member:
                return n
        raise AssertionError(f"no node for {member!r}")

    def tick(self, ms: int) -> int:
        self.now += ms
        return self.now

    def outgoing(self, node: Node) -> list[Send]:
        return node.registry.take_outgoing()

    def transmit(self, node: Node, send: Send, to: Iterable[Node] | None = None) -> list[Wire]:
        """Put one Send on the wire (through the codec) and deliver it."""
        data = encode_payload(send.message)
        decoded = decode_payload(data, send.options)
        assert decoded == send.message, (decoded, send.message)
        assert isinstance(decoded, SessionMessage)
        if to is None:
            if send.dest == ALL:
                to = [self.by_member(m) for m in node.members()]
            else:
                to = [self.by_member(send.dest)]
        sent = []
        for dst in to:
            wire = Wire(node.name, dst.name, decoded, send.options, send.delay_ms)
            self.log.append(wire)
            sent.append(wire)
            if dst.up and not self.is_cut(node, dst):
                dst.registry.receive(decoded, node.member, self.now)
        return sent

    def pump(self, limit: int = 100_000) -> list[Wire]:
        """Deliver everything until no node has anything left to send."""
        sent: list[Wire] = []
        for _ in range(limit):
            progress = False
            for node in list(self.nodes):
                for send in self.outgoing(node):
                    progress = True
                    sent.extend(self.transmit(node, send))
            if not progress:
                return sent
        raise AssertionError("the cluster never went quiet")


def delta_of(message: SessionMessage) -> list[tuple[int, int, str, object]]:
    """The (type, action, name, value) actions of a SESSION_DELTA message."""
    assert message.event == Event.EVT_SESSION_DELTA
    assert message.payload is not None
    req = DeltaRequest.decode(message.payload)
    assert req.session_id == message.session_id
    return [(a.type, a.action, a.name, a.value) for a in req.actions]


def events(wires: Iterable[Wire]) -> list[str]:
    return [Event(w.event).name for w in wires]
