"""``ingest-loadgen``: simulate a fleet, drive the engine with it, and verify its answers.

Modes (see README): ``replay`` a past window as fast as the engine takes it, ``realtime``
bursts on every minute boundary, ``rate`` open loop at a fixed number of readings per second.
With ``--processes N`` the fleet is split by site across N worker processes (each its own
interpreter), whose live statistics the parent merges into one display and one summary.

Exit status: 0 when every answer was the expected one (and, with ``--verify``, every checked
site matched); 1 otherwise; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import trio

from loadgen import report
from loadgen.fleet import build_sites, site_spec
from loadgen.ledger import Ledger
from loadgen.plan import Faults, Pacing, first_minute, minutes_for, plan, readings_for
from loadgen.runner import Drive, link_sites
from loadgen.stats import Stats
from loadgen.verify import Verification, verify

log = logging.getLogger("loadgen")

_PROGRESS_EVERY_S = 2.0


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("expected a fraction from 0 to 1")
    return value


def _id_prefix(text: str) -> str:
    if not re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._:-]{0,40})?", text, re.ASCII):
        raise argparse.ArgumentTypeError(
            "up to 41 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit"
        )
    return text


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("expected a positive number")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingest-loadgen",
        description="Simulated vehicles and meters against the ingestion engine, verified.",
    )
    parser.add_argument("mode", choices=["replay", "realtime", "rate"])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the engine")
    parser.add_argument(
        "--sites",
        type=_positive(int),
        default=10_000,
        help="sites: one vehicle and its charger's meter each (default 10000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same fleet and readings")
    parser.add_argument(
        "--hours",
        type=_positive(int),
        default=24,
        help="replay: the past window to simulate (default 24)",
    )
    parser.add_argument(
        "--duration-s",
        type=_positive(float),
        default=60.0,
        help="realtime and rate: how long to run (default 60)",
    )
    parser.add_argument("--rate", type=_positive(float), help="rate: readings per second")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="readings per POST /v1/ingest/batch; 0 posts single readings",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive(int),
        default=64,
        help="requests in flight per process (default 64)",
    )
    parser.add_argument(
        "--processes",
        type=_positive(int),
        default=1,
        help="worker processes, each with its share of the sites",
    )
    parser.add_argument(
        "--out-of-order",
        type=_fraction,
        default=0.0,
        help="share of readings sent two minutes late",
    )
    parser.add_argument(
        "--duplicates", type=_fraction, default=0.0, help="share of readings sent twice"
    )
    parser.add_argument(
        "--invalid",
        type=_fraction,
        default=0.0,
        help="invalid payloads per reading (each must get 400)",
    )
    parser.add_argument(
        "--clock-ahead",
        type=_fraction,
        default=0.0,
        help="readings stamped an hour past the newest minute, per reading (each must get 400)",
    )
    parser.add_argument(
        "--give-up-s",
        type=_positive(float),
        default=300.0,
        help="stop retrying a 503 after this long; the request is then uncertain",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="afterwards, check status and 24 h analytics of every site",
    )
    parser.add_argument(
        "--verify-sample",
        type=_positive(int),
        help="with --verify, check this many sites drawn at random",
    )
    parser.add_argument("--json", type=Path, help="write the summary here as JSON")
    parser.add_argument(
        "--ack-log",
        type=Path,
        help="write 'device<TAB>timestamp' per acknowledged reading"
        " (with --processes, one file per process: FILE.0, FILE.1, ...)",
    )
    parser.add_argument(
        "--id-prefix",
        default="",
        type=_id_prefix,
        help="put this before every device id, so that runs against one"
        " engine do not share devices (and --verify holds)",
    )
    parser.add_argument("--no-link", action="store_true", help="do not PUT the links first")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--t0", help=argparse.SUPPRESS)
    return parser


def _window(args: argparse.Namespace, now: datetime) -> tuple[datetime, int]:
    """First simulated minute and the number of minutes to simulate."""
    if args.mode == "replay":
        minutes = args.hours * 60
        return first_minute(now, minutes), minutes
    if args.mode == "rate":
        minutes = minutes_for(readings_for(args.rate, args.duration_s), args.sites)
        return first_minute(now, minutes), minutes
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return boundary, math.ceil(args.duration_s / 60)


async def _progress(snapshot: Callable[[], Stats], *, as_json: bool) -> None:
    """Every second as a JSON line on stdout (a worker, for its parent), or every two seconds
    as a line a person reads on stderr."""
    started = trio.current_time()
    last_acked, last_time = 0, started
    while True:
        await trio.sleep(1.0 if as_json else _PROGRESS_EVERY_S)
        now, stats = trio.current_time(), snapshot()
        if as_json:
            print(json.dumps({"progress": stats.to_json()}), flush=True)
        else:
            rate = (stats.readings_acked - last_acked) / (now - last_time)
            print(report.progress_line(stats, now - started, rate), file=sys.stderr, flush=True)
        last_acked, last_time = stats.readings_acked, now


def _merged(parts: Sequence[Stats]) -> Stats:
    total = Stats()
    for part in parts:
        total.merge(part)
    return total


async def _link(args: argparse.Namespace) -> None:
    if args.no_link:
        return
    print(f"linking {args.sites:,} vehicles to their meters", file=sys.stderr, flush=True)
    specs = [site_spec(args.seed, index, args.id_prefix) for index in range(args.sites)]
    await link_sites(args.url, specs, concurrency=args.concurrency)


async def _run_share(
    args: argparse.Namespace,
    *,
    t0: datetime,
    minutes: int,
    share: tuple[int, int],
    ack_log: IO[str] | None,
) -> tuple[Stats, float, Verification | None]:
    """Simulate and send this process's share of the sites: (index, of processes)."""
    index, processes = share
    sites = build_sites(args.seed, t0, range(index, args.sites, processes), args.id_prefix)
    ledger = Ledger(sites, t0)
    rate = (args.rate or 0.0) / processes
    pacing = Pacing(args.mode, rate=rate, first_minute_s=(t0 - datetime.now(UTC)).total_seconds())
    faults = Faults(args.out_of_order, args.duplicates, args.invalid, args.clock_ahead)
    requests = plan(
        ledger,
        minutes,
        batch=args.batch,
        pacing=pacing,
        faults=faults,
        seed=args.seed * 1000 + index,
        limit=readings_for(rate, args.duration_s) if args.mode == "rate" else None,
    )
    stats = Stats()
    drive = Drive(ledger, stats, ack_log, args.give_up_s)
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _progress(lambda: stats, as_json=args.worker is not None))
        await drive.run(args.url, requests, concurrency=args.concurrency)
        nursery.cancel_scope.cancel()
    elapsed = trio.current_time() - started
    verification = None
    if args.verify:
        positions = list(range(len(sites)))
        if args.verify_sample is not None:
            count = min(len(positions), max(1, args.verify_sample // processes))
            positions = random.Random(args.seed).sample(positions, count)
        print(f"verifying {len(positions):,} sites", file=sys.stderr, flush=True)
        verification = await verify(args.url, ledger, positions, concurrency=args.concurrency)
    return stats, elapsed, verification


async def _run_workers(
    args: argparse.Namespace, argv: Sequence[str], t0: datetime
) -> tuple[Stats, float, Verification | None]:
    """Start the worker processes; merge their live and final statistics."""
    live: list[Stats] = [Stats() for _ in range(args.processes)]
    finals: list[dict[str, Any] | None] = [None] * args.processes

    async def worker(index: int) -> None:
        command = [
            sys.executable,
            "-m",
            "loadgen",
            *argv,
            "--worker",
            f"{index}/{args.processes}",
            "--t0",
            t0.isoformat(),
            "--no-link",
        ]
        process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE)
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "progress" in message:
                    live[index] = Stats.from_json(message["progress"])
                else:
                    finals[index] = message
        if await process.wait() != 0 or finals[index] is None:
            raise RuntimeError(f"worker {index} failed with exit status {process.returncode}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _progress(lambda: _merged(live), as_json=False))
        async with trio.open_nursery() as workers:
            for index in range(args.processes):
                workers.start_soon(worker, index)
        nursery.cancel_scope.cancel()
    done = [final for final in finals if final is not None]
    stats = _merged([Stats.from_json(final["stats"]) for final in done])
    elapsed, verification = max(final["elapsed_s"] for final in done), None
    for final in done:
        if final["verification"] is not None:
            verification = verification or Verification()
            verification.merge(Verification.from_json(final["verification"]))
    return stats, elapsed, verification


def _ack_path(args: argparse.Namespace) -> Path | None:
    """Where this process logs acknowledgements: with workers, each its own file."""
    if args.ack_log is None or (args.worker is None and args.processes > 1):
        return None
    if args.worker is None:
        single: Path = args.ack_log
        return single
    return Path(f"{args.ack_log}.{args.worker.split('/')[0]}")


async def _main(args: argparse.Namespace, argv: Sequence[str], ack_log: IO[str] | None) -> int:
    if args.worker is not None:
        index, processes = (int(part) for part in args.worker.split("/"))
        t0 = datetime.fromisoformat(args.t0)
        _, minutes = _window(args, t0)
        stats, elapsed, verification = await _run_share(
            args, t0=t0, minutes=minutes, share=(index, processes), ack_log=ack_log
        )
        print(
            json.dumps(
                {
                    "stats": stats.to_json(),
                    "elapsed_s": elapsed,
                    "verification": None if verification is None else verification.to_json(),
                }
            ),
            flush=True,
        )
        return 0
    now = datetime.now(UTC)
    t0, minutes = _window(args, now)
    await _link(args)
    if args.mode == "realtime":
        t0, minutes = _window(args, datetime.now(UTC))
    print(
        f"{args.mode}: {args.sites:,} sites, {minutes:,} minutes from {t0:%Y-%m-%d %H:%M} UTC,"
        f" {'single posts' if args.batch <= 0 else f'batches of {args.batch}'},"
        f" {args.concurrency} in flight x {args.processes} process(es)",
        file=sys.stderr,
        flush=True,
    )
    if args.processes > 1:
        stats, elapsed, verification = await _run_workers(args, argv, t0)
    else:
        stats, elapsed, verification = await _run_share(
            args, t0=t0, minutes=minutes, share=(0, 1), ack_log=ack_log
        )
    result = report.summary(stats, elapsed, verification)
    result["run"] = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in vars(args).items()
        if key not in {"worker", "t0"}
    }
    print(report.table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    failed = stats.unexpected > 0 or (verification is not None and verification.mismatch_count > 0)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    if args.mode == "rate" and args.rate is None:
        build_parser().error("rate mode needs --rate")
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    path = _ack_path(args)
    with path.open("w") if path else nullcontext() as ack_log:
        status = trio.run(_main, args, arguments, ack_log)
    sys.exit(status)
