"""wrk, the C load tool, driven with the benchmark's Lua scripts and read back as numbers.

wrk measures every HTTP row of the table: one Python process cannot saturate the engine with
single-reading posts, and a load tool that is slower than what it measures measures itself.
Each script is ``lua/common.lua`` followed by the script itself; the common part prints a
summary line as JSON, so nothing depends on wrk's human-readable output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_SUMMARY_PREFIX = "BENCH "


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.duration_s


def check_available() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(
            "ingest-bench drives the engine with wrk, a C HTTP load tool; install it first"
            " (Debian and Ubuntu: apt-get install wrk)"
        )
    return path


def _script(name: str) -> str:
    lua = resources.files("bench").joinpath("lua")
    return lua.joinpath("common.lua").read_text() + "\n" + lua.joinpath(name).read_text()


def run(
    url: str,
    script: str,
    *,
    connections: int,
    duration_s: float,
    args: tuple[str, ...] = (),
    threads: int = 2,
) -> WrkResult:
    """Run wrk once against ``url`` and return its summary."""
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as directory:
        path = Path(directory) / script
        path.write_text(_script(script))
        out = subprocess.run(
            [
                check_available(),
                f"-t{min(threads, connections)}",
                f"-c{connections}",
                f"-d{duration_s:g}s",
                "--timeout",
                "30s",
                "-s",
                str(path),
                url,
                "--",
                *args,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    line = next(line for line in out.splitlines() if line.startswith(_SUMMARY_PREFIX))
    summary = json.loads(line.removeprefix(_SUMMARY_PREFIX))
    return WrkResult(
        requests=summary["requests"],
        duration_s=summary["duration_us"] / 1e6,
        non_2xx=summary["non_2xx"],
        socket_errors=summary["socket_errors"],
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        max_ms=summary["max_us"] / 1000,
    )
