"""Facts the poll workers post to their screen, named in the past tense: each says what
happened, and the screen decides what to redraw. Workers never touch widgets themselves."""

from __future__ import annotations

from textual.message import Message

from monitor.api.errors import DaemonError
from monitor.api.wire import (
    FleetSummary,
    Hourly,
    ListQuery,
    MeterRow,
    MeterStatus,
    Page,
    Performance,
    Readiness,
    VehicleRow,
    VehicleStatus,
)


class ReadinessChecked(Message):
    def __init__(self, readiness: Readiness) -> None:
        super().__init__()
        self.readiness = readiness


class SummaryUpdated(Message):
    def __init__(self, summary: FleetSummary) -> None:
        super().__init__()
        self.summary = summary


class VehiclesUpdated(Message):
    def __init__(self, query: ListQuery, page: Page[VehicleRow]) -> None:
        super().__init__()
        self.query = query
        """What was asked: an answer to a query the user has since changed is dropped."""
        self.page = page


class MetersUpdated(Message):
    def __init__(self, query: ListQuery, page: Page[MeterRow]) -> None:
        super().__init__()
        self.query = query
        self.page = page


class VehicleDetailUpdated(Message):
    def __init__(
        self,
        status: VehicleStatus | None,
        performance: Performance | None,
        hourly: Hourly | None,
        meter: MeterStatus | None,
        no_link: str | None,
    ) -> None:
        super().__init__()
        self.status = status
        """None: the vehicle has never reported."""
        self.performance = performance
        self.hourly = hourly
        self.meter = meter
        self.no_link = no_link
        """The daemon's sentence when the vehicle has no meter link (a 404)."""


class DaemonAnswered(Message):
    """A whole poll cycle succeeded at ``at`` (monotonic seconds)."""

    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at


class PollFailed(Message):
    """A poll cycle failed; the data on screen stays, and the next try is ``retry_in_s`` away."""

    def __init__(self, problem: DaemonError, at: float, retry_in_s: float) -> None:
        super().__init__()
        self.problem = problem
        self.at = at
        self.retry_in_s = retry_in_s
