"""Helpers for the tribes.net tests (no tests here).  Loopback addresses only."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from tribes.net.channel import Channel
from tribes.net.receiver import Receiver
from tribes.wire import ChannelData, Member, frame_channel_data, new_unique_id

HOST_A = "127.0.0.11"
HOST_B = "127.0.0.12"
HOST_C = "127.0.0.13"


def make_member(host: str, port: int = 0, n: int = 1) -> Member:
    return Member.at(host, port, unique_id=bytes([0] * 15 + [n]))


def free_port(host: str) -> int:
    """A port on `host` with nothing listening (bound once, then released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def package(
    options: int,
    payload: bytes,
    sender: Member | None = None,
) -> bytes:
    m = sender if sender is not None else make_member(HOST_C, 4000, 9)
    return frame_channel_data(options, 1_700_000_000_000, new_unique_id(), m.to_bytes(), payload)


@asynccontextmanager
async def running(*channels: Channel) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        for ch in channels:
            await nursery.start(ch.run)
        try:
            yield
        finally:
            for ch in channels:
                await ch.aclose()
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(receiver.serve)
        try:
            yield port
        finally:
            nursery.cancel_scope.cancel()


async def connect(host: str, port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream(host, port)


class Recorder:
    """A handler that records ChannelData, optionally gated by events."""

    def __init__(self) -> None:
        self.items: list[ChannelData] = []
        self.changed = trio.Event()

    async def __call__(self, cd: ChannelData) -> None:
        self.items.append(cd)
        self.changed.set()
        self.changed = trio.Event()

    @property
    def payloads(self) -> list[bytes]:
        return [cd.message for cd in self.items]

    async def wait_for(self, n: int, timeout: float = 5.0) -> None:
        with trio.fail_after(timeout):
            while len(self.items) < n:
                await self.changed.wait()


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "tribes_event", None) == name]


async def read_package(stream: trio.SocketStream, timeout: float = 5.0) -> bytes:
    """Read exactly one whole package (never more) from `stream`; returns its framed bytes."""
    with trio.fail_after(timeout):
        head = await read_exact(stream, 11)
        return head + await read_exact(stream, int.from_bytes(head[7:11], "big") + 7)


async def read_exact(stream: trio.SocketStream, n: int, timeout: float = 5.0) -> bytes:
    buf = b""
    with trio.fail_after(timeout):
        while len(buf) < n:
            chunk = await stream.receive_some(n - len(buf))
            if not chunk:
                raise EOFError(f"EOF after {buf!r}")
            buf += chunk
    return buf


async def wait_until(predicate: object, timeout: float = 5.0, step: float = 0.005) -> None:
    assert callable(predicate)
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(step)
