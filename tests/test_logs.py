"""Logs as the daemon writes them: one JSON object a line, and tracebacks of libraries' known,
already reported failures only at the debug level. Run in a process of its own, since
configuring logging replaces the handlers of the process that does it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DRIVER_FAILS_TO_RECONNECT = """
import logging
from daemon import logs
logs.configure({level!r})
try:
    raise ConnectionRefusedError(111, "Connect call failed")
except OSError:
    logging.getLogger("asyncpg.pool").warning(
        "Failed to restore the pool connection floor; retrying", exc_info=True
    )
"""


def _only_line(program: str) -> dict[str, object]:
    """The one log line ``program`` writes, run in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    (line,) = done.stderr.splitlines()
    entry: dict[str, object] = json.loads(line)
    return entry


@pytest.mark.parametrize(("level", "traceback"), [("info", False), ("debug", True)])
def test_the_driver_s_reconnect_failures_carry_a_traceback_only_at_debug(
    level: str, traceback: bool
) -> None:
    entry = _only_line(DRIVER_FAILS_TO_RECONNECT.format(level=level))
    assert entry["logger"] == "asyncpg.pool"
    assert ("exc" in entry) is traceback
    if not traceback:
        assert entry["error"] == "[Errno 111] Connect call failed"


OUT_OF_DESCRIPTORS = """
import errno, logging, os
from daemon import logs
logs.configure("info")
for _ in range(5):
    try:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
    except OSError:
        # What trio logs each time accepting fails, ten times a second while it lasts.
        logging.getLogger("trio.serve_listeners").error(
            "accept returned %s (%s); retrying in %s seconds", "EMFILE",
            os.strerror(errno.EMFILE), 0.1, exc_info=True,
        )
"""


def test_running_out_of_descriptors_is_one_sentence_without_a_traceback() -> None:
    entry = _only_line(OUT_OF_DESCRIPTORS)
    assert "exc" not in entry
    message = str(entry["msg"])
    assert message.startswith("cannot accept connections: [Errno 24] Too many open files;")
    assert "ulimit -n" in message
