"""Logging for the `pytribes` processes: one line per record on a stream (stderr), as text or JSON.

The I/O layer logs through the ``"tribes"`` logger with `log_event` (``event=NAME k=v ...``,
the name and fields also attached to the record).  `configure_logging` puts one handler on that
logger (replacing the one a previous call installed) and stops propagation, so a process gets
exactly one line per event:

* text: ``2026-11-25T19:12:47.123Z INFO event=member_added local=tcp://... member=...``
* json: ``{"ts": "2026-11-25T19:12:47.123Z", "level": "INFO", "event": "member_added",
  "local": "tcp://...", ...}``

Records that were not made by `log_event` become ``event=log logger=NAME message="..."``; an
exception becomes an ``exc`` field (its traceback on the same line, newlines escaped).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, Final, TextIO

from .net.transport import format_event

__all__ = [
    "HANDLER_MARK",
    "LOG_LEVELS",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "parse_level",
]

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Attribute set on the handler `configure_logging` installs (so it can replace it).
HANDLER_MARK: Final = "_pytribes_handler"


def parse_level(text: str | int) -> int:
    """``"info"``/``"INFO"``/``20`` -> 20; anything else raises ValueError."""
    if isinstance(text, int):
        return text
    t = text.strip().upper()
    if t in LOG_LEVELS:
        return int(getattr(logging, t))
    if t.isdigit():
        return int(t)
    raise ValueError(f"unknown log level {text!r} (one of {', '.join(LOG_LEVELS)})")


def _timestamp(record: logging.LogRecord) -> str:
    t = time.gmtime(record.created)
    ms = int(record.msecs)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms:03d}Z"


def _event_and_fields(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    event = getattr(record, "tribes_event", None)
    fields = getattr(record, "tribes_fields", None)
    if isinstance(event, str) and isinstance(fields, Mapping):
        return event, {k: v for k, v in fields.items() if v is not None}
    return "log", {"logger": record.name, "message": record.getMessage()}


def _exception_text(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[1] is not None:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip()
    if record.exc_text:
        return record.exc_text
    return None


class TextFormatter(logging.Formatter):
    """``TIMESTAMP LEVEL event=NAME k=v ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        event, fields = _event_and_fields(record)
        exc = _exception_text(record)
        if exc is not None:
            fields = {**fields, "exc": exc}
        return f"{_timestamp(record)} {record.levelname} {format_event(event, fields)}"


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        event, fields = _event_and_fields(record)
        obj: dict[str, object] = {"ts": _timestamp(record), "level": record.levelname}
        obj["event"] = event
        for k, v in fields.items():
            if k not in obj:
                obj[k] = _jsonable(v)
        exc = _exception_text(record)
        if exc is not None:
            obj["exc"] = exc
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted, not the object it was at
    configuration time (which may have been replaced and closed since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(
    fmt: str = "text", level: str | int = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """One handler for the ``"tribes"`` logger (text or json lines on `stream`, default
    stderr), at `level`; returns it."""
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r} (text or json)")
    lvl = parse_level(level)
    logger = logging.getLogger("tribes")
    for h in list(logger.handlers):
        if getattr(h, HANDLER_MARK, False):
            logger.removeHandler(h)
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, HANDLER_MARK, True)
    logger.addHandler(handler)
    logger.setLevel(lvl)
    logger.propagate = False
    return handler
