"""Shared helpers of the trio shell: the one-line structured log, frames, alive patching."""

from __future__ import annotations

import logging

import pytest

from tribes.net.transport import (
    format_event,
    format_peer,
    log_event,
    patch_alive,
)
from tribes.wire import (
    Member,
    decode_member,
    encode_channel_data,
    encode_package,
    frame_channel_data,
)

LOCAL = Member.at("127.0.0.11", 4000, bytes(15) + b"\x01", alive=100)


def test_log_event_one_line_with_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tribes")
    log_event(
        "connection_error",
        level=logging.WARNING,
        peer="127.0.0.1:53412",
        error="bad package start marker (at offset 0)",
        skipped=None,
    )
    [record] = caplog.records
    assert record.name == "tribes" and record.levelno == logging.WARNING
    assert record.getMessage() == (
        'event=connection_error peer=127.0.0.1:53412 error="bad package start marker (at offset 0)"'
    )
    assert record.tribes_event == "connection_error"  # type: ignore[attr-defined]
    assert record.tribes_fields["peer"] == "127.0.0.1:53412"  # type: ignore[attr-defined]


def test_log_event_quoting_and_disabled_levels(caplog: pytest.LogCaptureFixture) -> None:
    assert format_event("x", {"a": 'say "hi"\nnow', "b": 3, "c": ""}) == (
        'event=x a="say \\"hi\\"\\nnow" b=3 c=""'
    )
    caplog.set_level(logging.WARNING, logger="tribes")
    log_event("quiet", level=logging.DEBUG, a=1)
    assert caplog.records == []


def test_format_peer() -> None:
    assert format_peer(("127.0.0.1", 4000)) == "127.0.0.1:4000"
    assert format_peer(("::1", 4000, 0, 0)) == "[::1]:4000"
    assert format_peer("x") == "x"


def test_frame_channel_data_matches_wire_encoder() -> None:
    mb = LOCAL.to_bytes()
    for message in (b"", b"x", bytes(range(256)) * 300):
        args = (6, 0x18C2B3C4D5E, bytes(range(16)), mb, message)
        assert frame_channel_data(*args) == encode_package(encode_channel_data(*args))
        assert frame_channel_data(*args[:4], memoryview(message)) == frame_channel_data(*args)


def test_patch_alive_equals_reencoding() -> None:
    mb = LOCAL.to_bytes()
    for alive in (0, 1, 123_456_789, 1 << 40):
        assert patch_alive(mb, alive) == LOCAL.with_alive(alive).to_bytes()
        assert decode_member(patch_alive(mb, alive)).alive == alive
