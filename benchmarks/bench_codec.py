"""Hot path of the codec: encode + decode of a whole EVT_SESSION_DELTA message (frame, ChannelData,
SessionMessageImpl, DeltaRequest) with one ~100-byte String attribute, and with ten attributes.
Goal (issue 2): <= 20 µs for the one-attribute round trip.  Run: python -m benchmarks.bench_codec
"""

from __future__ import annotations

import json
import sys

from tribes.messages import DeltaRequest, Event, SessionMessage, decode_payload, encode_payload
from tribes.wire import ChannelData, FrameDecoder, Member, decode_channel_data

from .timing import per_call_us

SID = "ABCDEF0123456789ABCDEF0123456789"
MEMBER = Member.at("127.0.0.11", 4000, bytes(15) + b"\x0b", alive=123456)


def make_delta(n_attrs: int) -> DeltaRequest:
    req = DeltaRequest(SID)
    for i in range(n_attrs):
        req.set_attribute(f"attribute{i}", "v" * 100)
    return req


def encode(req: DeltaRequest) -> bytes:
    msg = SessionMessage(
        Event.EVT_SESSION_DELTA,
        "localhost#/jw",
        SID,
        f"{SID}-1700000000000",
        1_700_000_000_000,
        True,
        req.encode(),
    )
    return ChannelData(6, 1_700_000_000_000, bytes(16), MEMBER, encode_payload(msg)).frame()


def decode(frame: bytes) -> DeltaRequest:
    [pkg] = FrameDecoder().feed(frame)
    cd = decode_channel_data(pkg)
    msg = decode_payload(cd.message, cd.options)
    assert isinstance(msg, SessionMessage) and msg.payload is not None
    return DeltaRequest.decode(msg.payload)


def main() -> None:
    rows = []
    for n in (1, 10):
        req = make_delta(n)
        frame = encode(req)
        assert decode(frame).actions[0].value == "v" * 100
        enc = per_call_us(lambda req=req: encode(req))
        dec = per_call_us(lambda frame=frame: decode(frame))
        both = per_call_us(lambda req=req: decode(encode(req)))
        rows.append(
            {
                "attributes": n,
                "frame_bytes": len(frame),
                "encode_us": enc[0],
                "decode_us": dec[0],
                "round_trip_us": both[0],
                "round_trip_spread_us": both[1],
            }
        )
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print(
        "| attributes | frame bytes | encode µs | decode µs | round trip µs (median ± half spread) |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['attributes']} | {r['frame_bytes']} | {r['encode_us']:.1f} | {r['decode_us']:.1f}"
            f" | {r['round_trip_us']:.1f} ± {r['round_trip_spread_us'] / 2:.1f} |"
        )


if __name__ == "__main__":
    main()
