"""The parent of several worker processes: one port, one database, every core.

Owns the embedded PostgreSQL (started once, shared by the workers), a socket that reserves the
port (bound, never listening, so an ephemeral port is known before any worker binds it), and
the worker processes. Each worker is ``python -m daemon.process.worker``: a whole daemon with
its own shard writers and pool, binding the port with SO_REUSEPORT, so the kernel spreads
connections over them. A worker gets its configuration as one JSON line on its standard
input, which the parent then keeps open (end of file tells the worker that the parent is gone),
and answers ``ready`` on its standard output once it serves. Workers run in sessions of their
own, so that a terminal's Ctrl-C reaches only the parent, which stops them in order.

Shutdown: SIGTERM or SIGINT sets the stop event; every worker gets SIGTERM and drains as a
single daemon does (requests in flight, then the writers' final commits); the parent waits for
all of them within their own deadlines plus a margin, then stops the embedded server.

A worker that exits on its own takes the daemon down, visibly: the others are stopped in
order and the parent exits 1 with ``WorkerDied``. A worker only exits on its own after an
error that retrying does not fix (or a crash), so restarting it would hide the fault in a
loop; the service manager that restarts whole daemons (systemd, compose) decides.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import AsyncExitStack
from dataclasses import replace

import trio

from daemon.config import Config, to_wire
from daemon.embedded.server import open_embedded
from daemon.http import serve
from daemon.metrics.recorder import MULTIPROCESS_DIR
from daemon.process import port_probe, signals
from daemon.process.supervisor import Running

log = logging.getLogger(__name__)


class WorkerDied(Exception):
    """A worker process ended without being asked to, or failed to stop cleanly."""


class WorkerStartFailed(Exception):
    """A worker could not start and has said why on stderr itself (it exits 1 or 2 only after
    its critical log line), so the parent adds no second line: it exits with the same code."""

    def __init__(self, index: int, exit_code: int) -> None:
        super().__init__(f"worker {index} could not start (exit code {exit_code})")
        self.exit_code = exit_code


async def _start_worker(config: Config, index: int, metrics_dir: str) -> trio.Process:
    """Start one worker and return once it serves. If it exits first: ``WorkerStartFailed``
    when it said why, else ``WorkerDied``."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "daemon.process.worker"],
        env={**os.environ, MULTIPROCESS_DIR: metrics_dir},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    message = json.dumps({"index": index, "config": to_wire(config)}) + "\n"
    await process.stdin.send_all(message.encode())
    said = b""
    while not said.endswith(b"\n"):
        chunk = await process.stdout.receive_some()
        if not chunk:
            code = await process.wait()
            if code in {1, 2}:
                raise WorkerStartFailed(index, code)
            raise WorkerDied(f"worker {index} exited with code {code} while starting")
        said += chunk
    return process


async def _watch(process: trio.Process, index: int, stop: trio.Event, failed: list[str]) -> None:
    code = await process.wait()
    if stop.is_set() and code == 0:
        return
    why = f"worker {index} (pid {process.pid}) exited with code {code}"
    if not stop.is_set():
        log.critical("a worker exited on its own; stopping the daemon", extra={"worker": index})
    failed.append(why)
    stop.set()


async def _stop_all(processes: list[trio.Process], deadline_s: float) -> None:
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    with trio.move_on_after(deadline_s):
        for process in processes:
            await process.wait()
    for process in processes:
        if process.returncode is None:
            log.error("a worker did not stop in time; killing it", extra={"pid": process.pid})
            process.kill()
            await process.wait()


async def run(
    config: Config, *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED
) -> None:
    log.info("starting", extra={"config": config.describe()})
    stop = trio.Event()
    failed: list[str] = []
    processes: list[trio.Process] = []
    # Before the embedded server starts: a taken port is told at once.
    port_probe.ensure_free(config.host, config.port)
    async with AsyncExitStack() as resources:
        # Bound but never listening: it receives no connection, and keeps the port (an
        # ephemeral one included) for the workers until they all stop.
        reserved = resources.enter_context(serve.shared_port_socket(config.host, config.port))
        port = int(reserved.getsockname()[1])
        worker_config = replace(config, port=port)
        if config.dsn is None:
            dsn = await resources.enter_async_context(open_embedded(config.data_dir))
            worker_config = replace(worker_config, database_url=dsn)
        # The workers' metrics, in files that any of them reads for all (daemon.metrics.recorder).
        metrics_dir = resources.enter_context(tempfile.TemporaryDirectory(prefix="ingestd-"))
        async with trio.open_nursery() as nursery:
            await nursery.start(signals.run, stop)
            try:
                for index in range(config.worker_count):
                    process = await _start_worker(worker_config, index, metrics_dir)
                    processes.append(process)
                    nursery.start_soon(_watch, process, index, stop, failed)
                log.info("ready", extra={"workers": [p.pid for p in processes], "port": port})
                task_status.started(Running(f"http://{serve.address(config.host, port)}", stop))
                await stop.wait()
                log.info("stopping the workers")
            finally:
                with trio.CancelScope(shield=True):
                    await _stop_all(processes, config.stop_s)
                    for process in processes:
                        assert process.stdin is not None
                        await process.stdin.aclose()
                nursery.cancel_scope.cancel()
    if failed:
        raise WorkerDied("; ".join(failed))
    log.info("stopped")
