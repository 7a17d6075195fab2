"""Small helpers shared by the trio transport shell: structured logging, sockets, members.

`log_event` is the one logging entry point of the I/O layer: one line per event on the stdlib
logger ``"tribes"``, ``event=NAME key=value ...``, with values quoted when they contain spaces.
The event name and fields are also attached to the record (``tribes_event``/``tribes_fields``)
so tests and log shippers need not parse the text.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Mapping

import trio

logger = logging.getLogger("tribes")

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:/_-+[]{},@#")


def _fmt(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if text and all(ch in _SAFE for ch in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def format_event(event: str, fields: Mapping[str, object]) -> str:
    """``event=NAME k=v ...`` (fields whose value is None are left out)."""
    parts = [f"event={event}"]
    parts.extend(f"{k}={_fmt(v)}" for k, v in fields.items() if v is not None)
    return " ".join(parts)


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Emit ONE log line for `event` through the ``"tribes"`` logger."""
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "%s",
            format_event(event, fields),
            extra={"tribes_event": event, "tribes_fields": fields},
        )


def format_peer(addr: object) -> str:
    """``host:port`` (``[v6]:port``) for a socket address tuple; str() of anything else."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


def peer_of(stream: trio.SocketStream) -> str:
    try:
        return format_peer(stream.socket.getpeername())
    except OSError:
        return "?"


def describe(exc: BaseException) -> str:
    """A short one-line description of an exception for log fields."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def wall_clock_ms() -> int:
    """`System.currentTimeMillis()`."""
    return time.time_ns() // 1_000_000


# --- frames -------------------------------------------------------------------------------------

#: Offset of the int64 `alive` field inside MemberImpl bytes (after TRIBES-B\x01\x00 + int32).
ALIVE_OFFSET = 14


def patch_alive(member_bytes: bytes, alive: int) -> bytes:
    """The member bytes with `alive` replaced, like MemberImpl.getData(true) patches its cache."""
    return b"".join(
        (
            member_bytes[:ALIVE_OFFSET],
            alive.to_bytes(8, "big", signed=True),
            member_bytes[ALIVE_OFFSET + 8 :],
        )
    )


# --- sockets ------------------------------------------------------------------------------------


def tune_socket(sock: socket.socket) -> None:
    """Tomcat's tcpNoDelay=true; keep-alive stays off like Tomcat's soKeepAlive=false."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Connection:
    """One outgoing TCP connection: the trio stream plus its raw socket for health checks."""

    __slots__ = ("raw", "stream")

    def __init__(self, raw: socket.socket, stream: trio.SocketStream) -> None:
        self.raw = raw
        self.stream = stream

    def close(self) -> None:
        """Close now, without a checkpoint (safe inside cancelled scopes)."""
        self.stream.socket.close()

    def peer_closed(self) -> bool:
        """Non-blocking health check (NioSender reads after each write; we check before use).

        Stray bytes waiting on the socket are read and thrown away.  True when the peer has
        closed (EOF) or the socket is in error.
        """
        try:
            while True:
                if not self.raw.recv(65536):
                    return True
        except BlockingIOError:
            return False
        except OSError:
            return True


async def open_connection(host: str, port: int) -> Connection:
    """Connect to ``host:port`` (an IP address); bounded by the caller's cancel scope."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    try:
        raw.setblocking(False)
        tune_socket(raw)
        tsock = trio.socket.from_stdlib_socket(raw)
        await tsock.connect((host, port))
        return Connection(raw, trio.SocketStream(tsock))
    except BaseException:
        raw.close()
        raise
