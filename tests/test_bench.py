"""The benchmark's own parts: the readings it writes, its verdicts on the targets, its wrk
scripts against a real daemon (when wrk is installed), and its command line."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import trio

from bench import ceiling, cli, wrk
from tests.conftest import Postgres
from tests.daemon_process import alive


def test_ceiling_batches_are_distinct_readings_coalesced_as_a_writer_does() -> None:
    batches = ceiling.batches(12_000, 5_000, tag="t")

    assert len(batches) == 3
    keys = [
        key
        for rows in batches
        for key in (
            *zip(rows.meter_history.meter_ids, rows.meter_history.ts, strict=True),
            *zip(rows.vehicle_history.vehicle_ids, rows.vehicle_history.ts, strict=True),
        )
    ]
    assert len(keys) == len(set(keys)) == 12_000
    first = batches[0]
    assert len(first.meter_latest.ts) == len(set(first.meter_latest.meter_ids)) == 2_500
    assert first.meter_history.meter_ids == sorted(first.meter_history.meter_ids)


def _rows(engine_single: float, p99_ms: float) -> dict[str, cli.Row]:
    rates = {
        "engine_single_64": engine_single,
        "stack_single_64": 2_000.0,
        "baseline_single_64": 1_000.0,
        "engine_single_256": 1_800.0,
        "stack_single_256": 2_000.0,
        "engine_batch_8": 60_000.0,
        "db_statement": 100_000.0,
        "db_copy": 150_000.0,
        "engine1_single_64": 1_000.0,
        "stack1_single_64": 1_100.0,
        "analytics": 500.0,
        "status": 900.0,
        "hourly": 400.0,
        "fleet_summary": 50.0,
        "fleet_vehicles": 60.0,
        "fleet_vehicles_deep": 60.0,
    }
    return {
        key: cli.Row(key, key, "wrk", rate, p50_ms=p99_ms / 2, p99_ms=p99_ms)
        for key, rate in rates.items()
    }


def test_targets_are_met_only_when_the_figures_meet_them() -> None:
    met = cli._compare(_rows(engine_single=2_000.0, p99_ms=8.0), {"engine": [120.0, 130.0]})
    missed = cli._compare(_rows(engine_single=1_500.0, p99_ms=120.0), {"engine": [320.0]})

    verdicts = {c.what.strip(): c.met for c in met}
    assert verdicts["engine single readings, 64 connections"] is True
    assert verdicts["as a share of the stack's ceiling (same workers)"] is True
    assert verdicts["against the baseline per-reading writer"] is True
    assert verdicts["engine batches"] is True
    assert verdicts["as a share of the database's ceiling (writers' statement)"] is False
    assert verdicts["peak memory of a daemon process"] is True
    missed_verdicts = {c.what.strip(): c.met for c in missed}
    assert missed_verdicts["engine single readings, 64 connections"] is False
    assert missed_verdicts["as a share of the stack's ceiling (same workers)"] is False
    assert missed_verdicts["p99"] is False
    assert missed_verdicts["analytics p99"] is False
    assert verdicts["fleet vehicles deep p99"] is True
    assert missed_verdicts["fleet vehicles deep p99"] is False
    assert missed_verdicts["peak memory of a daemon process"] is False


def test_the_table_shows_every_row_and_verdict() -> None:
    rows = _rows(engine_single=2_100.0, p99_ms=5.0)
    comparisons = cli._compare(rows, {"engine": [100.0]})

    table = cli.render(list(rows.values()), comparisons, {"engine": [100.0]})

    assert all(f"| {key} |" in table for key in rows)
    assert "| engine single readings, 64 connections | 2,100/s | >= 2,000/s | met |" in table
    assert "NOT met" in table  # the batch rate against the statement's ceiling


def test_the_command_line_defaults_to_quick_and_refuses_an_unreadable_comparison() -> None:
    assert cli.build_parser().parse_args([]).mode == cli.QUICK
    assert cli.build_parser().parse_args(["--full"]).mode == cli.FULL
    with pytest.raises(SystemExit) as refused:
        cli.build_parser().parse_args(["--compare", "/nonexistent/bench.json"])
    assert refused.value.code == 2


def test_without_wrk_the_benchmark_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(wrk.WrkMissing, match="apt-get install wrk"):
        wrk.check_available()


_NEEDS_WRK = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)"
)


@_NEEDS_WRK
@pytest.mark.parametrize(
    "case", [("single.lua", "/v1/ingest", 1), ("batch.lua", "/v1/ingest/batch", 50)]
)
async def test_the_wrk_scripts_post_distinct_readings_that_are_all_stored(
    client: httpx.AsyncClient, postgres: Postgres, database: str, case: tuple[str, str, int]
) -> None:
    script, path, per_request = case
    url = f"{client.base_url}{path}"

    result = await trio.to_thread.run_sync(
        lambda: wrk.run(url, script, connections=4, duration_s=1, args=(str(per_request),))
    )

    assert result.requests > 0
    assert result.non_2xx == 0
    assert result.socket_errors == 0
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    stored = await postgres.aquery(
        database,
        "SELECT (SELECT count(*) FROM meter_readings) + (SELECT count(*) FROM vehicle_readings)",
    )
    # wrk counts the requests answered within its duration; up to one more per connection was
    # still in flight. Had two readings shared a device and timestamp, fewer rows would exist.
    rows = int(stored[0][0])
    assert result.requests * per_request <= rows <= (result.requests + 4) * per_request


def _left_behind(session: int, scratch: Path) -> list[str]:
    """Live processes of the benchmark's session, or naming its scratch directory
    (PostgreSQL's ``-D``: pg_ctl starts the server in a session of its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        session_of = int(stat[stat.rindex(")") + 2 :].split()[3])
        if (session_of == session or str(scratch) in command) and alive(int(entry.name)):
            found.append(f"{entry.name}: {command}")
    return found


@_NEEDS_WRK
def test_a_sigterm_stops_the_benchmark_and_everything_it_started(tmp_path: Path) -> None:
    """Stopped by SIGTERM (``kill``, a job's timeout), the benchmark died at once and left its
    daemons and PostgreSQL running, idle but awake, under every later measurement. Now it
    leaves as on Ctrl-C, stopping what it started."""
    scratch = None
    with subprocess.Popen(
        [sys.executable, "-m", "bench", "--quick", "--json", str(tmp_path / "bench.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as bench:
        watchdog = threading.Timer(300, os.killpg, (bench.pid, signal.SIGKILL))
        watchdog.start()
        try:
            assert bench.stderr is not None
            for line in bench.stderr:
                if found := re.search(r"daemon logs: (\S+)/daemons\.log", line):
                    scratch = Path(found[1])
                if "round 1/" in line:  # every daemon started and warmed up
                    break
            assert scratch is not None
            assert scratch.exists()
            bench.send_signal(signal.SIGTERM)
            assert bench.wait(timeout=120) == 128 + signal.SIGTERM
        finally:
            watchdog.cancel()
            if bench.poll() is None:
                os.killpg(bench.pid, signal.SIGKILL)
    left = _left_behind(bench.pid, scratch)
    for process in left:  # so that a failure leaves nothing running either
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(process.split(":")[0]), signal.SIGKILL)
    assert left == []
    assert not scratch.exists()
