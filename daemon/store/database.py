"""PostgreSQL, behind one package: the store, its schema, write and read sides over one bridge.

The only package that imports asyncpg and trio-asyncio (``bridge``); the sides hold the SQL and
what it returns, and the rest of the daemon sees only their methods.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from daemon.partitions import Partition
from daemon.store import migrations
from daemon.store.bridge import Bridge, open_bridge
from daemon.store.reads import ReadSide
from daemon.store.schema import SchemaSide
from daemon.store.writes import WriteSide

log = logging.getLogger(__name__)


class Store(SchemaSide, WriteSide, ReadSide):
    """One database, used from trio: its schema, writes and reads share one pool."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge
        self._partitions: set[Partition] = set()


@asynccontextmanager
async def open_store(dsn: str, *, pooler: bool, max_connections: int) -> AsyncIterator[Store]:
    """Open the bridge, apply pending migrations, and close the bridge on the way out."""
    async with open_bridge(dsn, pooler=pooler, max_connections=max_connections) as bridge:
        store = Store(bridge)
        applied = await store.migrate(migrations.load())
        log.info("schema up to date", extra={"applied_migrations": applied})
        yield store
