"""Load generator runs that do not go to plan, against a real daemon and a real database: no
engine at the URL, an engine restarting while the sites are linked, an engine that goes away
for good, and a run interrupted by a signal or killed. Each must end in one sentence (never a
traceback) with the summary of what was done, and leave an acknowledgement log whose every
line is whole and stored."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import Running, run
from tests.conftest import Postgres
from tests.support import eventually
from tests.test_loadgen_e2e import Started, _loadgen, start_loadgen

_ACK_LINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*\t\d{4}-\d\d-\d\dT\d\d:\d\d:00Z")


@pytest.fixture
def config(config: Config) -> Config:
    """A short acknowledgement timeout: a daemon stopped under load drains in 1.5 s, not 11."""
    return dataclasses.replace(config, ack_timeout_s=0.5, shutdown_grace_s=1.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _sending(*args: str) -> list[str]:
    """A replay of single posts long enough to be stopped in the middle."""
    return ["replay", "--sites", "200", "--hours", "2", "--concurrency", "4", *args]


_STORED = (
    "SELECT meter_id, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " FROM meter_readings UNION ALL"
    " SELECT vehicle_id, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " FROM vehicle_readings"
)


async def _acked(acks: Path, postgres: Postgres, database: str) -> list[str]:
    """The log's lines, each checked whole and present in the database."""
    text = await trio.Path(acks).read_text()
    assert text.endswith("\n"), "the last line is whole"
    lines = text.splitlines()
    assert all(_ACK_LINE.fullmatch(line) for line in lines), lines[:3]
    stored = {"\t".join(row) for row in await postgres.aquery(database, _STORED)}
    missing = set(lines) - stored
    assert not missing, sorted(missing)[:3]
    return lines


async def _lines_at_least(path: Path, count: int) -> None:
    async def enough() -> bool:
        file = trio.Path(path)
        return await file.exists() and (await file.read_bytes()).count(b"\n") >= count

    await eventually(enough)


async def test_no_engine_at_the_url_is_one_sentence_and_exit_1() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    done = await _loadgen("replay", "--url", url, "--sites", "3")
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert len(err.splitlines()) == 1, err
    assert url in err
    assert "connection refused" in err
    assert "--url" in err
    assert done.stdout == b""


async def test_a_url_that_is_not_the_engine_is_said_so(daemon: Running) -> None:
    done = await _loadgen("replay", "--url", f"{daemon.url}/elsewhere", "--sites", "3")
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert len(err.splitlines()) == 1, err
    assert "GET /healthz with 404" in err
    assert "check --url" in err


async def _serving(
    config: Config,
    stopped: trio.Event,
    *,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await run(config, task_status=task_status)
    finally:
        stopped.set()


async def test_linking_rides_out_an_engine_restart(config: Config, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    first_stopped = trio.Event()
    async with trio.open_nursery() as engines:
        first: Running = await engines.start(_serving, config, first_stopped)
        args = ["replay", "--url", first.url, "--sites", "300", "--hours", "1", "--batch", "600"]
        async with start_loadgen(
            *args, "--concurrency", "2", "--verify-sample", "20", "--json", str(summary)
        ) as loadgen:
            await loadgen.wait_for_stderr("linking ")
            first.stop.set()
            await first_stopped.wait()
            again = dataclasses.replace(config, port=urlsplit(first.url).port or 0)
            second: Running = await engines.start(_serving, again, trio.Event())
            code = await loadgen.finished()
        second.stop.set()
    assert code == 0, loadgen.stderr.decode()
    result: dict[str, Any] = json.loads(summary.read_text())
    assert result["links"]["linked"] == 300
    assert result["links"]["retries"] > 0, "the restart came while linking"
    assert result["verification"]["checked"] == 20
    assert result["verification"]["mismatch_count"] == 0


@dataclass(frozen=True)
class _Ended:
    code: int
    out: str
    err: str
    summary: dict[str, Any] | None
    acks: list[Path]

    def last_line_starts(self, text: str) -> None:
        assert "Traceback" not in self.err
        assert self.err.splitlines()[-1].startswith(f"ingest-loadgen: {text}"), self.err


async def _send_until(
    daemon: Running, tmp_path: Path, end: Callable[[Started], None], *extra: str
) -> _Ended:
    """A run with an acknowledgement log per process, ended by ``end`` once each log has
    lines."""
    ack_log, summary = tmp_path / "acks.tsv", tmp_path / "summary.json"
    args = _sending("--url", daemon.url, "--ack-log", str(ack_log), "--json", str(summary))
    processes = int(extra[extra.index("--processes") + 1]) if "--processes" in extra else 1
    acks = [ack_log] if processes == 1 else [Path(f"{ack_log}.{i}") for i in range(processes)]
    async with start_loadgen(*args, *extra) as loadgen:
        for path in acks:
            await _lines_at_least(path, 50)
        end(loadgen)
        code = await loadgen.finished()
    written = await trio.Path(summary).exists()
    return _Ended(
        code,
        loadgen.stdout.decode(),
        loadgen.stderr.decode(),
        json.loads(await trio.Path(summary).read_text()) if written else None,
        acks,
    )


async def _all_acks(ended: _Ended, postgres: Postgres, database: str) -> list[str]:
    return [line for path in ended.acks for line in await _acked(path, postgres, database)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
async def test_a_signal_leaves_the_summary_and_a_whole_ack_log(
    daemon: Running, postgres: Postgres, database: str, tmp_path: Path, signum: signal.Signals
) -> None:
    ended = await _send_until(daemon, tmp_path, lambda run: run.process.send_signal(signum))
    lines = await _all_acks(ended, postgres, database)
    if signum == signal.SIGKILL:
        assert ended.code == -signal.SIGKILL
        return
    assert ended.code == 130, ended.err
    ended.last_line_starts("interrupted by SIGINT;")
    assert "readings acknowledged" in ended.out
    assert ended.summary is not None
    assert ended.summary["stopped"] == "interrupted by SIGINT"
    assert ended.summary["readings_acked"] == len(lines)


async def test_sigterm_to_a_run_of_several_processes_sums_what_each_did(
    daemon: Running, postgres: Postgres, database: str, tmp_path: Path
) -> None:
    ended = await _send_until(
        daemon, tmp_path, lambda run: run.process.send_signal(signal.SIGTERM), "--processes", "2"
    )
    assert ended.code == 143, ended.err
    ended.last_line_starts("interrupted by SIGTERM;")
    assert ended.summary is not None
    assert ended.summary["readings_acked"] == len(await _all_acks(ended, postgres, database))


async def test_an_engine_gone_for_good_is_given_up_with_the_summary_so_far(
    daemon: Running, postgres: Postgres, database: str, tmp_path: Path
) -> None:
    ended = await _send_until(daemon, tmp_path, lambda _: daemon.stop.set(), "--give-up-s", "2")
    assert ended.code == 1, ended.err
    ended.last_line_starts(f"gave up: the engine at {daemon.url}")
    assert "--give-up-s" in ended.err.splitlines()[-1]
    assert ended.summary is not None
    assert ended.summary["stopped"].startswith("gave up")
    lines = await _all_acks(ended, postgres, database)
    assert ended.summary["readings_acked"] == len(lines)
    assert 0 < len(lines) < 200 * 120 * 2, "stopped partway"
