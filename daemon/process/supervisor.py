"""The composition root: the one place that builds the actors and wires them together.

Nesting gives the shutdown order. Outermost the resources (embedded server, loop bridge and
pool), then the background tasks (signals, partition upkeep), then the shard writers, then
the HTTP front. On the stop event the intake closes (no new readings), Hypercorn drains the
requests in flight, the writers flush what they hold and return (within the grace), and the
resources close in reverse order.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import trio
from hypercorn.typing import ASGIFramework

from daemon import failures
from daemon.auth import Keyring
from daemon.config import Config
from daemon.embedded.server import open_embedded
from daemon.http import serve
from daemon.http.app import create_app
from daemon.http.handles import AppHandles
from daemon.ingest import writer
from daemon.ingest.intake import Ingest, Intake
from daemon.ingest.readiness import not_ready_reason, writers_reason
from daemon.ingest.reference_paths import Discard, PerReading
from daemon.metrics import sampler
from daemon.metrics.recorder import Metrics
from daemon.process import parent_link, port_probe, signals
from daemon.store.database import Store, open_store
from daemon.upkeep import day_partitions, fold, window_roll

log = logging.getLogger(__name__)

# Connections beyond one per shard writer, for reads (status, links, analytics, readiness).
_READ_CONNECTIONS = 8


@dataclass(frozen=True)
class Running:
    """What ``run`` reports once it serves: where, and the event that stops it."""

    url: str
    stop: trio.Event


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _url_setting(config: Config) -> str | None:
    """The setting that the database's URL came from; None for the embedded server's."""
    if config.dsn is None:
        return None
    return "database_pool_url" if config.uses_pooler else "database_url"


def _database_connections(config: Config) -> int:
    return config.shards + _READ_CONNECTIONS


def _ingest(config: Config, intake: Intake, store: Store) -> Ingest:
    if config.write_path == "grouped":
        return intake
    log.warning(
        "a benchmark's write path is configured: not for production",
        extra={"write_path": config.write_path, "stores_readings": config.write_path != "discard"},
    )
    return Discard() if config.write_path == "discard" else PerReading(store)


async def _open_database(config: Config, resources: AsyncExitStack) -> Store:
    """The store, on the embedded server when no URL is set, closed with ``resources``; a
    database out of reach is one sentence naming the setting to check."""
    dsn = config.dsn
    if dsn is None:
        dsn = await resources.enter_async_context(open_embedded(config.data_dir))
    try:
        return await resources.enter_async_context(
            open_store(
                dsn, pooler=config.uses_pooler, max_connections=_database_connections(config)
            )
        )
    except* Exception as group:
        cause = failures.leaves(group)[0]
        if not failures.refused_connecting(cause):
            raise
        raise failures.unreachable(dsn, _url_setting(config), cause) from group


async def _start_upkeep(
    background: trio.Nursery,
    config: Config,
    store: Store,
    stop: trio.Event,
    parent: trio.abc.ReceiveStream | None,
) -> None:
    """The tasks that run beside the writers until the end: signals, the parent's pipe, and
    the timers that keep partitions, rollups and the fleet window."""
    await background.start(signals.run, stop)
    if parent is not None:
        await background.start(parent_link.run, parent, stop)
    await background.start(partial(day_partitions.run, store, retention_days=config.retention_days))
    await background.start(window_roll.run, store)
    await background.start(partial(fold.run, store, interval_s=config.fold_interval_s))


def _handles(
    config: Config,
    intake: Intake,
    store: Store,
    metrics: Metrics,
    writers: list[writer.WriterState],
) -> AppHandles:
    return AppHandles(
        intake=_ingest(config, intake, store),
        store=store,
        metrics=metrics,
        not_ready_reason=partial(not_ready_reason, store, intake, writers),
        writers_reason=partial(writers_reason, intake, writers),
        clock=_utc_now,
        max_ahead=timedelta(seconds=config.clock_skew_s),
        max_age=config.max_age,
        ack_timeout_s=config.ack_timeout_s,
        body_timeout_s=config.body_timeout_s,
        keyring=Keyring.of(config.token_roles) if config.tokens else None,
    )


async def _serve(
    config: Config,
    app: ASGIFramework,
    metrics: Metrics,
    stop: trio.Event,
    *,
    reuse_port: bool,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve.run(
        app,
        host=config.host,
        port=config.port,
        grace_s=config.drain_s,
        keep_alive_s=config.keep_alive_s,
        max_connections=serve.connection_limit(
            config.max_connections, _database_connections(config)
        ),
        connections=metrics.connections,
        stop=stop,
        reuse_port=reuse_port,
        task_status=task_status,
    )


async def run(
    config: Config,
    *,
    parent: trio.abc.ReceiveStream | None = None,
    worker: int = 0,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until the stop event. ``parent`` is given when this is one of several worker
    processes, the ``worker``-th: its pipe from the parent process, and the port is shared
    with the others."""
    if parent is None:
        log.info("starting", extra={"config": config.describe()})
        port_probe.ensure_free(config.host, config.port)
    stop = trio.Event()
    async with AsyncExitStack() as resources:
        store = await _open_database(config, resources)
        async with trio.open_nursery() as background:
            await _start_upkeep(background, config, store, stop, parent)
            to_writers, writer_inboxes = Intake.open_inboxes(config.shards, config.queue_readings)
            intake = Intake(to_writers, config.queue_readings)
            metrics = Metrics(worker=worker, workers=1 if parent is None else config.worker_count)
            await background.start(
                sampler.run, metrics, intake.queue_depths, lambda: intake.committed
            )
            states = [writer.WriterState(shard) for shard in range(config.shards)]
            async with trio.open_nursery() as writers:
                for state, inbox in zip(states, writer_inboxes, strict=True):
                    await writers.start(
                        partial(
                            writer.run,
                            inbox,
                            store,
                            state,
                            metrics,
                            linger_s=config.linger_ms / 1000,
                            max_batch=config.max_batch,
                        )
                    )
                app = create_app(_handles(config, intake, store, metrics, states))
                try:
                    async with trio.open_nursery() as front:
                        binds = await front.start(
                            partial(
                                _serve, config, app, metrics, stop, reuse_port=parent is not None
                            )
                        )
                        log.info("ready", extra={"listening": binds})
                        task_status.started(Running(binds[0], stop))
                        await stop.wait()
                        # No new readings from here on, while the requests in flight drain.
                        intake.close()
                        log.info("draining requests in flight and flushing shard writers")
                finally:
                    intake.close()  # also when leaving by an error: the writers must end
                    writers.cancel_scope.deadline = trio.current_time() + config.shutdown_grace_s
            background.cancel_scope.cancel()
    log.info("stopped", extra={"readings_committed": intake.committed})
