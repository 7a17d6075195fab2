"""Wire layer micro-benchmarks; also the measurement behind hand-writing ChannelData with
`struct` instead of `construct` (run: python -m benchmarks.bench_wire)."""

from __future__ import annotations

import construct as c

from tribes.wire import ChannelData, FrameDecoder, Member, decode_channel_data

from .timing import row

# The same ChannelData layout declared with construct, for comparison only.
CHANNEL_DATA = c.Struct(
    "options" / c.Int32sb,
    "timestamp" / c.Int64sb,
    "unique_id" / c.Prefixed(c.Int32sb, c.GreedyBytes),
    "member" / c.Prefixed(c.Int32sb, c.GreedyBytes),
    "message" / c.Prefixed(c.Int32sb, c.GreedyBytes),
)


def main() -> None:
    member = Member.at("127.0.0.11", 4000, bytes(range(16)), alive=1234)
    cd = ChannelData(6, 1_700_000_000_000, bytes(16), member, b"x" * 600)
    data = cd.encode()
    frame = cd.frame()
    print("| operation | µs/op (median) | spread |")
    print("|---|---|---|")
    print(row("ChannelData decode, struct (used)", lambda: decode_channel_data(data)))
    print(row("ChannelData decode, construct", lambda: CHANNEL_DATA.parse(data)))
    print(row("ChannelData encode + frame", cd.frame))
    print(row("FrameDecoder.feed, one 700 B frame", lambda: FrameDecoder().feed(frame)))
    many = frame * 50
    print(
        row(
            "FrameDecoder.feed, 50 frames in one chunk (whole chunk)",
            lambda: FrameDecoder().feed(many),
            number=100,
        )
    )


if __name__ == "__main__":
    main()
