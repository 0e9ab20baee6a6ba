"""``ingest-loadgen``: simulate a fleet, drive the engine with it, and verify its answers.

Modes (see README and each mode's ``--help``): ``replay`` a past window as fast as the engine
takes it, ``realtime`` bursts on every minute boundary, ``rate`` open loop at a fixed number of
readings per second; ``--processes N`` splits the fleet across N worker processes.

However a run ends, it ends here, the same way: the summary of what was done (if sending
started), then, if it stopped early, one line saying why and what to do; never a traceback
(``--verbose`` logs the cause in full). Exit status: 0 when every answer was the expected one
(and, with ``--verify``, every checked site matched); 1 otherwise, or when it stopped because
of the engine; 2 for a usage error; 128 plus the signal's number when interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import trio

from loadgen import options
from loadgen.engine.client import Engine
from loadgen.results import progress, report
from loadgen.results.acklog import AckLog
from loadgen.results.tally import Tally
from loadgen.run import session, workers
from loadgen.run.stopping import Stop

log = logging.getLogger("loadgen")

_INTERRUPTED = 130


def _ack_path(args: argparse.Namespace) -> Path | None:
    """Where this process logs acknowledgements: with workers, each its own file."""
    if args.ack_log is None or (args.worker is None and args.processes > 1):
        return None
    if args.worker is None:
        single: Path = args.ack_log
        return single
    return Path(f"{args.ack_log}.{args.worker.split('/')[0]}")


@contextmanager
def _opened_ack_log(args: argparse.Namespace) -> Iterator[AckLog | None]:
    path = _ack_path(args)
    if path is None:
        yield None
        return
    try:
        ack_log = AckLog(path)
    except OSError as error:
        print(f"ingest-loadgen: --ack-log {path}: {error.strerror or error}", file=sys.stderr)
        sys.exit(2)
    with ack_log:
        yield ack_log


async def _run(
    args: argparse.Namespace, argv: Sequence[str], ack_log: AckLog | None, stop: Stop
) -> Tally:
    tally = Tally()
    engine = Engine(args.url, token=args.token, give_up_s=args.give_up_s)
    prepared = await session.prepare(args, engine, tally, stop)
    if prepared is None:
        return tally
    t0, _ = prepared
    if args.processes > 1:
        await workers.run_parent(args, argv, t0, tally, stop)
    else:
        await session.share(
            args,
            engine,
            t0=t0,
            part=(0, 1),
            ack_log=ack_log,
            tally=tally,
            stop=stop,
            live=partial(progress.every, progress.live_line(lambda: tally)),
        )
    return tally


def _finish(args: argparse.Namespace, tally: Tally, stop: Stop) -> int:
    """Print (and write) the summary; the exit status."""
    reason = stop.reason
    if tally.stats is not None:
        result = report.summary(tally.stats, tally.verification)
        result["links"] = None if tally.linking is None else tally.linking.to_json()
        result["stopped"] = None if reason is None else str(reason)
        result["run"] = {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
            if key not in {"worker", "t0", "token"}
        }
        print(report.table(result), flush=True)
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    if reason is not None:
        log.debug("the run stopped", exc_info=reason)
        so_far = "; the summary above is the run until then" if tally.stats is not None else ""
        print(f"ingest-loadgen: {reason}{so_far}", file=sys.stderr, flush=True)
        return reason.status
    stats, verification = tally.stats, tally.verification
    failed = (stats is not None and stats.unexpected > 0) or (
        verification is not None and verification.mismatch_count > 0
    )
    return 1 if failed else 0


async def _main(args: argparse.Namespace, argv: Sequence[str], ack_log: AckLog | None) -> int:
    stop = Stop()
    status = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop.watch_signals)
        if args.worker is not None:
            await workers.run_worker(args, stop, ack_log)
        else:
            status = _finish(args, await _run(args, argv, ack_log, stop), stop)
        nursery.cancel_scope.cancel()
    return status


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = options.parse(arguments)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    if args.verbose:
        log.setLevel(logging.DEBUG)
    try:
        with _opened_ack_log(args) as ack_log:
            status = trio.run(_main, args, arguments, ack_log)
    except KeyboardInterrupt:
        # A signal before the watcher was up, or after it was down: nothing to summarise.
        status = _INTERRUPTED
    sys.exit(status)
