"""Drives a plan against the engine: one dispatcher, a fixed pool of workers, one HTTP client.

The dispatcher sleeps until each request is due (open-loop and realtime pacing) and hands it
to a free worker; when every worker is busy it waits, and that wait counts in the latency,
which is measured from the due time. Workers deliver (retrying 503s after Retry-After), then
record the outcome in the ledger and the statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import IO

import httpx
import trio

from loadgen import wire
from loadgen.delivery import Outcome, deliver
from loadgen.ledger import Kind, Ledger
from loadgen.plan import Request
from loadgen.stats import Stats

log = logging.getLogger(__name__)

_SHOWN_UNEXPECTED = 5


async def link_sites(http: httpx.AsyncClient, ledger: Ledger, *, concurrency: int) -> None:
    """Link every site's vehicle to its meter (PUT /v1/links), retrying 503s."""
    limiter = trio.CapacityLimiter(concurrency)

    async def link(position: int) -> None:
        spec = ledger.sites[position].spec
        async with limiter:
            while True:
                response = await http.put(
                    "/v1/links", json={"vehicleId": spec.vehicle_id, "meterId": spec.meter_id}
                )
                if response.status_code != 503:
                    response.raise_for_status()
                    return
                await trio.sleep(float(response.headers.get("Retry-After", "1")))

    async with trio.open_nursery() as nursery:
        for position in range(len(ledger.sites)):
            nursery.start_soon(link, position)


class Drive:
    """One run's shared state: what the workers record into, and where acks are logged."""

    def __init__(
        self, ledger: Ledger, stats: Stats, ack_log: IO[str] | None, give_up_s: float
    ) -> None:
        self.ledger = ledger
        self.stats = stats
        self.ack_log = ack_log
        self.give_up_s = give_up_s
        self._shown = 0

    def _device(self, position: int, kind: Kind) -> str:
        spec = self.ledger.sites[position].spec
        return spec.meter_id if kind is Kind.METER else spec.vehicle_id

    def record(self, request: Request, outcome: Outcome, status: int | None) -> None:
        stats = self.stats
        if outcome is Outcome.EXPECTED:
            if request.refs:
                stats.readings_acked += len(request.refs)
                for position, minute, kind in request.refs:
                    self.ledger.acked(position, minute, kind)
                    if self.ack_log is not None:
                        ts = wire.timestamp(self.ledger.ts(minute))
                        self.ack_log.write(f"{self._device(position, kind)}\t{ts}\n")
            else:
                stats.faults_rejected += 1
        elif outcome is Outcome.UNEXPECTED:
            stats.unexpected += 1
            if self._shown < _SHOWN_UNEXPECTED:
                self._shown += 1
                log.warning(
                    "unexpected answer %s (expected %s) to %s",
                    status,
                    request.expect,
                    request.body[:200].decode(errors="replace"),
                )
        else:
            for position, minute, kind in request.refs:
                self.ledger.uncertain(position, minute, kind)

    async def _worker(
        self, http: httpx.AsyncClient, inbox: trio.MemoryReceiveChannel[tuple[Request, float]]
    ) -> None:
        async with inbox:
            async for request, due in inbox:
                delivered = await deliver(http, request, give_up_s=self.give_up_s)
                self.stats.observe(trio.current_time() - due)
                self.stats.requests += 1
                self.stats.retries += delivered.retries
                self.stats.transport_errors += delivered.transport_errors
                for status in (*delivered.retried_statuses, delivered.status):
                    self.stats.statuses["error" if status is None else str(status)] += 1
                self.record(request, delivered.outcome, delivered.status)

    async def run(
        self,
        http: httpx.AsyncClient,
        requests: Iterator[Request],
        *,
        concurrency: int,
    ) -> None:
        send, receive = trio.open_memory_channel[tuple[Request, float]](0)
        async with trio.open_nursery() as nursery:
            async with receive:
                for _ in range(concurrency):
                    nursery.start_soon(self._worker, http, receive.clone())
            start = trio.current_time()
            async with send:
                for request in requests:
                    if request.release_s is None:
                        due = trio.current_time()
                    else:
                        due = start + request.release_s
                        await trio.sleep_until(due)
                    self.stats.readings_sent += len(request.refs)
                    await send.send((request, due))
