"""Property: whatever requests a non-sticky load balancer sends to whichever node, once every
message was delivered all nodes hold the same sessions with the same replicated state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_session_support import Cluster
from tribes.messages.session import Principal
from tribes.session import Session

NAMES = ["a", "b", "c"]
VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=3),
)
OPS = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(NAMES), VALUES),
    st.tuples(st.just("remove"), st.sampled_from(NAMES)),
    st.tuples(st.just("interval"), st.integers(1, 5000)),
    st.tuples(st.just("principal"), st.sampled_from([None, "alice", "bob"])),
    st.tuples(st.just("rotate")),
)
REQUEST = st.tuples(
    st.integers(0, 2),  # serving node
    st.integers(0, 2),  # which session (index into the live ones; a new one if none)
    st.lists(OPS, max_size=4),
    st.sampled_from(["complete", "complete", "complete", "invalidate"]),
)


def snapshot(session: Session) -> tuple[object, ...]:
    p = session.principal
    return (
        dict(session.attributes),
        session.max_inactive_interval,
        None if p is None else p.name,
        session.auth_type,
    )


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([9, 10]), st.lists(REQUEST, min_size=1, max_size=12))
def test_nodes_converge(
    version: int, requests: list[tuple[int, int, list[tuple[object, ...]], str]]
) -> None:
    c = Cluster()
    nodes = [c.node(n, version) for n in "xyz"]
    for serving, which, ops, end in requests:
        node = nodes[serving].jw
        now = c.tick(1000)
        ids = sorted(node.sessions)
        session = node.find_session(ids[which % len(ids)], now) if ids else None
        if session is None:
            session = node.create_session(now)
        for op in ops:
            kind, *args = op
            if kind == "set":
                session.set(str(args[0]), args[1])
            elif kind == "remove":
                session.remove(str(args[0]))
            elif kind == "interval":
                session.set_max_inactive_interval(int(args[0]))  # type: ignore[call-overload]
            elif kind == "principal":
                user = args[0]
                session.set_principal(None if user is None else Principal(str(user), ("r",)))
                session.set_auth_type(None if user is None else "FORM")
            else:
                node.change_session_id(session, now=now)
        if end == "invalidate":
            session.invalidate(now)
        node.request_completed(session, now)
        c.pump()
        views = [{sid: snapshot(s) for sid, s in n.jw.sessions.items()} for n in nodes]
        assert views[0] == views[1] == views[2]
        primaries = [sid for n in nodes for sid, s in n.jw.sessions.items() if s.is_primary]
        assert len(primaries) == len(set(primaries)) == len(views[0])
