"""One run, phase by phase: make sure the engine is there, link the sites, then send this
process's share of the fleet and verify it.

Every phase runs under the stop's guard, so the engine going away, a refused token or a signal
ends the phase where it is and leaves the tally with what was done; nothing after it starts.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import trio

from loadgen.engine.client import Engine
from loadgen.results import progress, report
from loadgen.results.acklog import AckLog
from loadgen.results.stats import Stats
from loadgen.results.tally import Linking, Tally
from loadgen.results.verify import Verification, verify
from loadgen.run.runner import Drive, link_sites
from loadgen.run.stopping import Stop
from loadgen.simulation.fleet import build_sites, site_spec
from loadgen.simulation.ledger import Ledger
from loadgen.simulation.plan import Faults, Pacing, first_minute, minutes_for, plan, readings_for


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def window(args: argparse.Namespace, now: datetime) -> tuple[datetime, int]:
    """First simulated minute and the number of minutes to simulate."""
    if args.mode == "replay":
        minutes = args.hours * 60
        return first_minute(now, minutes), minutes
    if args.mode == "rate":
        minutes = minutes_for(readings_for(args.rate, args.duration_s), args.sites)
        return first_minute(now, minutes), minutes
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return boundary, math.ceil(args.duration_s / 60)


async def prepare(
    args: argparse.Namespace, engine: Engine, tally: Tally, stop: Stop
) -> tuple[datetime, int] | None:
    """The engine answers and the sites are linked: the window to send, or None if the run
    stopped on the way."""
    with stop.guard():
        await engine.probe()
        if not args.no_link:
            await _link(args, engine, tally)
    if stop.reason is not None:
        return None
    t0, minutes = window(args, datetime.now(UTC))
    in_flight = f"{args.concurrency} in flight" + (
        f" x {args.processes} processes" if args.processes > 1 else ""
    )
    say(
        report.start_line(
            args.mode,
            sites=args.sites,
            t0=t0,
            minutes=minutes,
            duration_s=args.duration_s or 0.0,
            rate=args.rate,
            batch=args.batch,
            in_flight=in_flight,
        )
    )
    return t0, minutes


async def _link(args: argparse.Namespace, engine: Engine, tally: Tally) -> None:
    linking = tally.linking = Linking(args.sites)
    vehicles = report.count(args.sites, "vehicle")
    say(f"linking {vehicles} to their meters, {args.concurrency} at a time")
    started = trio.current_time()
    specs = [site_spec(args.seed, index, args.id_prefix) for index in range(args.sites)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(progress.every, lambda: report.linking_line(linking.linked, args.sites))
        await link_sites(engine, specs, concurrency=args.concurrency, into=linking)
        nursery.cancel_scope.cancel()
    retried = f", {report.count(linking.retries, 'retry', 'retries')}" if linking.retries else ""
    say(
        f"linked {report.count(args.sites, 'site')}"
        f" in {report.duration(trio.current_time() - started)}{retried}"
    )


async def share(
    args: argparse.Namespace,
    engine: Engine,
    *,
    t0: datetime,
    part: tuple[int, int],
    ack_log: AckLog | None,
    tally: Tally,
    stop: Stop,
    live: Callable[[], Awaitable[None]],
) -> None:
    """Send this process's part of the sites, ``(index, of processes)``, then verify them;
    ``live`` shows progress meanwhile."""
    index, processes = part
    _, minutes = window(args, t0)
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
    tally.stats = Stats()
    drive = Drive(engine, ledger, tally.stats, ack_log)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(live)
        with stop.guard():
            await drive.run(requests, concurrency=args.concurrency)
        if args.verify and stop.reason is None:
            positions = list(range(len(sites)))
            if args.verify_sample is not None:
                count = min(len(positions), max(1, args.verify_sample // processes))
                positions = random.Random(args.seed).sample(positions, count)
            if processes == 1:
                say(f"verifying {report.count(len(positions), 'site')}")
            tally.verification = Verification()
            with stop.guard():
                await verify(
                    engine,
                    ledger,
                    positions,
                    concurrency=args.concurrency,
                    into=tally.verification,
                )
        nursery.cancel_scope.cancel()
