"""`pytribes` command line: decode traffic, run a node."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import TribesError


def _decode_records(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    from .inspect import describe_blob, describe_stream

    if args.stream:
        yield from describe_stream(Path(args.stream).read_bytes(), args.max_package)
    elif args.package:
        yield describe_blob(Path(args.package).read_bytes())
    else:
        from .capture import read_flows

        for flow in read_flows(args.pcap):
            name = (
                f"#{flow.connection} {flow.src.host}:{flow.src.port}"
                f" -> {flow.dst.host}:{flow.dst.port}"
            )
            for rec in describe_stream(flow.data, args.max_package):
                yield {"flow": name, **rec}
            if flow.gaps:
                yield {"flow": name, "kind": "error", "error": f"{flow.gaps} missing segment(s)"}


def cmd_decode(args: argparse.Namespace, out: TextIO) -> int:
    from .inspect import format_text

    problems = 0
    for rec in _decode_records(args):
        if rec.get("kind") in ("error", "incomplete") or (
            rec.get("message", {}).get("type") == "undecoded"
        ):
            problems += 1
        if args.json:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            out.write(format_text(rec) + "\n")
    return 1 if problems and args.strict else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pytribes", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("decode", help="decode Tribes traffic (raw stream, package or capture)")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--stream", metavar="FILE", help="raw bytes of one TCP direction")
    src.add_argument("--package", metavar="FILE", help="one package, ChannelData or payload")
    src.add_argument("--pcap", metavar="FILE", help="a pcap/pcapng capture (all TCP flows)")
    d.add_argument("--json", action="store_true", help="one JSON object per package")
    d.add_argument("--strict", action="store_true", help="exit 1 if anything was undecodable")
    d.add_argument("--max-package", type=int, default=64 << 20, help="largest package accepted")
    d.set_defaults(func=cmd_decode)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args, sys.stdout)
    except (TribesError, OSError) as e:
        print(f"pytribes: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - `| head`
        return 0
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
