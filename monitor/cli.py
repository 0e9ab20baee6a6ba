"""``ingest-monitor`` (or ``python -m monitor``): watch an ingestion daemon from a terminal.

Exit status 0 after quitting, 2 for a usage error (a bad URL or refresh interval), with one
sentence naming the flag or variable. The daemon being down is no error here: the monitor
says so and waits for it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from monitor.api.client import DaemonClient
from monitor.ui.app import MonitorApp
from monitor.ui.settings import Settings

DEFAULT_URL = "http://127.0.0.1:3000"
URL_VARIABLE = "INGEST_MONITOR_URL"
BEARER_VARIABLE = "INGEST_MONITOR_TOKEN"


def daemon_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL with a host, like {DEFAULT_URL}, not {text!r}"
        )
    return text.strip().rstrip("/")


def refresh_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return value


def timeout_for(refresh_s: float) -> float:
    """A little below the refresh interval, so a slow daemon is reported before the next poll
    is due; at least 1 s (a busy daemon is not a dead one) and at most 5 s."""
    return min(5.0, max(1.0, 0.9 * refresh_s))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingest-monitor",
        description=(
            "Watch an ingestion daemon: readiness, readings per second, queues and flushes, "
            "the fleet's devices and alerts, and each vehicle's charging efficiency."
        ),
        epilog=(
            f"Environment: {URL_VARIABLE} sets the URL and {BEARER_VARIABLE} the token (the flags "
            "win). Keys: press ? in the monitor."
        ),
    )
    parser.add_argument(
        "--url",
        type=daemon_url,
        help=f"the daemon (default: ${URL_VARIABLE}, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        help=(
            f"bearer token of role read (or admin), when the daemon has tokens (default: "
            f"${BEARER_VARIABLE}); prefer the variable, since a flag shows in the process list"
        ),
    )
    parser.add_argument(
        "--refresh-s",
        type=refresh_interval,
        default=2.0,
        help="seconds between polls (default 2); failed polls back off up to 15 s",
    )
    return parser


def settings_from(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[Settings, str | None]:
    """The settings and the token, from the flags and the environment; a bad value exits 2
    with argparse's message. The token stays out of ``Settings``, which the screens see."""
    parser = build_parser()
    args = parser.parse_args(argv)
    url: str | None = args.url
    if url is None:
        try:
            url = daemon_url(environ.get(URL_VARIABLE) or DEFAULT_URL)
        except argparse.ArgumentTypeError as error:
            parser.error(f"{URL_VARIABLE}: {error}")
    token: str | None = args.token or environ.get(BEARER_VARIABLE) or None
    return Settings(url=url, refresh_s=args.refresh_s), token


async def _run(settings: Settings, token: str | None) -> None:
    async with DaemonClient(
        settings.url, timeout_s=timeout_for(settings.refresh_s), token=token
    ) as client:
        await MonitorApp(client, settings).run_async()


def main(argv: Sequence[str] | None = None) -> None:
    settings, token = settings_from(sys.argv[1:] if argv is None else argv, os.environ)
    asyncio.run(_run(settings, token))
