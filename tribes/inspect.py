"""Readable descriptions of Tribes traffic, for `pytribes decode` and for operators.

Every function returns plain JSON-able data; decoding problems are reported in the description
(`error` keys) instead of aborting, so one odd frame never hides the rest of a capture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import ProtocolError
from .jserial import java_type_name, to_json
from .messages import (
    ByteMessage,
    DeltaRequest,
    Event,
    FailDetectProbe,
    JavaMember,
    MemberMessage,
    NoRpcChannelReply,
    OtherJava,
    RpcMessage,
    SessionMessage,
    TcpPing,
    decode_new_id,
    decode_payload,
    decode_sessions,
)
from .messages.session import ACTION_NAMES, TYPE_NAMES, Principal, SessionState
from .wire import (
    ACK_DATA,
    FAIL_ACK_DATA,
    FrameDecoder,
    Member,
    decode_channel_data,
    option_names,
)
from .wire.framing import DEFAULT_MAX_PACKAGE, START

JSON = dict[str, Any]


def describe_member(m: Member) -> JSON:
    return {
        "host": m.host_text,
        "port": m.port,
        "unique_id": m.unique_id.hex(),
        "alive_ms": m.alive,
        "domain": m.domain.decode("latin-1"),
        "command": m.command.decode("latin-1"),
        "payload": m.payload.hex(),
        "secure_port": m.secure_port,
        "udp_port": m.udp_port,
    }


def describe_value(value: object) -> JSON:
    return {"java_type": java_type_name(value), "value": to_json(value)}


def describe_java_member(jm: JavaMember | None) -> JSON | None:
    if jm is None:
        return None
    d = describe_member(jm.member)
    d["class"] = "StaticMember" if jm.static else "MemberImpl"
    d["tomcat_version"] = jm.tomcat_version
    return d


def describe_delta(req: DeltaRequest) -> JSON:
    return {
        "session_id": req.session_id,
        "record_all_actions": req.record_all_actions,
        "actions": [
            {
                "type": TYPE_NAMES.get(a.type, str(a.type)),
                "action": ACTION_NAMES.get(a.action, str(a.action)),
                "name": a.name,
                **({"value": describe_value(a.value)} if a.value is not None else {}),
            }
            for a in req.actions
        ],
    }


def describe_session(s: SessionState) -> JSON:
    principal = Principal.from_java(s.principal)
    return {
        "id": s.id,
        "creation_time": s.creation_time,
        "last_accessed_time": s.last_accessed_time,
        "this_accessed_time": s.this_accessed_time,
        "max_inactive_interval": s.max_inactive_interval,
        "is_new": s.is_new,
        "is_valid": s.is_valid,
        "version": s.version,
        "principal": (
            {"name": principal.name, "roles": list(principal.roles)}
            if principal is not None
            else (None if s.principal is None else describe_value(s.principal))
        ),
        "notes": None if s.notes is None else [to_json(n) for n in s.notes],
        "attributes": {k: describe_value(v) for k, v in s.attributes.items()},
        "skipped_attributes": s.skipped,
        "listeners": [describe_value(v) for v in s.listeners],
    }


def describe_session_message(m: SessionMessage) -> JSON:
    d: JSON = {
        "type": "session_message",
        "event": m.event_name,
        "event_code": m.event,
        "context": m.context_name,
        "session_id": m.session_id,
        "unique_id": m.unique_id,
        "timestamp": m.timestamp,
        "payload_bytes": None if m.payload is None else len(m.payload),
    }
    if m.payload is None:
        return d
    try:
        if m.event == Event.EVT_SESSION_DELTA:
            d["delta"] = describe_delta(DeltaRequest.decode(m.payload))
        elif m.event == Event.EVT_ALL_SESSION_DATA:
            d["sessions"] = [describe_session(s) for s in decode_sessions(m.payload)]
        elif m.event == Event.EVT_CHANGE_SESSION_ID:
            d["new_session_id"] = decode_new_id(m.payload)
        else:
            d["payload"] = m.payload.hex()
    except ProtocolError as e:
        d["payload_error"] = str(e)
        d["payload"] = m.payload.hex()
    return d


def describe_message(msg: object) -> JSON:
    match msg:
        case TcpPing():
            return {"type": "tcp_ping"}
        case FailDetectProbe():
            return {"type": "fail_detect"}
        case ByteMessage(data=data):
            return {"type": "bytes", "length": len(data), "data": data[:4096].hex()}
        case SessionMessage():
            return describe_session_message(msg)
        case MemberMessage():
            return {
                "type": "member_message",
                "msgtype": msg.type_name,
                "membership_id": msg.membership_id.decode("latin-1"),
                "member": describe_java_member(msg.member),
            }
        case NoRpcChannelReply():
            return {
                "type": "rpc",
                "no_rpc_channel_reply": True,
                "reply": True,
                "uuid": msg.uuid.hex(),
                "rpc_id": msg.rpc_id.decode("latin-1"),
            }
        case RpcMessage():
            return {
                "type": "rpc",
                "reply": msg.reply,
                "uuid": msg.uuid.hex(),
                "rpc_id": msg.rpc_id.decode("latin-1"),
                "message": (
                    None
                    if msg.message is None
                    else describe_message(msg.message)
                    if isinstance(msg.message, MemberMessage | SessionMessage)
                    else {"type": "java", **describe_value(msg.message)}
                ),
            }
        case OtherJava(value=value):
            return {"type": "java", **describe_value(value)}
    return {"type": "java", **describe_value(msg)}


def describe_package(data: bytes) -> JSON:
    """One package's data: an ACK, a FAIL_ACK or a ChannelData with its decoded message."""
    if data == ACK_DATA:
        return {"kind": "ack"}
    if data == FAIL_ACK_DATA:
        return {"kind": "fail_ack"}
    cd = decode_channel_data(data)
    d: JSON = {
        "kind": "package",
        "options": cd.options,
        "option_names": option_names(cd.options),
        "timestamp": cd.timestamp,
        "unique_id": cd.unique_id.hex(),
        "member": describe_member(cd.member),
        "length": len(data),
    }
    try:
        d["message"] = describe_message(decode_payload(cd.message, cd.options, strict=False))
    except ProtocolError as e:
        d["message"] = {"type": "undecoded", "error": str(e), "length": len(cd.message)}
    return d


def describe_stream(data: bytes, max_package: int = DEFAULT_MAX_PACKAGE) -> Iterator[JSON]:
    """Every package of one direction of a TCP connection.  After a framing error (or bytes
    before the first marker, as in a capture started mid-connection) it reports an `error`
    entry and resynchronises on the next `FLT2002`."""
    pos = 0
    while pos < len(data):
        dec = FrameDecoder(max_package)
        try:
            packages = dec.feed(memoryview(data)[pos:])
            failure: ProtocolError | None = None
        except ProtocolError as e:
            failure = e
            packages = []
        # On failure the decoder returned nothing, so re-decode what it accepted before.
        if failure is not None and dec.offset:
            packages = FrameDecoder(max_package).feed(memoryview(data)[pos : pos + dec.offset])
        for pkg in packages:
            try:
                yield describe_package(pkg)
            except ProtocolError as e:
                yield {"kind": "error", "error": str(e), "length": len(pkg)}
        if failure is None:
            if dec.buffered:
                yield {"kind": "incomplete", "buffered": dec.buffered, "offset": pos + dec.offset}
            return
        bad = pos + (failure.offset if failure.offset is not None else dec.offset)
        resume = data.find(START, max(bad, pos + dec.offset) + 1)
        skipped = (resume if resume >= 0 else len(data)) - (pos + dec.offset)
        yield {
            "kind": "error",
            "error": str(failure).replace(f"at offset {failure.offset}", f"at offset {bad}"),
            "offset": bad,
            "skipped": skipped,
        }
        if resume < 0:
            return
        pos = resume


def describe_blob(data: bytes) -> JSON:
    """`--package`: a framed package, bare ChannelData, or a bare Java payload."""
    if data.startswith(b"FLT2002"):
        items = list(describe_stream(data))
        if len(items) != 1:
            raise ProtocolError(f"expected one package, found {len(items)} entries")
        return items[0]
    try:
        return describe_package(data)
    except ProtocolError:
        pass
    if data.startswith(b"\xac\xed\x00\x05"):
        return {
            "kind": "payload",
            "message": describe_message(decode_payload(data, 0, strict=False)),
        }
    raise ProtocolError("neither a package, a ChannelData nor a Java serialization stream")


def _text_value(v: Any) -> str:
    if isinstance(v, dict) and "java_type" in v:
        return f"{v['java_type']} {v['value']!r}"
    return repr(v)


def format_text(d: JSON) -> str:
    """One readable line (plus indented detail lines) per package."""
    kind = d.get("kind")
    prefix = d.get("flow", "")
    prefix = f"{prefix} " if prefix else ""
    if kind != "package":
        rest = ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("kind", "flow"))
        return f"{prefix}{str(kind).upper()} {rest}".rstrip()
    m = d["member"]
    msg = d["message"]
    head = (
        f"{prefix}package opts={d['options']}({'|'.join(d['option_names']) or '-'}) "
        f"from {m['host']}:{m['port']} ts={d['timestamp']} id={d['unique_id'][:8]} "
        f"{msg['type']}"
    )
    lines = [head]
    if msg["type"] == "session_message":
        lines[0] += f" {msg['event']} ctx={msg['context']!r} session={msg['session_id']!r}"
        for a in msg.get("delta", {}).get("actions", []):
            val = f" = {_text_value(a['value'])}" if "value" in a else ""
            lines.append(f"    {a['type']} {a['action']} {a['name']}{val}")
        for s in msg.get("sessions", []):
            lines.append(f"    session {s['id']} attributes={len(s['attributes'])}")
            for k, v in s["attributes"].items():
                lines.append(f"      {k} = {_text_value(v)}")
        if "new_session_id" in msg:
            lines.append(f"    new id {msg['new_session_id']}")
    elif msg["type"] == "rpc":
        inner = msg.get("message") or {}
        lines[0] += f" reply={msg['reply']} rpc_id={msg['rpc_id']!r}"
        if inner.get("type") == "member_message":
            mm = inner["member"] or {}
            lines[0] += f" {inner['msgtype']} member={mm.get('host')}:{mm.get('port')}"
    elif msg["type"] == "member_message":
        mm = msg["member"] or {}
        lines[0] += (
            f" {msg['msgtype']} member={mm.get('host')}:{mm.get('port')} {mm.get('command')}"
        )
    elif msg["type"] == "java":
        lines[0] += f" {msg['java_type']}"
    return "\n".join(lines)
