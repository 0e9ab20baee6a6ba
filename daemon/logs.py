"""Structured logs: one JSON object per line on stderr, so that any collector can parse them."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is a field.
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _RESERVED)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Worker(logging.Filter):
    """Stamps every line with the worker process that wrote it."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True


class _OutOfDescriptors(logging.Filter):
    """Trio logs a traceback each time accepting a connection fails for want of descriptors,
    ten times a second while it lasts. One sentence that
    says what to do, at most once every ``every_s``, is what an operator can use."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.last = -every_s

    def filter(self, record: logging.LogRecord) -> bool:
        if record.created - self.last < self.every_s:
            return False
        self.last = record.created
        record.msg = (
            "cannot accept connections: %s; new clients wait until idle connections close"
            " (INGEST_KEEP_ALIVE_S) or the limit on open files is raised (ulimit -n)"
        )
        record.args = (record.exc_info[1] if record.exc_info else "out of descriptors",)
        record.exc_info = None
        return True


class _ErrorWithoutTraceback(logging.Filter):
    """The driver logs a traceback each time it fails to reconnect while the database is down,
    which the writers and readiness already report in a sentence; its error is kept as a
    field, the traceback only at the debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not logging.getLogger().isEnabledFor(logging.DEBUG):
            record.error = str(record.exc_info[1])
            record.exc_info = None
        return True


def configure(level: str, *, worker: int | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    if worker is not None:
        handler.addFilter(_Worker(worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Hypercorn's per-request access log is noise at this rate; its errors still come through.
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
    accepting = logging.getLogger("trio.serve_listeners")
    accepting.filters[:] = [_OutOfDescriptors()]
    logging.getLogger("asyncpg.pool").filters[:] = [_ErrorWithoutTraceback()]
