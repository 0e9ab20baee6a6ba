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

A worker that exits on its own (killed, out of memory, crashed) is replaced, as Gunicorn's and
Uvicorn's supervisors do, while the others go on serving: its gauges leave ``/metrics`` with it,
and what it had acknowledged was committed before its answer, so nothing is lost. Deaths past
the restart policy (``restarts``) mean a fault that starting again will not fix: the others are
stopped in order and the parent exits 1 with ``WorkerDied``, saying why. A daemon of one worker
(``--workers 1``) has no parent: it serves in its own process, and the service manager that
runs it (systemd's ``Restart=``, compose's ``restart:``) is what starts it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from functools import partial

import trio

from daemon.config import Config, to_wire
from daemon.embedded.server import open_embedded
from daemon.http import serve
from daemon.metrics import files
from daemon.metrics.recorder import MULTIPROCESS_DIR
from daemon.process import port_probe, signals
from daemon.process.supervisor import Running
from daemon.restarts import Restarts

log = logging.getLogger(__name__)


class WorkerDied(Exception):
    """A worker process ended without being asked to, or failed to stop cleanly."""


class WorkerStartFailed(Exception):
    """A worker could not start and has said why on stderr itself (it exits 1 or 2 only after
    its critical log line), so the parent adds no second line: it exits with the same code."""

    def __init__(self, index: int, exit_code: int) -> None:
        super().__init__(f"worker {index} could not start (exit code {exit_code})")
        self.exit_code = exit_code


async def _spawn(metrics_dir: str) -> trio.Process:
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "daemon.process.worker"],
        env={**os.environ, MULTIPROCESS_DIR: metrics_dir},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )


async def _start(process: trio.Process, config: Config, index: int) -> None:
    """Hand the worker its configuration and return once it serves. If it exits first:
    ``WorkerStartFailed`` when it said why, else ``WorkerDied``."""
    assert process.stdin is not None
    assert process.stdout is not None
    message = json.dumps({"index": index, "config": to_wire(config)}) + "\n"
    said = b""
    try:
        await process.stdin.send_all(message.encode())
        while not said.endswith(b"\n"):
            chunk = await process.stdout.receive_some()
            if not chunk:
                break
            said += chunk
    except trio.BrokenResourceError:
        pass
    if said.endswith(b"\n"):
        return
    code = await process.wait()
    if code in {1, 2}:
        raise WorkerStartFailed(index, code)
    raise WorkerDied(f"worker {index} exited with code {code} while starting")


@dataclass
class _Slot:
    """One worker's place: its index, and the process that fills it now."""

    index: int
    process: trio.Process


async def _keep(
    slot: _Slot,
    *,
    config: Config,
    metrics_dir: str,
    stop: trio.Event,
    restarts: Restarts,
    failed: list[str],
) -> None:
    """Fill ``slot`` until the stop: a worker that exits on its own is replaced, unless workers
    die faster than the policy allows, which stops the daemon."""
    while True:
        code = await slot.process.wait()
        why = f"worker {slot.index} (pid {slot.process.pid}) exited with code {code}"
        if stop.is_set():
            if code != 0:
                failed.append(why)
            return
        files.forget(metrics_dir, slot.process.pid)
        await _close_pipes(slot.process)
        delay = restarts.after_death(trio.current_time())
        if delay is None:
            failed.append(f"workers keep dying ({restarts.summary()}), the last: {why}")
            stop.set()
            return
        log.error(
            "a worker exited on its own; starting another in its place",
            extra={"worker": slot.index, "pid": slot.process.pid, "exit_code": code},
        )
        await trio.sleep(delay)
        if stop.is_set():
            return
        slot.process = await _spawn(metrics_dir)
        with contextlib.suppress(WorkerStartFailed, WorkerDied):
            await _start(slot.process, config, slot.index)


async def _close_pipes(process: trio.Process) -> None:
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            await pipe.aclose()


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
    slots: list[_Slot] = []
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
        metrics_dir = resources.enter_context(files.metrics_dir())
        restarts = Restarts()
        async with trio.open_nursery() as nursery:
            await nursery.start(signals.run, stop)
            try:
                for index in range(config.worker_count):
                    slots.append(_Slot(index, await _spawn(metrics_dir)))
                    await _start(slots[-1].process, worker_config, index)
                for slot in slots:
                    nursery.start_soon(
                        partial(
                            _keep,
                            slot,
                            config=worker_config,
                            metrics_dir=metrics_dir,
                            stop=stop,
                            restarts=restarts,
                            failed=failed,
                        )
                    )
                pids = [slot.process.pid for slot in slots]
                log.info("ready", extra={"workers": pids, "port": port})
                task_status.started(Running(f"http://{serve.address(config.host, port)}", stop))
                await stop.wait()
                log.info("stopping the workers")
            finally:
                with trio.CancelScope(shield=True):
                    processes = [slot.process for slot in slots]
                    await _stop_all(processes, config.stop_s)
                    for process in processes:
                        await _close_pipes(process)
                nursery.cancel_scope.cancel()
    if failed:
        raise WorkerDied("; ".join(failed))
    log.info("stopped")
