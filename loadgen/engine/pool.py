"""A fixed number of workers, each with an HTTP client of its own holding one connection.

One shared httpx client with 64 connections spends most of its time choosing a connection
(httpcore scans all of them for every request: a profile of single-reading posts showed 70
percent of the generator's CPU there), so each worker owns its connection, the way wrk does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import trio

T = TypeVar("T")


async def fan_out(
    client: Callable[[], httpx.AsyncClient],
    workers: int,
    feed: Callable[[trio.MemorySendChannel[T]], Awaitable[None]],
    work: Callable[[httpx.AsyncClient, T], Awaitable[None]],
) -> None:
    """``feed`` sends items (and may pace them); each goes to the next free worker, so a busy
    pool makes ``feed`` wait. Returns once ``feed`` is done and every item is worked."""
    send, receive = trio.open_memory_channel[T](0)

    async def worker(inbox: trio.MemoryReceiveChannel[T]) -> None:
        async with client() as http, inbox:
            async for item in inbox:
                await work(http, item)

    async with trio.open_nursery() as nursery:
        async with receive:
            for _ in range(workers):
                nursery.start_soon(worker, receive.clone())
        async with send:
            await feed(send)


def feed_all(items: list[T]) -> Callable[[trio.MemorySendChannel[T]], Awaitable[None]]:
    async def feed(send: trio.MemorySendChannel[T]) -> None:
        for item in items:
            await send.send(item)

    return feed
