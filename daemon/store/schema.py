"""The store's schema side: the numbered migrations, applied at start, and the day partitions
of the history tables, made ahead and dropped past retention."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Final

from daemon.partitions import COLD_TABLES, Partition, partitions_for
from daemon.store.bridge import Bridge
from daemon.store.migrations import Migration

_MIGRATION_LOCK: Final = 0x1E1E_0001
_DAY_PARTITIONS: Final = """
SELECT c.relname AS name
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
JOIN pg_class AS p ON p.oid = i.inhparent
WHERE p.relname = ANY($1::text[])
"""


class SchemaSide:
    """Migrations and day partitions; remembers which partitions this process has made."""

    _bridge: Bridge
    _partitions: set[Partition]

    async def migrate(self, pending: list[Migration]) -> list[int]:
        """Apply what this database lacks, each file in its own transaction; several processes
        may start at once, so each takes an advisory lock and checks again under it."""
        return await self._bridge.call(self._migrate, pending)

    async def _migrate(self, pending: list[Migration]) -> list[int]:
        applied: list[int] = []
        async with self._bridge.pool.acquire() as conn:
            for migration in pending:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    if await conn.fetchval(
                        "SELECT to_regclass('schema_migrations') IS NOT NULL"
                    ) and await conn.fetchval(
                        "SELECT EXISTS (SELECT FROM schema_migrations WHERE version = $1)",
                        migration.version,
                    ):
                        continue
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                    applied.append(migration.version)
        return applied

    async def server_version(self) -> tuple[int, str]:
        """The server's version, as a number (``180001``) and as it names itself."""
        row = await self._bridge.call(
            self._bridge.pool.fetchrow,
            "SELECT current_setting('server_version_num')::integer AS number,"
            " current_setting('server_version') AS name",
        )
        assert row is not None  # a SELECT without FROM has its one row
        return row["number"], row["name"]

    async def keep_replacements_in_step(self) -> bool:
        """Whether replaced readings reach the rollups through triggers (before PostgreSQL 18)
        rather than the flush's ``RETURNING old``; the triggers follow (sql/012)."""
        return await self._bridge.call(self._in_step)

    async def _in_step(self) -> bool:
        async with self._bridge.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            by_trigger: bool = await conn.fetchval("SELECT keep_replacements_in_step()")
        return by_trigger

    async def ensure_partitions(self, days: Iterable[date]) -> int:
        """Create missing day partitions; returns how many were new to this process."""
        missing = [p for p in partitions_for(days) if p not in self._partitions]
        if missing:
            await self._bridge.call(self._ensure_partitions, missing)
            self._partitions.update(missing)
        return len(missing)

    async def _ensure_partitions(self, missing: list[Partition]) -> None:
        async with self._bridge.pool.acquire() as conn:
            for partition in missing:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT ensure_day_partition($1, $2)", partition.table, partition.day
                    )

    async def day_partitions(self) -> list[Partition]:
        """Every day partition of the cold tables, as the catalogue has them."""
        rows = await self._bridge.call(self._bridge.pool.fetch, _DAY_PARTITIONS, list(COLD_TABLES))
        return [p for row in rows if (p := Partition.named(row["name"])) is not None]

    async def drop_partitions(self, expired: list[Partition]) -> None:
        """Drop day partitions, one transaction each (a partition's drop locks its parent
        table, so each holds the writers up as briefly as it can)."""
        await self._bridge.call(self._drop_partitions, expired)
        self._partitions.difference_update(expired)

    async def _drop_partitions(self, expired: list[Partition]) -> None:
        async with self._bridge.pool.acquire() as conn:
            for partition in expired:
                await conn.execute(
                    "SELECT drop_day_partition($1, $2)", partition.table, partition.day
                )
