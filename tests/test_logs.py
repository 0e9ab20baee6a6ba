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


@pytest.mark.parametrize(("level", "traceback"), [("info", False), ("debug", True)])
def test_the_driver_s_reconnect_failures_carry_a_traceback_only_at_debug(
    level: str, traceback: bool
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER_FAILS_TO_RECONNECT.format(level=level)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    (line,) = done.stderr.splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "asyncpg.pool"
    assert ("exc" in entry) is traceback
    if not traceback:
        assert entry["error"] == "[Errno 111] Connect call failed"
