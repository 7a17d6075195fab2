"""`pytribes` command line: decode traffic, run a node."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import TribesError

if TYPE_CHECKING:
    from .config import NodeConfig


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

    n = sub.add_parser(
        "node",
        help="run a cluster member until SIGINT/SIGTERM",
        description=(
            "Run a pytribes node: StaticMembershipService + TcpPingInterceptor + "
            "TcpFailureDetector + MessageDispatchInterceptor, as a Tomcat cluster member.  "
            "Flags override the configuration file.  SIGINT/SIGTERM stop it gracefully "
            "(MSG_STOP to the members); a second signal stops it at once."
        ),
    )
    n.add_argument(
        "--bind",
        metavar="HOST:PORT",
        help="receiver address and port (this node's member address); with a server.xml it "
        "also picks this node's <Member>",
    )
    n.add_argument(
        "--member",
        metavar="HOST:PORT[:UNIQUEID]",
        action="append",
        help="a static member (repeatable; replaces the file's list; this node's own entry "
        "may be listed and is taken out)",
    )
    n.add_argument(
        "--unique-id",
        metavar="ID",
        help="this node's uniqueId: {b0,...,b15}, 32 hex digits, or N meaning {0,...,0,N}",
    )
    n.add_argument(
        "--tomcat-version",
        type=int,
        choices=(9, 10),
        help="the MemberImpl serialVersionUID written by default (9 for 9.0, 10 for 10.1/11.0)",
    )
    files = n.add_mutually_exclusive_group()
    files.add_argument(
        "--config", metavar="FILE", help="a pytribes TOML or a Tomcat server.xml (by content)"
    )
    files.add_argument("--server-xml", metavar="FILE", help="a Tomcat server.xml")
    n.add_argument(
        "--log-format", choices=("text", "json"), help="log line format (default: the file's, text)"
    )
    n.add_argument(
        "--advertise",
        action="store_true",
        default=None,
        help="announce pytribes/<version> in our member payload (pytribes-only clusters: "
        "Tomcat prints member payloads in its log)",
    )
    n.add_argument(
        "--log-level",
        default="INFO",
        metavar="LEVEL",
        help="DEBUG, INFO (default), WARNING or ERROR",
    )
    # --- the app node (issue 5; the logic lives in app/serve.py and app/demo.py) ---
    n.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="also serve the web app (context /jw) on this address, in the node's process",
    )
    n.add_argument(
        "--db",
        metavar="URL",
        help="the app's database (SQLAlchemy URL, e.g. mysql+pymysql://user:pw@host/db); "
        "default: the SQLite file pytribes-app.db in the working directory",
    )
    n.set_defaults(func=cmd_node)

    demo = sub.add_parser(
        "demo",
        help="run a local two-node app cluster behind nginx (Ctrl-C stops it)",
        description="A local pytribes app cluster on loopback: two `pytribes node --http` "
        "processes sharing one SQLite file, and nginx round robin in front when installed.",
    )
    from app.demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    # --- end of the app node's flags ---
    _add_bench_parser(sub)  # `pytribes bench` (benchmarks/runner.py)
    return p


# --- pytribes node ------------------------------------------------------------------------------


class UsageError(TribesError):
    """A bad flag or configuration: reported on stderr, exit status 2."""


def _load_config_file(path: str, bind: tuple[str, int] | None, *, xml: bool) -> NodeConfig:
    """`--server-xml` (xml=True) or `--config`, whose kind is told by its first bytes."""
    from .config import MAX_CONFIG_BYTES, ConfigError, load_server_xml, load_toml

    if not xml:
        try:
            with open(path, "rb") as fh:
                head = fh.read(min(4096, MAX_CONFIG_BYTES)).lstrip()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
        xml = head.startswith((b"<", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    return load_server_xml(path, bind=bind) if xml else load_toml(path, bind=bind)


def node_config(args: argparse.Namespace) -> NodeConfig:
    """The NodeConfig of `pytribes node`: the file (if any), then the flags.  Raises
    UsageError with a message naming the flag or the file."""
    from .config import (
        ConfigError,
        NodeConfig,
        apply_overrides,
        parse_address,
        parse_member_arg,
        parse_unique_id_arg,
    )
    from .logsetup import parse_level

    try:
        parse_level(args.log_level)
    except ValueError as e:
        raise UsageError(f"--log-level: {e}") from None
    try:
        bind = parse_address(args.bind) if args.bind is not None else None
        members = [parse_member_arg(m) for m in args.member] if args.member else None
        uid = parse_unique_id_arg(args.unique_id) if args.unique_id is not None else None
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if bind is not None and bind[1] == 0:
        raise UsageError(f"--bind {args.bind}: a node needs a fixed port (peers list it)")
    try:
        if args.server_xml is not None or args.config is not None:
            cfg = _load_config_file(
                args.server_xml or args.config, bind, xml=args.server_xml is not None
            )
            file_bind = None  # the loader applied it (and picked this node's <Member>)
        else:
            cfg, file_bind = NodeConfig(), bind
        cfg = apply_overrides(
            cfg,
            bind=file_bind,
            members=members,
            unique_id=uid,
            tomcat_version=args.tomcat_version,
            log_format=args.log_format,
            advertise=args.advertise,
            http=parse_address(args.http) if args.http is not None else None,  # app (issue 5)
            db=args.db,  # app (issue 5)
        )
        if cfg.receiver.address == "auto" and bind is None:
            raise UsageError(
                "no receiver address: give --bind HOST:PORT (or a configuration file with one)"
            )
        cfg.local_member()
        for m in cfg.membership.members:
            m.to_member()
    except ConfigError as e:
        raise UsageError(str(e)) from None
    return cfg


def cmd_node(args: argparse.Namespace, out: TextIO) -> int:
    import logging

    from .logsetup import configure_logging
    from .net.transport import log_event

    try:
        cfg = node_config(args)
    except UsageError as e:
        print(f"pytribes node: error: {e}", file=sys.stderr)
        return 2
    configure_logging(cfg.log_format, args.log_level)
    source = args.server_xml or args.config
    log_event(
        "config_loaded",
        source=source or "command line",
        local=cfg.local_name,
        unique_id=_uid_text(cfg.unique_id),
        tomcat_version=cfg.tomcat_version,
        members=",".join(m.name for m in cfg.membership.members) or "-",
        membership=cfg.membership.membership_name,
    )
    for w in cfg.warnings:
        log_event("config_warning", level=logging.WARNING, message=w)
    if not cfg.membership.members:
        log_event(
            "config_warning",
            level=logging.WARNING,
            message="no static members: only peers that list this node can join it",
        )
    import trio

    try:
        if cfg.http is not None:  # the app node (issue 5): cluster + HTTP in one nursery
            from app.serve import run_app_node

            return trio.run(run_app_node, cfg)
        return trio.run(run_node, cfg)
    except (OSError, BaseExceptionGroup) as e:
        err = _os_error(e)
        if err is None:
            raise
        log_event("node_failed", level=logging.ERROR, error=f"{type(err).__name__}: {err}")
        print(f"pytribes node: error: {cfg.local_name}: {err}", file=sys.stderr)
        return 1


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind `exc` (trio wraps errors of nursery tasks in exception groups), if
    every leaf is one (e.g. the receiver cannot bind)."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_os_error(e) for e in exc.exceptions]
        if leaves and all(leaf is not None for leaf in leaves):
            return leaves[0]
    return None


def _uid_text(uid: bytes) -> str:
    from .wire.member import format_unique_id

    return format_unique_id(uid)


Services = Callable[..., Awaitable[object]]


async def run_node(cfg: NodeConfig, services: Services | None = None) -> int:
    """Run a node with its session replication until SIGINT/SIGTERM, then stop it gracefully
    (services first, then managers and MSG_STOP).  Every configured context answers state
    transfer, so a starting Tomcat never waits 60 s on us.  `services(cluster, shutdown_trigger,
    task_status=...)` runs beside the cluster (the app's HTTP server).  The first signal asks for
    the graceful stop (one that arrives while the node is still starting takes effect once it is
    up: its `node_started` line may already have been read); a second one kills it: nothing
    more is sent.  Exit status: 0 after a graceful stop, 1 after a forced one."""
    import signal

    import trio

    from .net.cluster import open_cluster
    from .net.transport import log_event

    stop_requested = trio.Event()
    stop_services = trio.Event()
    forced = False
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as outer:

            async def watch() -> None:
                nonlocal forced
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if not stop_requested.is_set():
                        log_event("signal", signal=name, action="stop")
                        stop_requested.set()
                        continue
                    log_event("signal", signal=name, action="kill")
                    forced = True
                    outer.cancel_scope.cancel()
                    return

            outer.start_soon(watch)
            async with open_cluster(cfg) as cluster, trio.open_nursery() as nursery:
                if services is not None:
                    await nursery.start(services, cluster, stop_services.wait)
                await stop_requested.wait()
                stop_services.set()
            # open_cluster was left normally: managers stopped, MSG_STOP sent
            outer.cancel_scope.cancel()
    return 1 if forced else 0


# --- pytribes bench (issues 4 and 6): flags and logic live in benchmarks/runner.py ------------


def _add_bench_parser(sub: Any) -> None:
    """Register `bench`; the runner is the source tree's benchmarks/ package (not installed), so
    it is only offered from a checkout (benchmarks/ next to tribes/)."""
    bench = sub.add_parser(
        "bench",
        help="benchmarks, pytribes vs the real Tomcat classes in one run",
        description="Run the pytribes-vs-Java benchmarks (benchmarks/runner.py).",
    )
    root = str(Path(__file__).resolve().parent.parent)
    if not (Path(root) / "benchmarks" / "runner.py").is_file():
        bench.set_defaults(func=lambda a, o: _no_benchmarks())
        return
    if root not in sys.path:
        sys.path.append(root)
    import importlib

    runner = importlib.import_module("benchmarks.runner")  # untyped on purpose: not in mypy's files
    runner.add_arguments(bench)
    bench.set_defaults(func=runner.run)


def _no_benchmarks() -> int:
    print("pytribes: error: `bench` needs a source checkout (benchmarks/)", file=sys.stderr)
    return 2


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
