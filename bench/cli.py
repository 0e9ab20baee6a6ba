"""``ingest-bench``: the engine's performance, measured against its own reference points in one
run, printed as one table and written as JSON.

Everything a figure is compared with is measured in the same run, on the same machine, with
the same load tool, interleaved (rounds of every HTTP row in turn), so that a noisy neighbour
slows all of them alike rather than one:
- the engine (``--write-path grouped``) with every core's worth of workers, and with one;
- the HTTP stack's ceiling: the same daemon answering 201 without storing (``discard``);
- the original service's way of writing (``per-reading``): the baseline;
- the database's ceiling on the same schema (COPY, and the writers' own statement);
- reads (analytics, status) with a history loaded by the load generator's replay.
``--quick`` (the default) takes a few minutes; ``--full`` is the README's table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx

from bench import ceiling, services, wrk
from daemon.config import Config


@dataclass(frozen=True)
class Mode:
    name: str
    duration_s: float
    repeat: int
    history_sites: int
    history_hours: int
    ceiling_readings: int


QUICK = Mode(
    "quick", duration_s=10, repeat=1, history_sites=1_000, history_hours=2, ceiling_readings=200_000
)
FULL = Mode(
    "full",
    duration_s=20,
    repeat=3,
    history_sites=10_000,
    history_hours=24,
    ceiling_readings=1_000_000,
)

BATCH = 1_000
# Reads are measured for their latency, not for how many a closed loop can push through: a
# few dashboards polling, not a flood that would only measure queueing.
READ_CONNECTIONS = 4
WARM_UP_S = 3.0


@dataclass
class Row:
    key: str
    what: str
    tool: str
    readings_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    runs: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    what: str
    value: str
    target: str
    met: bool | None


def _say(message: str) -> None:
    print(f"[ingest-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _median_row(key: str, what: str, results: list[wrk.WrkResult], per_request: int) -> Row:
    rates = [r.per_second * per_request for r in results]
    return Row(
        key=key,
        what=what,
        tool="wrk",
        readings_per_s=statistics.median(rates),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.non_2xx + r.socket_errors for r in results),
        runs=[round(rate, 1) for rate in rates],
    )


@dataclass(frozen=True)
class HttpCase:
    key: str
    what: str
    daemon: str
    script: str
    connections: int
    per_request: int = 1
    args: tuple[str, ...] = ()


def _http_cases(workers: int) -> list[HttpCase]:
    w = f"{workers} worker{'s' if workers > 1 else ''}"
    single = "POST /v1/ingest"
    return [
        HttpCase(
            "engine_single_64", f"engine, {w}: {single}, 64 connections", "engine", "single.lua", 64
        ),
        HttpCase(
            "stack_single_64",
            f"stack ceiling (discard), {w}: {single}, 64 connections",
            "discard",
            "single.lua",
            64,
        ),
        HttpCase(
            "baseline_single_64",
            f"baseline (per-reading), {w}: {single}, 64 connections",
            "per-reading",
            "single.lua",
            64,
        ),
        HttpCase(
            "engine_single_256",
            f"engine, {w}: {single}, 256 connections",
            "engine",
            "single.lua",
            256,
        ),
        HttpCase(
            "stack_single_256",
            f"stack ceiling (discard), {w}: {single}, 256 connections",
            "discard",
            "single.lua",
            256,
        ),
        HttpCase(
            "engine1_single_64",
            f"engine, 1 worker: {single}, 64 connections",
            "engine-1",
            "single.lua",
            64,
        ),
        HttpCase(
            "stack1_single_64",
            f"stack ceiling (discard), 1 worker: {single}, 64 connections",
            "discard-1",
            "single.lua",
            64,
        ),
        HttpCase(
            "engine_batch_8",
            f"engine, {w}: POST /v1/ingest/batch of {BATCH:,}, 8 connections",
            "engine",
            "batch.lua",
            8,
            BATCH,
            (str(BATCH),),
        ),
    ]


def _sweep_cases(workers: int) -> list[HttpCase]:
    w = f"{workers} worker{'s' if workers > 1 else ''}"
    return [
        case
        for n, variant in enumerate(_SWEEP)
        for case in (
            HttpCase(
                f"sweep{n}_single_64",
                f"{variant}, {w}: single, 64 connections",
                variant,
                "single.lua",
                64,
            ),
            HttpCase(
                f"sweep{n}_batch_8",
                f"{variant}, {w}: batches of {BATCH:,}, 8 connections",
                variant,
                "batch.lua",
                8,
                BATCH,
                (str(BATCH),),
            ),
        )
    ]


def _rounds(
    daemons: dict[str, services.Daemon], cases: list[HttpCase], repeat: int, duration_s: float
) -> list[Row]:
    """Every case in turn, ``repeat`` times over, so that what is compared is interleaved."""
    results: dict[str, list[wrk.WrkResult]] = {case.key: [] for case in cases}
    for rep in range(repeat):
        for case in cases:
            _say(f"round {rep + 1}/{repeat}: {case.what}")
            path = "/v1/ingest/batch" if case.per_request > 1 else "/v1/ingest"
            results[case.key].append(
                wrk.run(
                    daemons[case.daemon].url + path,
                    case.script,
                    connections=case.connections,
                    duration_s=duration_s,
                    args=case.args,
                )
            )
    return [_median_row(c.key, c.what, results[c.key], c.per_request) for c in cases]


def _main_specs(workers: int) -> dict[str, tuple[int, dict[str, str]]]:
    return {
        "engine": (workers, {}),
        "engine-1": (1, {}),
        "discard": (workers, {"INGEST_WRITE_PATH": "discard"}),
        "discard-1": (1, {"INGEST_WRITE_PATH": "discard"}),
        "per-reading": (workers, {"INGEST_WRITE_PATH": "per-reading"}),
    }


# The group-commit alternatives: shards per worker (concurrent commits), and lingering for
# more readings after the first (the old timed tick) against committing as soon as free.
_SWEEP: Final = {
    "shards 1, linger 0": {"INGEST_SHARDS": "1"},
    "shards 2, linger 0": {"INGEST_SHARDS": "2"},
    "shards 4, linger 0": {"INGEST_SHARDS": "4"},
    "shards 1, linger 5 ms": {"INGEST_SHARDS": "1", "INGEST_LINGER_MS": "5"},
    "shards 4, linger 50 ms": {"INGEST_SHARDS": "4", "INGEST_LINGER_MS": "50"},
}


@contextmanager
def _daemons(
    pg: services.Postgres, specs: dict[str, tuple[int, dict[str, str]]], log: Path
) -> Iterator[dict[str, services.Daemon]]:
    """Every daemon of ``specs`` (name: workers and settings), each on its own database,
    ready and warmed up; stopped on the way out."""
    with ExitStack() as stack, log.open("ab") as log_file:
        daemons: dict[str, services.Daemon] = {}
        for number, (name, (count, settings)) in enumerate(specs.items()):
            url = pg.create_database(f"bench_{number}")
            daemon = services.start_daemon(
                name, url, workers=count, settings=settings, log_to=log_file
            )
            stack.callback(daemon.stop)
            daemons[name] = daemon
        for daemon in daemons.values():
            services.wait_ready(daemon)
            # Pools, prepared statements and partitions in place before anything is measured.
            wrk.run(f"{daemon.url}/v1/ingest", "single.lua", connections=16, duration_s=WARM_UP_S)
        yield daemons


def _load_history(url: str, mode: Mode, json_path: Path) -> Row:
    """The load generator's replay: a day (or, quick, a few hours) of history for the sites
    whose reads are measured next. Its own rate is a row too (measured by a Python client)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "loadgen",
            "replay",
            "--url",
            url,
            "--sites",
            str(mode.history_sites),
            "--hours",
            str(mode.history_hours),
            "--batch",
            str(BATCH),
            "--concurrency",
            "8",
            "--json",
            str(json_path),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result = json.loads(json_path.read_text())
    latency = result["latency_ms"]
    return Row(
        key="engine_replay_batch_8",
        what=f"engine: load generator replay, {mode.history_sites:,} sites x"
        f" {mode.history_hours} h, batches of {BATCH:,}, 8 in flight",
        tool="ingest-loadgen",
        readings_per_s=result["readings_per_s"],
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
        errors=result["unexpected"] + result["transport_errors"],
    )


_READS: Final = (
    (
        "analytics",
        "GET /v1/analytics/performance/:vehicleId (random site)",
        "/v1/analytics/performance/vehicle-%05d",
    ),
    (
        "status",
        "GET /v1/status/vehicle/:vehicleId (random site)",
        "/v1/status/vehicle/vehicle-%05d",
    ),
    (
        "hourly",
        "GET /v1/analytics/performance/:vehicleId/hourly (random site, 24 h)",
        "/v1/analytics/performance/vehicle-%05d/hourly",
    ),
    ("fleet_summary", "GET /v1/fleet/summary", "/v1/fleet/summary"),
    (
        "fleet_vehicles",
        "GET /v1/fleet/vehicles sorted by efficiency, first page of 100",
        "/v1/fleet/vehicles?sort=efficiency&order=desc",
    ),
)
_DEEP_PAGE: Final = 50


def _deep_page(url: str) -> str:
    """The vehicles list sorted by efficiency, ``_DEEP_PAGE`` pages of 100 in."""
    path = "/v1/fleet/vehicles?sort=efficiency&order=desc"
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(_DEEP_PAGE):
            cursor = http.get(path).raise_for_status().json()["nextCursor"]
            if cursor is None:
                break
            path = f"/v1/fleet/vehicles?sort=efficiency&order=desc&cursor={cursor}"
    return path


def _reads(url: str, mode: Mode) -> list[Row]:
    """Each read in turn, ``repeat`` times over, like the other rows."""
    deep = (
        "fleet_vehicles_deep",
        f"GET /v1/fleet/vehicles sorted by efficiency, page {_DEEP_PAGE + 1} of 100",
        _deep_page(url),
    )
    reads = (*_READS, deep)
    results: dict[str, list[wrk.WrkResult]] = {key: [] for key, _, _ in reads}
    for rep in range(mode.repeat):
        for key, what, path in reads:
            _say(f"round {rep + 1}/{mode.repeat}: {what}")
            results[key].append(
                wrk.run(
                    url,
                    "reads.lua",
                    connections=READ_CONNECTIONS,
                    duration_s=mode.duration_s,
                    args=(path, str(mode.history_sites)),
                )
            )
    rows = []
    for key, what, _ in reads:
        row = _median_row(key, f"{what}, {READ_CONNECTIONS} connections", results[key], 1)
        row.what += f", with {mode.history_hours} h of history for {mode.history_sites:,} sites"
        rows.append(row)
    return rows


_CEILINGS: Final = (
    ("db_statement", "the writers' statement (history and latest)", ceiling.writers_statement),
    ("db_staged", "COPY to staging, then history and latest from there", ceiling.staged_copy),
    ("db_copy", "COPY of the history rows alone", ceiling.copy),
)


def _ceiling(pg: services.Postgres, mode: Mode, concurrency: int) -> list[Row]:
    dsn = pg.create_database("ceiling")
    measured: dict[str, list[float]] = {key: [] for key, _, _ in _CEILINGS}
    for rep in range(mode.repeat):
        for key, _, measure in _CEILINGS:
            rows = ceiling.batches(mode.ceiling_readings, 5_000, tag=f"{key}{rep}")
            measured[key].append(measure(dsn, rows, concurrency).per_second)
    what = f"{mode.ceiling_readings:,} readings in batches of 5,000, {concurrency} connections"
    return [
        Row(
            key,
            f"database ceiling, {name}: {what}",
            "asyncpg",
            statistics.median(measured[key]),
            runs=[round(r, 1) for r in measured[key]],
        )
        for key, name, _ in _CEILINGS
    ]


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


def _share(value: float) -> str:
    return f"{value:.0%}"


def _times(value: float) -> str:
    return f"{value:.2f}x"


def _millis(value: float) -> str:
    return f"{value:.1f} ms"


def _at_least(what: str, value: float, target: float, shown: Callable[[float], str]) -> Comparison:
    return Comparison(what, shown(value), f">= {shown(target)}", value >= target)


def _below(what: str, value: float, target: float, shown: Callable[[float], str]) -> Comparison:
    return Comparison(what, shown(value), f"< {shown(target)}", value < target)


def _compare(rows: dict[str, Row], memory: dict[str, list[float]]) -> list[Comparison]:
    """The issue's targets, and the ratios worth reading beside them."""

    def rate(key: str) -> float:
        return rows[key].readings_per_s

    def ratio(a: str, b: str) -> float:
        return rate(a) / rate(b)

    def p99(key: str) -> float:
        value = rows[key].p99_ms
        assert value is not None
        return value

    peak = max(max(v) for v in memory.values())
    return [
        _at_least("engine single readings, 64 connections", rate("engine_single_64"), 2_000, _rate),
        _at_least(
            "  as a share of the stack's ceiling (same workers)",
            ratio("engine_single_64", "stack_single_64"),
            0.85,
            _share,
        ),
        _at_least(
            "  against the baseline per-reading writer",
            ratio("engine_single_64", "baseline_single_64"),
            1.5,
            _times,
        ),
        _below("  p99", p99("engine_single_64"), 100, _millis),
        Comparison(
            "engine single readings, 256 connections, share of the stack's ceiling",
            _share(ratio("engine_single_256", "stack_single_256")),
            "",
            None,
        ),
        _at_least("engine batches", rate("engine_batch_8"), 60_000, _rate),
        _at_least(
            "  as a share of the database's ceiling (writers' statement)",
            ratio("engine_batch_8", "db_statement"),
            0.70,
            _share,
        ),
        Comparison("  as a share of COPY", _share(ratio("engine_batch_8", "db_copy")), "", None),
        _below("analytics p99", p99("analytics"), 10, _millis),
        _below("status p99", p99("status"), 10, _millis),
        *(
            _below(f"{key.replace('_', ' ')} p99", p99(key), 50, _millis)
            for key in ("fleet_summary", "fleet_vehicles", "fleet_vehicles_deep", "hourly")
        ),
        _below("peak memory of a daemon process", peak, 300, lambda mb: f"{mb:.0f} MB"),
        Comparison(
            "scaling 1 -> N workers, engine",
            _times(ratio("engine_single_64", "engine1_single_64")),
            "",
            None,
        ),
        Comparison(
            "scaling 1 -> N workers, stack ceiling",
            _times(ratio("stack_single_64", "stack1_single_64")),
            "",
            None,
        ),
    ]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def _rows_table(rows: list[Row]) -> list[str]:
    return [
        "| what | readings/s | p50 ms | p99 ms | errors | measured by |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        *(
            f"| {r.what} | {r.readings_per_s:,.0f} | {_ms(r.p50_ms)} | {_ms(r.p99_ms)} |"
            f" {r.errors} | {r.tool} |"
            for r in rows
        ),
    ]


def render(rows: list[Row], comparisons: list[Comparison], memory: dict[str, list[float]]) -> str:
    lines = _rows_table(rows)
    lines += ["", "| comparison | measured | target | |", "| --- | ---: | --- | --- |"]
    mark: dict[bool | None, str] = {True: "met", False: "NOT met", None: ""}
    lines += [f"| {c.what} | {c.value} | {c.target} | {mark[c.met]} |" for c in comparisons]
    lines += ["", "| daemon | peak memory per serving process (MB) |", "| --- | --- |"]
    lines += [
        f"| {name} | {', '.join(f'{m:.0f}' for m in peaks)} |" for name, peaks in memory.items()
    ]
    return "\n".join(lines)


def _changes(previous: dict[str, Any], rows: list[Row]) -> str:
    before = {row["key"]: row["readings_per_s"] for row in previous["rows"]}
    lines = ["| what | before | now | change |", "| --- | ---: | ---: | ---: |"]
    for row in rows:
        if before.get(row.key):
            change = row.readings_per_s / before[row.key] - 1
            lines.append(
                f"| {row.what} | {before[row.key]:,.0f} | {row.readings_per_s:,.0f} |"
                f" {change:+.0%} |"
            )
    return "\n".join(lines)


def _earlier_run(path: str) -> dict[str, Any]:
    try:
        earlier: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {error}") from None
    return earlier


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingest-bench", description=__doc__.split("\n\n")[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--quick",
        action="store_const",
        const=QUICK,
        dest="mode",
        help="a few minutes, a smaller history (the default)",
    )
    scale.add_argument(
        "--full",
        action="store_const",
        const=FULL,
        dest="mode",
        help="the README's table: longer runs, 3 rounds, a day of history for 10,000 sites",
    )
    parser.set_defaults(mode=QUICK)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of the engine and the stack ceiling (default: one per core)",
    )
    parser.add_argument(
        "--postgres",
        type=int,
        choices=services.VERSIONS,
        default=services.DEFAULT_VERSION,
        help="the PostgreSQL the engine and the ceilings run on, of those installed: 18 keeps"
        " replaced readings' values with RETURNING old, 15 to 17 with a row trigger (default 18)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results.json"),
        help="where to write the results (default bench-results.json)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="instead of the table: single posts and batches against the group-commit"
        " alternatives (shards per worker, linger), to choose the defaults by",
    )
    parser.add_argument(
        "--compare",
        type=_earlier_run,
        help="an earlier run's JSON file: also print how each row moved",
    )
    return parser


def _write_json(path: Path, started: datetime, postgres: int, result: dict[str, Any]) -> None:
    path.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
                "machine": {
                    "cpus": os.cpu_count(),
                    "postgres": postgres,
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                **result,
            },
            indent=2,
        )
        + "\n"
    )
    _say(f"written {path}")


def _sweep(pg: services.Postgres, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    mode: Mode = args.mode
    specs = {variant: (args.workers, settings) for variant, settings in _SWEEP.items()}
    with _daemons(pg, specs, log) as daemons:
        rows = _rounds(daemons, _sweep_cases(args.workers), mode.repeat, mode.duration_s)
    print("\n".join(_rows_table(rows)))
    return {
        "sweep": True,
        "mode": asdict(mode),
        "workers": args.workers,
        "rows": [asdict(row) for row in rows],
    }


def _benchmark(pg: services.Postgres, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    mode: Mode = args.mode
    with _daemons(pg, _main_specs(args.workers), directory / "daemons.log") as daemons:
        rows = _rounds(daemons, _http_cases(args.workers), mode.repeat, mode.duration_s)
        engine = daemons["engine"]
        _say(f"loading history: {mode.history_sites:,} sites x {mode.history_hours} h")
        rows.append(_load_history(engine.url, mode, directory / "replay.json"))
        _say("settling the database after the load: vacuum, analyse, fold, checkpoint")
        services.settle(engine.database_url)
        rows += _reads(engine.url, mode)
        memory = {name: d.peak_memory_mb() for name, d in daemons.items()}
    _say("database ceiling")
    # As many connections as the engine's writers: its workers times their shards.
    rows += _ceiling(pg, mode, args.workers * Config().shards)
    comparisons = _compare({row.key: row for row in rows}, memory)
    print(render(rows, comparisons, memory))
    if args.compare is not None:
        print()
        print(_changes(args.compare, rows))
    return {
        "mode": asdict(mode),
        "workers": args.workers,
        "rows": [asdict(row) for row in rows],
        "comparisons": [asdict(c) for c in comparisons],
        "peak_memory_mb": memory,
    }


def _exit_on_sigterm() -> None:
    """A SIGTERM ends the run as Ctrl-C does: through every ``with`` and ``finally`` on the way
    out, so that the daemons, load tools and PostgreSQL it started stop with it. By default
    the interpreter dies at once and leaves them all running."""

    def exit_now(signum: int, _frame: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    _exit_on_sigterm()
    try:
        wrk.check_available()
    except wrk.WrkMissing as missing:
        print(f"ingest-bench: {missing}", file=sys.stderr)
        sys.exit(2)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as scratch:
        directory = Path(scratch)
        _say(
            f"{args.mode.name} mode; starting PostgreSQL {args.postgres}"
            f" (daemon logs: {directory}/daemons.log)"
        )
        pg = services.Postgres(directory, args.postgres)
        try:
            if args.sweep:
                result = _sweep(pg, args, directory / "daemons.log")
            else:
                result = _benchmark(pg, args, directory)
        finally:
            pg.close()
    _write_json(args.json, started, args.postgres, result)
