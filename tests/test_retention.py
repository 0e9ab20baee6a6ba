"""Retention: day partitions and hourly rollups wholly older than it are dropped, and never one
that can still receive an accepted reading. The rules alone, then the maintenance task on a
real PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest
import trio

from daemon.partitions import DROP_MARGIN, Partition, expired, horizon
from daemon.store.database import Store, open_store
from daemon.upkeep import day_partitions as maintenance
from tests.conftest import Postgres
from tests.support import eventually

# The maintenance task on every PostgreSQL version the daemon supports.
pytestmark = pytest.mark.every_postgres

NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


# --- the rules ---------------------------------------------------------------------------


def test_names_and_bounds_match_the_sql_that_creates_partitions() -> None:
    partition = Partition("meter_readings", date(2026, 11, 20))

    assert partition.name == "meter_readings_20261120"
    assert partition.end == datetime(2026, 11, 21, tzinfo=UTC)
    assert Partition.named("meter_readings_20261120") == partition
    assert Partition.named("vehicle_readings_20260229") is None  # no such day
    assert Partition.named("meter_latest") is None
    assert Partition.named("other_table_20261120") is None


@pytest.mark.parametrize(
    ("now", "retention_days", "expected"),
    [
        # Readings from 25 Nov 10:30 on are accepted; with the margin, 25 Nov 09:30 is the
        # cutoff, so 24 Nov and before go, and 25 Nov stays.
        (NOW, 2, datetime(2026, 11, 25, tzinfo=UTC)),
        # Within the margin of midnight, the day before stays one more hour.
        (datetime(2026, 11, 27, 0, 30, tzinfo=UTC), 2, datetime(2026, 11, 24, tzinfo=UTC)),
        (datetime(2026, 11, 27, 1, 0, tzinfo=UTC), 2, datetime(2026, 11, 25, tzinfo=UTC)),
        (NOW, 30, datetime(2026, 10, 28, tzinfo=UTC)),
        (NOW, 0, None),
    ],
)
def test_the_horizon_keeps_every_day_that_can_still_receive_a_reading(
    now: datetime, retention_days: int, expected: datetime | None
) -> None:
    before = horizon(now, retention_days)

    assert before == expected
    if before is not None:
        oldest_accepted = now - timedelta(days=retention_days)
        assert before <= oldest_accepted - DROP_MARGIN


def test_expired_partitions_are_those_wholly_before_the_horizon() -> None:
    days = [date(2026, 11, d) for d in range(20, 28)]
    partitions = [Partition(t, d) for d in days for t in ("meter_readings", "vehicle_readings")]

    gone = expired(partitions, datetime(2026, 11, 25, tzinfo=UTC))

    assert {p.day for p in gone} == {date(2026, 11, d) for d in range(20, 25)}
    assert gone == sorted(gone)


# --- the maintenance task on PostgreSQL --------------------------------------------------


@pytest.fixture
async def store(postgres: Postgres, database: str) -> AsyncIterator[Store]:
    async with open_store(postgres.url(database), pooler=False, max_connections=2) as opened:
        yield opened


async def _fill(store: Store, postgres: Postgres, database: str, days: list[date]) -> None:
    """A meter reading at noon of each day, and an hourly rollup row for that hour."""
    await store.ensure_partitions(days)
    for day in days:
        noon = f"{day.isoformat()} 12:00:00+00"
        await postgres.aquery(
            database,
            "INSERT INTO meter_readings (meter_id, ts, kwh_consumed_ac, voltage, received_at)"
            f" VALUES ('m-1', '{noon}', 1, 230, now());"
            " INSERT INTO meter_hourly (meter_id, hour, ac_kwh, readings)"
            f" VALUES ('m-1', '{noon}', 1, 1)",
        )


async def _partition_days(postgres: Postgres, database: str) -> set[date]:
    rows = await postgres.aquery(
        database,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'meter_readings'",
    )
    return {p.day for (name,) in rows if (p := Partition.named(name)) is not None}


async def test_old_partitions_and_rollups_go_and_the_rest_stays(
    store: Store, postgres: Postgres, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="daemon.upkeep.day_partitions")
    now = datetime.now(UTC)
    days = [(now - timedelta(days=n)).date() for n in range(10, -1, -1)]
    await _fill(store, postgres, database, days)
    before = horizon(now, 2)
    assert before is not None
    kept = {day for day in days if day >= before.date()}

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(maintenance.run, store, retention_days=2))

        async def pruned() -> bool:
            return (await _partition_days(postgres, database)) & set(days) == kept

        await eventually(pruned)
        nursery.cancel_scope.cancel()

    oldest_accepted = (now - timedelta(days=2)).date()
    assert oldest_accepted in kept
    readings = await postgres.aquery(database, "SELECT ts::date FROM meter_readings")
    rollups = await postgres.aquery(database, "SELECT hour::date FROM meter_hourly")
    assert {date.fromisoformat(d) for (d,) in readings} == kept
    assert {date.fromisoformat(d) for (d,) in rollups} == kept
    dropped = next(r for r in caplog.records if r.getMessage().startswith("dropped partitions"))
    names = dropped.__dict__["partitions"]
    assert len(names) == 2 * (len(days) - len(kept))
    assert f"meter_readings_{days[0]:%Y%m%d}" in names


async def test_retention_zero_keeps_everything(
    store: Store, postgres: Postgres, database: str
) -> None:
    now = datetime.now(UTC)
    days = [(now - timedelta(days=n)).date() for n in (400, 40, 4)]
    await _fill(store, postgres, database, days)

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(maintenance.run, store, retention_days=0))
        # The task prunes right after it has started; give it that turn, then look.
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()

    assert set(days) <= await _partition_days(postgres, database)
    assert await postgres.aquery(database, "SELECT count(*) FROM meter_hourly") == [["3"]]
