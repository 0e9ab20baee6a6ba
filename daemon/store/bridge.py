"""The one bridge between trio and asyncpg: a pool on a trio-asyncio loop, and every call to it.

Every call crosses the bridge once (a flush is one hop, not one per statement) and is shielded
from trio cancellation: cancelling asyncpg in the middle of a transaction exit or a connection
release can leak the connection, so a call always runs to its end, bounded instead by asyncpg's
own timeouts. Driver exceptions are translated here: connection trouble becomes
``StoreUnavailable`` (retry), anything else ``StoreError``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, ParamSpec, TypeVar

import asyncpg
import trio
import trio_asyncio
from asyncpg.pool import PoolConnectionProxy

from daemon.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")

_TRANSIENT: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions
    asyncpg.exceptions.ConnectionDoesNotExistError,  # closed under us
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, restart, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.TransactionRollbackError,  # class 40: serialization failure, deadlock
    # A pooled connection cut by a server restart can be left mid-operation ("cannot switch to
    # state ..."); the pool discards it when its reset fails, so a retry gets a fresh one.
    asyncpg.exceptions.InternalClientError,
)
_CLOSE_DEADLINE_S: Final = 5.0
_COMMAND_TIMEOUT_S: Final = 30.0
_CONNECT_TIMEOUT_S: Final = 10.0


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A released connection goes back to the pool as it is, without asyncpg's reset query (a
    round trip per release, four statements for PostgreSQL): nothing here leaves session state
    behind. Locks are transaction-scoped, settings are a function's own, and there are no
    listeners, cursors or prepared statements of our own making. asyncpg still rolls back a
    transaction left open before it calls this."""


def _is_transient(error: BaseException) -> bool:
    """Connection trouble, even when it surfaces as another error: a connection cut in the
    middle of a transaction makes the transaction's exit raise ``InterfaceError`` ("the
    underlying connection is closed"), with the real cause left in ``__context__``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _TRANSIENT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Bridge:
    """A pool of connections to one database, called from trio."""

    def __init__(self, pool: asyncpg.Pool, loop: Any) -> None:
        self.pool = pool
        self._loop = loop
        self._context = contextvars.copy_context()
        """Made where the bridge is opened: the loop's, with no request in it."""

    async def call(
        self, fn: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """``fn(*args, **kwargs)`` on the asyncio loop, to its end, its errors translated."""
        try:
            with trio.CancelScope(shield=True):
                # In the bridge's own context, not the caller's: asyncpg's timers copy the
                # context they are made in, and the loop keeps a cancelled timer until it would
                # have fired, which kept whole requests alive
                # (docs/performance.md, "Reads: garbage collection").
                task = self._loop.create_task(fn(*args, **kwargs), context=self._context.copy())
                result: _T = await trio_asyncio.run_aio_future(task)
        except (*_TRANSIENT, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            kind = StoreUnavailable if _is_transient(error) else StoreError
            raise kind(f"{type(error).__name__}: {error}") from error
        return result

    async def on_connection(self, work: Callable[[PoolConnectionProxy], Awaitable[_T]]) -> _T:
        """``work`` on one connection of the pool (call it through ``call``)."""
        async with self.pool.acquire() as conn:
            return await work(conn)


@asynccontextmanager
async def open_bridge(dsn: str, *, pooler: bool, max_connections: int) -> AsyncIterator[Bridge]:
    """Open the loop and a pool, and close both on the way out, shielded and within a deadline
    (``Pool.close`` can otherwise wait forever)."""
    async with trio_asyncio.open_loop() as loop:
        try:
            pool = await trio_asyncio.aio_as_trio(asyncpg.create_pool, loop=loop)(
                dsn,
                min_size=1,
                max_size=max_connections,
                # PgBouncer in transaction mode cannot keep prepared statements.
                statement_cache_size=0 if pooler else 256,
                command_timeout=_COMMAND_TIMEOUT_S,
                # No timer per release (cancelled at the next acquire, then kept by the loop
                # for 5 minutes); the pool is small, so idle connections cost little.
                max_inactive_connection_lifetime=0,
                reset=_keep_session,
                timeout=_CONNECT_TIMEOUT_S,
                server_settings={"application_name": "ingestd"},
            )
        except _TRANSIENT as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {error}") from error
        try:
            yield Bridge(pool, loop)
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(_CLOSE_DEADLINE_S) as closing:
                    await trio_asyncio.aio_as_trio(pool.close, loop=loop)()
                if closing.cancelled_caught:
                    log.warning("pool did not close in time; terminating its connections")
                    pool.terminate()
