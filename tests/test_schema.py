"""The schema keeps the road to a distributed PostgreSQL (Citus) open: every unique key of a
history, latest-state or rollup table holds the device id, so each can be distributed by it
with no change (docs/scaling.md). Read from the catalogue of a migrated database."""

from __future__ import annotations

import pytest

from daemon import failures
from daemon.errors import StartupFailed
from daemon.store import database as database_module
from daemon.store.database import open_store
from tests.conftest import Postgres

# The migrated schema on every PostgreSQL version the daemon supports.
pytestmark = pytest.mark.every_postgres

# Per kind of device: its id column and the tables keyed by it.
DEVICE_TABLES = {
    "meter_id": ("meter_readings", "meter_latest", "meter_hourly", "meter_window"),
    "vehicle_id": (
        "vehicle_readings",
        "vehicle_latest",
        "vehicle_hourly",
        "vehicle_window",
        "vehicle_meter_links",
        "vehicle_efficiency",
    ),
}

UNIQUE_KEYS = """
SELECT t.relname, i.relname, array_agg(a.attname::text ORDER BY a.attname)
FROM pg_index AS x
JOIN pg_class AS t ON t.oid = x.indrelid
JOIN pg_class AS i ON i.oid = x.indexrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey::int2[])
WHERE x.indisunique AND n.nspname = 'public'
GROUP BY t.relname, i.relname
"""


async def test_every_unique_key_of_a_device_table_holds_the_device_id(
    postgres: Postgres, database: str, client: object
) -> None:
    """``client`` starts a daemon, which migrates the database."""
    rows = await postgres.aquery(database, UNIQUE_KEYS)
    keys = [(table, index, set(columns.strip("{}").split(","))) for table, index, columns in rows]
    for id_column, tables in DEVICE_TABLES.items():
        for table in tables:
            found = [columns for t, _, columns in keys if t == table]
            assert found, f"{table} has no unique key: nothing to distribute it by"
            for columns in found:
                assert id_column in columns, (table, columns)
    partitions = [
        (t, c) for t, _, c in keys if t.startswith(("meter_readings_", "vehicle_readings_"))
    ]
    assert partitions, "no day partition was found: the test would prove nothing about them"
    for table, columns in partitions:
        assert ("meter_id" if table.startswith("meter") else "vehicle_id") in columns, table


async def test_no_unique_key_elsewhere_would_stop_distribution(
    postgres: Postgres, database: str, client: object
) -> None:
    """Tables outside the lists above are small and global (reference tables under Citus):
    the migrations record and the fleet's one window row. A new table must be placed in one of
    the two groups, here and in docs/scaling.md."""
    rows = await postgres.aquery(database, UNIQUE_KEYS)
    device_tables = {t for tables in DEVICE_TABLES.values() for t in tables}
    others = {
        table
        for table, _, _ in rows
        if table not in device_tables
        and not table.startswith(("meter_readings_", "vehicle_readings_"))
    }
    assert others == {"schema_migrations", "fleet_window"}


_ATTACH = """
CREATE TRIGGER meter_reading_replaced BEFORE UPDATE ON meter_readings
FOR EACH ROW EXECUTE FUNCTION meter_reading_replaced();
CREATE TRIGGER vehicle_reading_replaced BEFORE UPDATE ON vehicle_readings
FOR EACH ROW EXECUTE FUNCTION vehicle_reading_replaced()
"""
_DETACH = """
DROP TRIGGER meter_reading_replaced ON meter_readings;
DROP TRIGGER vehicle_reading_replaced ON vehicle_readings
"""


async def test_replacements_take_the_way_the_server_has(postgres: Postgres, database: str) -> None:
    """PostgreSQL 18 hands a flush what it replaced (RETURNING old); before 18 a row trigger
    does (sql/012). The triggers follow the server at every start, and a start that finds them
    out of step (a database upgraded from 16 to 18, say) puts them back in step."""
    number = int((await postgres.aquery("postgres", "SHOW server_version_num"))[0][0])
    triggers = (
        "SELECT tgname FROM pg_trigger WHERE tgname LIKE '%_reading_replaced'"
        " AND tgrelid IN ('meter_readings'::regclass, 'vehicle_readings'::regclass)"
        " ORDER BY tgname"
    )
    before_18 = [["meter_reading_replaced"], ["vehicle_reading_replaced"]]
    async with open_store(postgres.url(database), pooler=False, max_connections=1) as store:
        assert await postgres.aquery(database, triggers) == (before_18 if number < 180000 else [])
        await postgres.aquery(database, _DETACH if number < 180000 else _ATTACH)
        assert await store.keep_replacements_in_step() is (number < 180000)
        assert await postgres.aquery(database, triggers) == (before_18 if number < 180000 else [])


async def test_a_server_older_than_the_engine_supports_is_refused_before_any_write(
    postgres: Postgres, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PostgreSQL 14 is at hand here, so the oldest supported version is raised past this
    server's: the store refuses it in one sentence naming its version, and migrates nothing."""
    version = (await postgres.aquery("postgres", "SHOW server_version"))[0][0]
    monkeypatch.setattr(database_module, "OLDEST", 990000)
    with pytest.raises(BaseExceptionGroup) as raised:
        async with open_store(postgres.url(database), pooler=False, max_connections=1):
            pass
    (refused,) = failures.leaves(raised.value)
    assert isinstance(refused, StartupFailed)
    assert str(refused).startswith(f"PostgreSQL {version} is too old for this engine")
    assert refused.exit_code == 2
    assert await postgres.aquery(database, "SELECT to_regclass('schema_migrations')") == [[""]]
