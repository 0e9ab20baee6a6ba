"""``--processes N``: the fleet split by site across N worker processes (each its own
interpreter), whose live and final tallies the parent merges into one display and one summary.

A worker is this same command with a hidden ``--worker i/N`` (and the parent's first minute),
speaking JSON lines on stdout: ``{"progress": tally}`` every second, and last
``{"final": tally, "stopped": null | {"sentence", "status"}}``, which it writes however it ends.
When one worker stops (the engine gone, a refused token) or the parent is interrupted, the
parent sends SIGTERM to the others, so every one of them ends with its summary so far. The
token goes to workers in their environment, never on their command line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import trio

from loadgen.engine.client import Engine
from loadgen.errors import Stopped
from loadgen.options import TOKEN_VARIABLE
from loadgen.results import progress
from loadgen.results.acklog import AckLog
from loadgen.results.tally import Tally
from loadgen.run.session import share
from loadgen.run.stopping import Stop

_LIVE_EVERY_S = 1.0


def _without_token(argv: Sequence[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item == "--token":
            skip = True
        elif not item.startswith("--token="):
            kept.append(item)
    return kept


async def run_parent(
    args: argparse.Namespace, argv: Sequence[str], t0: datetime, tally: Tally, stop: Stop
) -> None:
    count = args.processes
    live = [Tally() for _ in range(count)]
    finals: list[Tally | None] = [None] * count
    running: list[trio.Process] = []
    env = dict(os.environ)
    if args.token is not None:
        env[TOKEN_VARIABLE] = args.token

    def stop_workers() -> None:
        for process in running:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)

    async def worker(index: int) -> None:
        command = [
            sys.executable,
            "-m",
            "loadgen",
            *_without_token(argv),
            "--worker",
            f"{index}/{count}",
            "--t0",
            t0.isoformat(),
            "--no-link",
        ]
        process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, env=env)
        running.append(process)
        if stop.reason is not None:
            process.send_signal(signal.SIGTERM)
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message: dict[str, Any] = json.loads(line)
                if "progress" in message:
                    live[index] = Tally.from_json(message["progress"])
                    continue
                finals[index] = Tally.from_json(message["final"])
                stopped = message["stopped"]
                if stopped is not None:
                    stop.request(Stopped(stopped["sentence"], stopped["status"]))
        code = await process.wait()
        if finals[index] is None:
            stop.request(
                Stopped(f"worker {index} ended with exit status {code}, without a summary")
            )

    def merged() -> Tally:
        total = Tally()
        for part in live:
            total.merge(part)
        return total

    with stop.on_request(stop_workers):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(progress.every, progress.live_line(merged))
            async with trio.open_nursery() as workers:
                for index in range(count):
                    workers.start_soon(worker, index)
            nursery.cancel_scope.cancel()
    for final in finals:
        tally.merge(final or Tally())


async def run_worker(args: argparse.Namespace, stop: Stop, ack_log: AckLog | None) -> None:
    """This process's part of the run; its tally on stdout as it goes and at the end."""
    index, count = (int(part) for part in args.worker.split("/"))
    tally = Tally()

    async def live() -> None:
        while True:
            await trio.sleep(_LIVE_EVERY_S)
            print(json.dumps({"progress": tally.to_json()}), flush=True)

    engine = Engine(args.url, token=args.token, give_up_s=args.give_up_s)
    await share(
        args,
        engine,
        t0=datetime.fromisoformat(args.t0),
        part=(index, count),
        ack_log=ack_log,
        tally=tally,
        stop=stop,
        live=live,
    )
    reason = stop.reason
    stopped = None if reason is None else {"sentence": str(reason), "status": reason.status}
    print(json.dumps({"final": tally.to_json(), "stopped": stopped}), flush=True)
