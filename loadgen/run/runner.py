"""Drives a plan against the engine: one dispatcher and a fixed pool of workers; and the
links every site needs first.

The dispatcher sleeps until each request is due (open-loop and realtime pacing) and hands it
to a free worker; when every worker is busy it waits, and that wait counts in the latency,
which is measured from the due time. Workers deliver (retrying 503s after Retry-After), then
record the outcome in the ledger, the statistics and the acknowledgement log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import trio

from loadgen.engine.client import Engine
from loadgen.engine.delivery import Outcome, deliver, outcome
from loadgen.engine.pool import fan_out, feed_all
from loadgen.results.acklog import AckLog
from loadgen.results.stats import Stats
from loadgen.results.tally import Linking
from loadgen.simulation import wire
from loadgen.simulation.fleet import SiteSpec
from loadgen.simulation.ledger import Kind, Ledger
from loadgen.simulation.plan import Request

log = logging.getLogger(__name__)

_SHOWN_UNEXPECTED = 5


async def link_sites(
    engine: Engine, specs: list[SiteSpec], *, concurrency: int, into: Linking
) -> None:
    """Link every site's vehicle to its meter (PUT /v1/links), ``concurrency`` at a time."""

    async def link(http: httpx.AsyncClient, spec: SiteSpec) -> None:
        body = {"vehicleId": spec.vehicle_id, "meterId": spec.meter_id}
        _, retries = await engine.call(http, "PUT", "/v1/links", body=body)
        into.linked += 1
        into.retries += retries

    await fan_out(engine.client, concurrency, feed_all(specs), link)


class Drive:
    """One run's shared state: what the workers record into, and where acks are logged."""

    def __init__(
        self, engine: Engine, ledger: Ledger, stats: Stats, ack_log: AckLog | None
    ) -> None:
        self.engine = engine
        self.ledger = ledger
        self.stats = stats
        self.ack_log = ack_log
        self._shown = 0
        self._first_sent: float | None = None

    def _device(self, position: int, kind: Kind) -> str:
        spec = self.ledger.sites[position].spec
        return spec.meter_id if kind is Kind.METER else spec.vehicle_id

    def record(self, request: Request, result: Outcome, status: int | None) -> None:
        stats = self.stats
        if result is Outcome.EXPECTED:
            if request.refs:
                stats.readings_acked += len(request.refs)
                for position, minute, kind in request.refs:
                    self.ledger.acked(position, minute, kind)
                if self.ack_log is not None:
                    self.ack_log.write(
                        (self._device(position, kind), wire.timestamp(self.ledger.ts(minute)))
                        for position, minute, kind in request.refs
                    )
            else:
                stats.faults_rejected += 1
        elif result is Outcome.UNEXPECTED:
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
        delivered = await deliver(self.engine, http, request)
        now = trio.current_time()
        stats = self.stats
        stats.observe(now - due)
        stats.requests += 1
        stats.retries += delivered.retries
        stats.transport_errors += delivered.transport_errors
        status = None if delivered.response is None else delivered.response.status_code
        for answer in (*delivered.retried_statuses, status):
            stats.statuses["error" if answer is None else str(answer)] += 1
        result = outcome(status, request.expect)
        self.record(request, result, status)
        if self._first_sent is not None:
            stats.answered(now - self._first_sent)
        if request.burst is not None and request.refs and result is Outcome.EXPECTED:
            stats.burst(request.burst, len(request.refs), now - due)

    async def run(self, requests: Iterator[Request], *, concurrency: int) -> None:
        """Send every request when due; latency counts from then, waiting for a worker too."""
        start = trio.current_time()

        async def dispatch(send: trio.MemorySendChannel[tuple[Request, float]]) -> None:
            for request in requests:
                if request.release_s is None:
                    due = trio.current_time()
                else:
                    due = start + request.release_s
                    await trio.sleep_until(due)
                if self._first_sent is None:
                    self._first_sent = due
                self.stats.readings_sent += len(request.refs)
                await send.send((request, due))

        try:
            await fan_out(self.engine.client, concurrency, dispatch, self._deliver)
        finally:
            self.stats.elapsed_s = trio.current_time() - start
