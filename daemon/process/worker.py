"""One worker process of several (``python -m daemon.process.worker``), started by
``daemon.process.parent``.

Reads its configuration and index as one JSON line on standard input, serves as a whole daemon
on the shared port, writes ``ready`` on standard output once it does, and stops on SIGTERM or
when its standard input ends (the parent is gone). Every log line carries its index.
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial

import trio

from daemon import cli, logs
from daemon.config import Config, from_wire
from daemon.process import supervisor


async def _serve(config: Config, index: int) -> None:
    parent = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(supervisor.run, config, parent=parent, worker=index))
        sys.stdout.write("ready\n")
        sys.stdout.flush()


def main() -> None:
    message = json.loads(sys.stdin.buffer.readline())
    config = from_wire(message["config"])
    logs.configure(config.log_level, worker=message["index"])
    cli.run_logged(partial(_serve, index=message["index"]), config)


if __name__ == "__main__":
    main()
