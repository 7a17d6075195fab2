"""Serving the app: Hypercorn on trio, in the same nursery as the cluster node.

    async with open_cluster(config) as cluster:
        await nursery.start(serve_app, cluster, config)      # returns once listening

`run_app_node(config)` is the whole process (`pytribes node ... --http HOST:PORT [--db URL]`):
the event log, the cluster, the HTTP server; SIGINT/SIGTERM stop it gracefully (the HTTP
server stops accepting and finishes its requests, then the node leaves the cluster with
MSG_STOP); a second signal stops it at once.

The database is `config.db`, or the SQLite file `DEFAULT_DB` in the working directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from tribes.config import ConfigError, NodeConfig
from tribes.net.transport import log_event

from .cluster import ClusterLike, NodeIdentity, default_node_name
from .db import Database, sqlite_url
from .events import EventLog
from .web import CONTEXT_PATH, AppContext, create_app

log = logging.getLogger("app.serve")

#: The embedded database when no `--db` is given (relative to the working directory).
DEFAULT_DB: Final = "pytribes-app.db"
#: Environment variable overriding the node's readable name (shown on the monitor page).
NAME_ENV: Final = "PYTRIBES_NODE_NAME"
#: Seconds Hypercorn lets running requests finish after a stop was asked for.
GRACEFUL_TIMEOUT: Final = 5.0


def database_url(config: NodeConfig) -> str:
    return config.db or sqlite_url(DEFAULT_DB)


def node_name(config: NodeConfig) -> str:
    return os.environ.get(NAME_ENV) or default_node_name(config)


def make_event_log(config: NodeConfig) -> EventLog:
    """The event ring buffer of this node, installed on the ``"tribes"`` logger (install it
    before the node starts, to keep its start-up events)."""
    local = () if config.receiver.port == 0 else (config.local_name,)
    return EventLog(local=local).install()


@dataclass
class AppRuntime:
    """A served app: its context and the addresses it listens on."""

    context: AppContext
    binds: list[str]


def hypercorn_config(host: str, port: int) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("app.hypercorn")
    hc.graceful_timeout = GRACEFUL_TIMEOUT
    hc.keep_alive_timeout = 5
    return hc


async def serve_app(
    cluster: ClusterLike,
    config: NodeConfig,
    *,
    db: Database | None = None,
    events: EventLog | None = None,
    name: str | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[AppRuntime] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the app of `cluster` on `config.http` until cancelled or `shutdown_trigger()`
    returns (an async callable).  Reports an `AppRuntime` once listening."""
    if config.http is None:
        raise ConfigError("the configuration has no http address")
    if CONTEXT_PATH not in config.manager.contexts:
        raise ConfigError(
            f"the app needs the replicated context {CONTEXT_PATH!r} "
            f"(manager.contexts is {list(config.manager.contexts)!r})"
        )
    own_db = db is None
    if db is None:
        db = Database(database_url(config))
    own_events = events is None
    if events is None:
        events = make_event_log(config)
    try:
        await db.run(db.create_schema)
        host, port = config.http
        identity = NodeIdentity(name or node_name(config), host, port)
        ctx = AppContext(cluster=cluster, db=db, identity=identity, events=events)
        app = create_app(ctx)
        hc = hypercorn_config(host, port)

        async def started(*, task_status: trio.TaskStatus[list[str]]) -> None:
            await hypercorn_serve(
                app,  # type: ignore[arg-type]  # Starlette's ASGI types are looser
                hc,
                shutdown_trigger=shutdown_trigger,
                task_status=task_status,
            )

        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(started)
            if port == 0 and binds:
                bound = int(binds[0].rsplit(":", 1)[1])
                ctx.identity = NodeIdentity(identity.name, host, bound)
            log_event(
                "http_started",
                local=cluster.node.name if hasattr(cluster.node, "name") else None,
                http=",".join(binds),
                node_name=ctx.identity.name,
                db=db.display_url,
            )
            task_status.started(AppRuntime(ctx, binds))
    finally:
        if own_events:
            events.uninstall()
        if own_db:
            db.close()


async def run_app_node(config: NodeConfig) -> int:
    """The `pytribes node --http` process: the node's run loop (`tribes.cli.run_node`: signals,
    graceful stop) with the app served beside the cluster, stopped before the cluster leaves."""
    from tribes.cli import run_node

    if CONTEXT_PATH not in config.manager.contexts:  # before anything starts
        raise ConfigError(
            f"--http: the app needs the replicated context {CONTEXT_PATH!r} "
            f"(manager.contexts is {list(config.manager.contexts)!r})"
        )
    events = make_event_log(config)
    try:
        return await run_node(config, partial(_serve, config=config, events=events))
    finally:
        events.uninstall()


async def _serve(
    cluster: ClusterLike,
    shutdown_trigger: Callable[[], Awaitable[None]],
    *,
    config: NodeConfig,
    events: EventLog,
    task_status: trio.TaskStatus[AppRuntime] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve_app(
        cluster, config, events=events, shutdown_trigger=shutdown_trigger, task_status=task_status
    )
