"""Runs the HTTP front on Hypercorn inside this trio run (and so inside the loop bridge that
the store opened), and drains it on the stop event: new connections are refused, requests in
flight get ``grace_s`` to finish.

A connection idle for ``keep_alive_s`` (before its first request, between two, or while its
headers trickle in) is closed, and so is every idle one when the drain begins; this holds only
because the app lets Hypercorn finish its bookkeeping after each response (see
``daemon.http.app``). The front gets only as much grace as a request in flight can need.

At most ``max_connections`` connections are open at once. Hypercorn has no such limit (its
issue 81), so this module runs Hypercorn's own connection handler behind an accept loop of its
own: at the limit it stops accepting, and new clients wait in the kernel's listen backlog, as
HAProxy's ``maxconn`` and nginx's ``worker_connections`` make them wait, until a connection
closes. Descriptors held by clients can then never starve the pool, and an idle flood costs
the backlog, not the process. That loop is Hypercorn's ``worker_serve`` without TLS, QUIC and
``max_requests``, which the engine does not use; ``pyproject.toml`` pins Hypercorn to the minor
release it is written against.
"""

from __future__ import annotations

import logging
import resource
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

import hypercorn.config
import trio
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState, LifespanState
from hypercorn.utils import repr_socket_addr, wrap_app

from daemon import failures
from daemon.http import protocol

log = logging.getLogger(__name__)

# Room for a burst of connects (every device on the minute boundary): Hypercorn's default of
# 100 overflows at a few hundred simultaneous connects and clients stall for a second. The
# kernel caps it at net.core.somaxconn.
_BACKLOG = 4096
# Descriptors a worker needs besides its clients': the pool's connections are added to it;
# the rest is the listening socket, the event loops' wake-up pipes, the metrics' files, the
# log stream and the worker's link to its parent, with room to spare.
_OTHER_DESCRIPTORS = 64
_FULL_EVERY_S = 10.0


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT, so that several worker processes share one port and the
    kernel spreads connections over those that listen."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def hypercorn_config(bind: str, grace_s: float, keep_alive_s: float) -> hypercorn.config.Config:
    config = hypercorn.config.Config()
    config.bind = [bind]
    config.graceful_timeout = grace_s
    config.keep_alive_timeout = keep_alive_s
    config.backlog = _BACKLOG
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


def connection_limit(wanted: int, database_connections: int) -> int:
    """``wanted``, or fewer when the limit on open files leaves less room: then the clients
    wait in the backlog rather than fail to be accepted for want of descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    room = soft - database_connections - _OTHER_DESCRIPTORS
    if wanted <= room:
        return wanted
    limit = max(1, room)
    log.warning(
        f"at most {limit} connections at once, not {wanted}: the limit on open files is {soft}"
        " (raise it with ulimit -n, or lower INGEST_MAX_CONNECTIONS)"
    )
    return limit


class _Slots:
    """The connections a worker may still accept, and those open, counted as they come and go."""

    def __init__(self, limit: int, counted: Callable[[int], None]) -> None:
        self.limit = limit
        self._free = trio.Semaphore(limit)
        self._open = 0
        self._counted = counted
        self._full_said_at = -_FULL_EVERY_S

    async def take(self) -> None:
        """A slot for the next accept, once one is free."""
        if self._free.value == 0:
            now = trio.current_time()
            if now - self._full_said_at >= _FULL_EVERY_S:
                self._full_said_at = now
                log.warning(
                    f"{self.limit} connections open, the most allowed: new clients wait in the"
                    " listen backlog until one closes (INGEST_MAX_CONNECTIONS)"
                )
        await self._free.acquire()

    def untaken(self) -> None:
        """The accept the slot was taken for failed."""
        self._free.release()

    def opened(self) -> None:
        self._open += 1
        self._counted(self._open)

    def closed(self) -> None:
        self._open -= 1
        self._counted(self._open)
        self._free.release()


class _LimitedListener(trio.abc.Listener[trio.SocketStream]):
    """Accepts only while a slot is free; the connection's handler gives the slot back."""

    def __init__(self, inner: trio.SocketListener, slots: _Slots) -> None:
        self._inner = inner
        self._slots = slots

    async def accept(self) -> trio.SocketStream:
        await self._slots.take()
        try:
            stream = await self._inner.accept()
        except BaseException:
            self._slots.untaken()
            raise
        self._slots.opened()
        return stream

    async def aclose(self) -> None:
        await self._inner.aclose()


async def run(
    app: Any,
    *,
    host: str,
    port: int,
    grace_s: float,
    keep_alive_s: float,
    max_connections: int,
    stop: trio.Event,
    reuse_port: bool = False,
    connections: Callable[[int], None] = lambda _: None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Reports started with the bound addresses (``http://127.0.0.1:3000``), once listening.
    ``connections`` hears the number of open connections each time it changes."""
    protocol.install()
    bind = f"fd://{shared_port_socket(host, port).detach()}" if reuse_port else address(host, port)
    config = hypercorn_config(bind, grace_s, keep_alive_s)
    (sock,) = config.create_sockets().insecure_sockets
    sock.listen(config.backlog)
    asgi = wrap_app(app, config.wsgi_max_body_size, None)
    lifespan_state: LifespanState = {}
    lifespan = Lifespan(asgi, config, lifespan_state)
    context = WorkerContext(None)
    slots = _Slots(max_connections, connections)

    async def serve_connection(stream: trio.SocketStream) -> None:
        # Hypercorn annotates the stream as TLS, and serves a plain one as its worker does.
        state = ConnectionState(lifespan_state.copy())
        try:
            await TCPServer(asgi, config, context, state, stream)  # type: ignore[arg-type]
        except Exception as error:
            # One client's connection fails alone. Hypercorn's handler can raise out of a
            # connection, for one when a client leaves mid-body while an answer is being sent
            # (its error response then collides with that send), and in Hypercorn's own
            # accept loop that stops the server.
            log.warning(
                "a connection failed and was closed",
                extra={"error": "; ".join(repr(leaf) for leaf in failures.leaves(error))},
                exc_info=error if log.isEnabledFor(logging.DEBUG) else None,
            )
            await trio.aclose_forcefully(stream)
        finally:
            slots.closed()

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as connections_nursery:
            listener = _LimitedListener(
                trio.SocketListener(trio.socket.from_stdlib_socket(sock)), slots
            )
            task_status.started([f"http://{repr_socket_addr(sock.family, sock.getsockname())}"])
            try:
                async with trio.open_nursery() as accepting:
                    accepting.start_soon(
                        partial(
                            trio.serve_listeners,
                            serve_connection,
                            [listener],
                            handler_nursery=connections_nursery,
                        )
                    )
                    await stop.wait()
                    accepting.cancel_scope.cancel()
            finally:
                # Idle connections close at once; those in flight get the grace.
                await context.terminated.set()
                connections_nursery.cancel_scope.deadline = trio.current_time() + grace_s
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
