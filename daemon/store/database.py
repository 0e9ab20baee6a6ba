"""PostgreSQL, behind one package: the store, its schema, write and read sides over one bridge.

The only package that imports asyncpg and trio-asyncio (``bridge``); the sides hold the SQL and
what it returns, and the rest of the daemon sees only their methods.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from daemon.errors import StartupFailed
from daemon.partitions import Partition
from daemon.store import migrations
from daemon.store.bridge import Bridge, open_bridge
from daemon.store.reads import ReadSide
from daemon.store.schema import SchemaSide
from daemon.store.writes import WriteSide

log = logging.getLogger(__name__)


OLDEST: Final = 150000
"""The oldest server the engine runs on (PostgreSQL 15), the oldest release its makers still
support; what differs from 15 to 18 is in docs/internals.md."""


class Store(SchemaSide, WriteSide, ReadSide):
    """One database, used from trio: its schema, writes and reads share one pool."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge
        self._partitions: set[Partition] = set()
        self._returning_old = True


@asynccontextmanager
async def open_store(dsn: str, *, pooler: bool, max_connections: int) -> AsyncIterator[Store]:
    """Open the bridge, check the server, apply pending migrations, and close the bridge on the
    way out. A server too old is refused before anything is written."""
    async with open_bridge(dsn, pooler=pooler, max_connections=max_connections) as bridge:
        store = Store(bridge)
        number, version = await store.server_version()
        if number < OLDEST:
            raise StartupFailed(
                f"PostgreSQL {version} is too old for this engine, which runs on PostgreSQL 15"
                " to 18: upgrade the server, or point DATABASE_URL at another",
                exit_code=2,
            )
        applied = await store.migrate(migrations.load())
        store._returning_old = not await store.keep_replacements_in_step()
        log.info(
            "schema up to date",
            extra={
                "applied_migrations": applied,
                "postgres": version,
                "replacements": "RETURNING old" if store._returning_old else "trigger",
            },
        )
        yield store
