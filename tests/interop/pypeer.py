"""The pytribes side of the channel peers (see tests/interop/javapeer.py for the protocol):
``python -m tests.interop.pypeer --bind HOST:PORT --unique-id N --member HOST:PORT:N ...``.

A `tribes.net.node.Node` with the same stack and options as the Java ChannelPeer, reading
commands on stdin and answering one JSON line each on stdout; logs (WARNING and up) go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import trio

from tests.interop.javapeer import make_payload, parse_payload
from tribes.config import (
    FailureDetectorConfig,
    MembershipConfig,
    NodeConfig,
    ReceiverConfig,
    StaticMemberConfig,
)
from tribes.logsetup import configure_logging
from tribes.messages.codec import ByteMessage, Message
from tribes.net.node import Node, open_node
from tribes.wire import ChannelData, Member


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


@dataclass
class Stats:
    seen: set[int] = field(default_factory=set)
    received: int = 0
    duplicates: int = 0
    bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    by_options: dict[int, int] = field(default_factory=dict)
    changed: trio.Event = field(default_factory=trio.Event)

    def add(self, seq: int, options: int, size: int, now: int) -> None:
        self.received += 1
        self.bytes += size
        self.first_ns = self.first_ns or now
        self.last_ns = now
        self.by_options[options] = self.by_options.get(options, 0) + 1
        if seq in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(seq)
        self.changed.set()
        self.changed = trio.Event()

    def json(self, tag: int) -> dict[str, object]:
        return {
            "ok": True,
            "tag": tag,
            "received": self.received,
            "unique": len(self.seen),
            "duplicates": self.duplicates,
            "bad": 0,
            "bytes": self.bytes,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "by_options": {str(k): v for k, v in sorted(self.by_options.items())},
        }


class PyPeer:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.stats: dict[int, Stats] = {}
        self.bad = 0
        self.fail_tag: int | None = None

    def stats_for(self, tag: int) -> Stats:
        return self.stats.setdefault(tag, Stats())

    async def on_message(self, msg: Message, cd: ChannelData) -> None:
        now = time.monotonic_ns()
        if not isinstance(msg, ByteMessage):
            return
        head = parse_payload(msg.data)
        if head is None:
            self.bad += 1
            return
        tag, seq, options, _ = head
        if tag == self.fail_tag:
            raise RuntimeError(f"listener told to fail for tag {tag}")
        self.stats_for(tag).add(seq, options, len(msg.data), now)

    def members(self) -> dict[str, object]:
        return {"ok": True, "members": [m.name for m in self.node.members()]}

    async def send(
        self, tag: int, count: int, size: int, options: int, conc: int
    ) -> dict[str, object]:
        to: list[Member] = self.node.members()
        if not to:
            return {"ok": False, "error": "no members"}
        latencies = [0] * count
        errors = 0
        first_error: str | None = None
        counter = iter(range(count))

        async def worker() -> None:
            nonlocal errors, first_error
            for seq in counter:
                data = make_payload(tag, seq, options, size)
                t0 = time.monotonic_ns()
                result = await self.node.send_bytes(to, data, options)
                latencies[seq] = time.monotonic_ns() - t0
                if result.faulty:
                    errors += 1
                    if first_error is None:
                        first_error = repr(next(iter(result.faulty.values())))

        start = time.monotonic_ns()
        async with trio.open_nursery() as nursery:
            for _ in range(max(1, conc)):
                nursery.start_soon(worker)
        end = time.monotonic_ns()
        lat = sorted(latencies)
        out: dict[str, object] = {
            "ok": True,
            "cmd": "send",
            "tag": tag,
            "count": count,
            "size": size,
            "options": options,
            "concurrency": conc,
            "members": len(to),
            "errors": errors,
            "start_ns": start,
            "end_ns": end,
            "seconds": (end - start) / 1e9,
            "lat_us": {
                "mean": sum(lat) / count / 1e3,
                "p50": lat[count // 2] / 1e3,
                "p90": lat[int(count * 0.9)] / 1e3,
                "p99": lat[min(count - 1, int(count * 0.99))] / 1e3,
                "p999": lat[min(count - 1, int(count * 0.999))] / 1e3,
                "max": lat[-1] / 1e3,
            },
        }
        if first_error is not None:
            out["error"] = first_error
        return out

    async def command(self, line: str) -> dict[str, object]:
        name, *rest = line.split()
        kv: dict[str, int] = {}
        for part in rest:
            k, sep, v = part.partition("=")
            if not sep:
                return {"ok": False, "error": f"bad argument {part}"}
            kv[k] = int(v)
        if name == "members":
            return self.members()
        if name == "wait_members":
            with trio.move_on_after(kv.get("timeout", 10000) / 1000):
                while len(self.node.members()) < kv.get("n", 1):
                    await trio.sleep(0.01)
            return self.members()
        if name == "send":
            return await self.send(
                kv.get("tag", 0),
                kv.get("count", 1),
                kv.get("size", 64),
                kv.get("options", 0),
                kv.get("concurrency", 1),
            )
        if name == "stats":
            return self.stats_for(kv.get("tag", 0)).json(kv.get("tag", 0))
        if name == "wait":
            tag = kv.get("tag", 0)
            s = self.stats_for(tag)
            with trio.move_on_after(kv.get("timeout", 10000) / 1000):
                while len(s.seen) < kv.get("count", 1):
                    await s.changed.wait()
            return s.json(tag)
        if name == "fail":
            self.fail_tag = kv.get("tag", 0)
            return {"ok": True}
        if name == "bad":
            return {"ok": True, "bad": self.bad}
        return {"ok": False, "error": f"unknown command {name}"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pypeer")
    p.add_argument("--bind", required=True)
    p.add_argument("--unique-id", type=int, required=True)
    p.add_argument("--member", action="append", default=[])
    p.add_argument("--heartbeat", type=int, default=5000)
    p.add_argument("--expiration", type=int, default=5000)
    p.add_argument("--rpc-timeout", type=int, default=3000)
    p.add_argument("--read-test", choices=("true", "false"), default="true")
    p.add_argument("--read-test-timeout", type=int, default=5000)
    p.add_argument("--tomcat-version", type=int, choices=(9, 10), default=10)
    p.add_argument("--channel-name", default="Catalina-Channel")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def config(a: argparse.Namespace) -> NodeConfig:
    host, _, port = a.bind.rpartition(":")
    members = []
    for m in a.member:
        h, p, n = m.split(":")
        members.append(StaticMemberConfig(h, int(p), bytes(15) + bytes([int(n)])))
    return NodeConfig(
        unique_id=bytes(15) + bytes([a.unique_id]),
        tomcat_version=a.tomcat_version,
        receiver=ReceiverConfig(address=host, port=int(port)),
        membership=MembershipConfig(
            expiration_time=a.expiration / 1000,
            rpc_timeout=a.rpc_timeout / 1000,
            ping_interval=a.heartbeat / 1000,
            members=tuple(members),
            membership_name=f"{a.channel_name}-StaticMembership",
        ),
        failure_detector=FailureDetectorConfig(
            perform_read_test=a.read_test == "true",
            read_test_timeout=a.read_test_timeout / 1000,
        ),
    )


async def amain(a: argparse.Namespace) -> None:
    cfg = config(a)
    peer: PyPeer | None = None

    def setup(node: Node) -> None:
        nonlocal peer
        peer = PyPeer(node)
        node.add_message_listener(peer.on_message)
        node.on_member_added(lambda m: emit({"event": "member_added", "member": m.name}))
        node.on_member_disappeared(
            lambda m: emit({"event": "member_disappeared", "member": m.name})
        )

    async with open_node(cfg, setup=setup) as node:
        assert peer is not None
        emit({"event": "started", "local": node.name, "members": len(node.members())})
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buf = b""
        while True:
            chunk = await stdin.receive_some(65536)
            if not chunk:
                break
            buf += chunk
            quit_ = False
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode().strip()
                if not line:
                    continue
                if line == "quit":
                    quit_ = True
                    break
                try:
                    answer = await peer.command(line)
                except Exception as e:
                    answer = {"ok": False, "error": repr(e)}
                emit(answer)
            if quit_:
                break
        await stdin.aclose()
    emit({"ok": True, "cmd": "quit"})


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    configure_logging("text", a.log_level)
    trio.run(amain, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
