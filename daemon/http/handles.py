"""What the HTTP front is given to work with (``AppHandles``), and how a route reaches it.

The front builds nothing itself: the composition root hands it these, and each blueprint reads
them from the app that serves the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from quart import current_app
from quart_trio import QuartTrio

from daemon.auth import Keyring
from daemon.ingest.intake import Ingest
from daemon.metrics.engine import Engine
from daemon.readings import Window
from daemon.reads import fleet
from daemon.reads.analytics import Hourly, Performance
from daemon.reads.records import LinkRecord, MeterStatus, VehicleStatus


class ReadModel(Protocol):
    """The part of the store the front reads and edits directly (never readings)."""

    async def get_link(self, vehicle_id: str) -> LinkRecord | None: ...
    async def put_link(self, vehicle_id: str, meter_id: str) -> None: ...
    async def delete_link(self, vehicle_id: str) -> bool: ...
    async def meter_status(self, meter_id: str) -> MeterStatus | None: ...
    async def vehicle_status(self, vehicle_id: str) -> VehicleStatus | None: ...
    async def performance(
        self, vehicle_id: str, start: datetime, end: datetime
    ) -> Performance | None: ...
    async def hourly(self, vehicle_id: str, first: datetime, last: datetime) -> Hourly | None: ...
    async def fleet_summary(self) -> Mapping[str, Any]: ...
    async def fleet_list(self, query: fleet.ListQuery) -> fleet.Page: ...


class MetricsView(Protocol):
    """The metrics as the front serves them, and what it adds to them."""

    def exposition(self, accept: str | None) -> tuple[bytes, str]: ...
    def engine(self, now: float) -> Engine: ...
    def rejected(self, kind: str, count: int = 1) -> None: ...
    def database_error(self, kind: str) -> None: ...
    def answered(self, route: str, method: str, status: int, seconds: float) -> None: ...


@dataclass(frozen=True)
class AppHandles:
    intake: Ingest
    store: ReadModel
    metrics: MetricsView
    not_ready_reason: Callable[[], Awaitable[str | None]]
    writers_reason: Callable[[], str | None]
    """Readiness without the database's ping, for answers that just read the database."""
    clock: Callable[[], datetime]
    max_ahead: timedelta
    """Clock skew allowed: how far in the future a reading's timestamp may be."""
    max_age: timedelta
    """Retention: how old a reading's timestamp may be."""
    ack_timeout_s: float
    body_timeout_s: float
    keyring: Keyring | None
    """The tokens that may call, or None when authentication is off."""

    def window(self) -> Window:
        """The span a reading's timestamp must fall in, as of now."""
        return Window(self.clock(), self.max_ahead, self.max_age)


class EngineApp(QuartTrio):
    """The Quart app, carrying its handles for the blueprints."""

    handles: AppHandles


def handles() -> AppHandles:
    """The handles of the app serving the current request."""
    return cast(EngineApp, current_app).handles
