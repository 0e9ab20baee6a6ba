"""Fixtures of the monitor's tests: a real daemon as a process, an HTTP server of odd answers,
and a way to wait in Pilot tests.

These tests are synchronous on purpose: Textual runs on asyncio, and the suite's trio mode would
run an ``async def`` test under trio. Each test drives its own ``asyncio.run``; every wait is
bounded by ``WAIT_S`` (generous: the machines are shared and noisy), and no assertion is about
how long something took.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from tests.conftest import Postgres

WAIT_S = 60.0


@pytest.fixture(autouse=True)
def plain_asyncio() -> Iterator[None]:
    """The monitor on the event loop it has in production. The daemon's tests import
    trio_asyncio, whose policy would otherwise run every ``asyncio.run`` on trio."""
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    yield
    asyncio.set_event_loop_policy(None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DaemonProcess:
    """``python -m daemon`` with one worker on a fixed port and database, so a test can stop it
    and start it again where the monitor expects it."""

    def __init__(
        self, database_url: str, port: int, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self._env = env or {}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None, "already running"
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "daemon", "--port", str(self.port), "--workers", "1"],
                env={
                    **os.environ,
                    "DATABASE_URL": self.database_url,
                    "INGEST_LOG_LEVEL": "warning",
                    **self._env,
                },
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            assert self._process.poll() is None, f"the daemon exited: {self.logs()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the daemon was not ready within {WAIT_S} s: {self.logs()}")

    def stop(self) -> None:
        """SIGTERM and wait for the clean exit the daemon promises; killed if it hangs."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the daemon did not stop on SIGTERM: {self.logs()}") from None
        assert code == 0, f"the daemon exited {code}: {self.logs()}"

    def logs(self) -> str:
        return self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""


@pytest.fixture
def ingestd(postgres: Postgres, tmp_path: Path) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(
        postgres.url(postgres.create_database()), free_port(), tmp_path / "ingestd.log"
    )
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


Route = tuple[int, str, bytes] | tuple[int, str, bytes, tuple[str, str]]
"""Status, content type, body and maybe one more header of one canned answer."""
_HANG_UP = 0


class OddServer:
    """A real HTTP server whose answers a test sets per path: what a broken daemon, or something
    that is not the daemon at all, might say. ``delay_s`` holds every answer back."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.delay_s = 0.0
        self.paths: list[str] = []
        self.authorization: str | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(server.delay_s)
                server.paths.append(self.path)
                server.authorization = self.headers.get("Authorization")
                path = self.path.split("?", 1)[0]
                status, content_type, body, *headers = server.routes.get(
                    path, (404, "application/json", b'{"statusCode": 404, "message": "nope"}')
                )
                if status == _HANG_UP:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on what the client makes of the answers."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def json(self, path: str, body: object, status: int = 200) -> None:
        self.routes[path] = (status, "application/json", json.dumps(body).encode())

    def raw(
        self,
        path: str,
        body: bytes,
        status: int = 200,
        content_type: str = "text/html",
        header: tuple[str, str] | None = None,
    ) -> None:
        self.routes[path] = (
            (status, content_type, body) if header is None else (status, content_type, body, header)
        )

    def hang_up(self, path: str) -> None:
        """Close the connection without a word, as a process killed mid-request does."""
        self.routes[path] = (_HANG_UP, "", b"")

    def __enter__(self) -> OddServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def odd_server() -> Iterator[OddServer]:
    with OddServer() as server:
        yield server


async def until(pilot: Pilot[Any], check: Callable[[], object], what: str) -> None:
    """Let the app run until ``check()`` is truthy; fail naming ``what`` after ``WAIT_S``."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still waiting after {WAIT_S} s for {what}")
        await pilot.pause(0.05)


def text_of(widget: Widget) -> str:
    """What a widget shows right now, as plain lines."""
    lines = widget.render_lines(Region(0, 0, *widget.outer_size))
    return "\n".join(line.text for line in lines)
