"""Drives a plan against the engine: one dispatcher and a fixed pool of workers.

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
from loadgen.fleet import SiteSpec
from loadgen.ledger import Kind, Ledger
from loadgen.plan import Request
from loadgen.pool import fan_out, feed_all
from loadgen.stats import Stats

log = logging.getLogger(__name__)

_SHOWN_UNEXPECTED = 5


async def link_sites(url: str, specs: list[SiteSpec], *, concurrency: int) -> None:
    """Link every site's vehicle to its meter (PUT /v1/links), retrying 503s."""

    async def link(http: httpx.AsyncClient, spec: SiteSpec) -> None:
        while True:
            response = await http.put(
                "/v1/links", json={"vehicleId": spec.vehicle_id, "meterId": spec.meter_id}
            )
            if response.status_code != 503:
                response.raise_for_status()
                return
            await trio.sleep(float(response.headers.get("Retry-After", "1")))

    await fan_out(url, concurrency, feed_all(specs), link)


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

    async def _deliver(self, http: httpx.AsyncClient, job: tuple[Request, float]) -> None:
        request, due = job
        delivered = await deliver(http, request, give_up_s=self.give_up_s)
        self.stats.observe(trio.current_time() - due)
        self.stats.requests += 1
        self.stats.retries += delivered.retries
        self.stats.transport_errors += delivered.transport_errors
        for status in (*delivered.retried_statuses, delivered.status):
            self.stats.statuses["error" if status is None else str(status)] += 1
        self.record(request, delivered.outcome, delivered.status)

    async def run(self, url: str, requests: Iterator[Request], *, concurrency: int) -> None:
        """Send every request when due; latency counts from then, waiting for a worker too."""

        async def dispatch(send: trio.MemorySendChannel[tuple[Request, float]]) -> None:
            start = trio.current_time()
            for request in requests:
                if request.release_s is None:
                    due = trio.current_time()
                else:
                    due = start + request.release_s
                    await trio.sleep_until(due)
                self.stats.readings_sent += len(request.refs)
                await send.send((request, due))

        await fan_out(url, concurrency, dispatch, self._deliver)
