"""The daemon's read API over HTTP, as the monitor needs it: one call, one typed answer.

The only module that touches httpx. Every failure leaves as one of the three ``DaemonError``
kinds with a sentence a person can act on (``raise ... from``, so a debugger still sees the
cause), which is what lets the UI catch exactly one class and never show a traceback. No UI
import here (an import contract checks it), so the client is tested and reused on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar
from urllib.parse import quote

import httpx

from monitor.api import wire
from monitor.api.errors import BadAnswer, NotFound, Unreachable
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

_T = TypeVar("_T")


class DaemonApi(Protocol):
    """What the screens call; the HTTP client below, or fixed data in the snapshot tests."""

    async def readiness(self) -> Readiness: ...
    async def summary(self) -> FleetSummary: ...
    async def vehicles(self, query: ListQuery) -> Page[VehicleRow]: ...
    async def meters(self, query: ListQuery) -> Page[MeterRow]: ...
    async def vehicle_status(self, vehicle_id: str) -> VehicleStatus: ...
    async def meter_status(self, meter_id: str) -> MeterStatus: ...
    async def performance(self, vehicle_id: str) -> Performance: ...
    async def hourly(self, vehicle_id: str, hours: int = 24) -> Hourly: ...


class DaemonClient:
    """One connection pool to one daemon, closed with the client (``async with``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        token: str | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "ingest-monitor"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout_s, headers=headers)

    def __repr__(self) -> str:
        return f"<DaemonClient {self.url} timeout={self.timeout_s:g}s>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def readiness(self) -> Readiness:
        status, body = await self._get("/readyz", accept=(200, 503))
        return self._parsed("/readyz", lambda: wire.readiness(status, body))

    async def summary(self) -> FleetSummary:
        return await self._read("/v1/fleet/summary", wire.summary)

    async def vehicles(self, query: ListQuery) -> Page[VehicleRow]:
        return await self._read("/v1/fleet/vehicles", wire.vehicle_page, query.params())

    async def meters(self, query: ListQuery) -> Page[MeterRow]:
        return await self._read("/v1/fleet/meters", wire.meter_page, query.params())

    async def vehicle_status(self, vehicle_id: str) -> VehicleStatus:
        return await self._read(f"/v1/status/vehicle/{_segment(vehicle_id)}", wire.vehicle_status)

    async def meter_status(self, meter_id: str) -> MeterStatus:
        return await self._read(f"/v1/status/meter/{_segment(meter_id)}", wire.meter_status)

    async def performance(self, vehicle_id: str) -> Performance:
        return await self._read(
            f"/v1/analytics/performance/{_segment(vehicle_id)}", wire.performance
        )

    async def hourly(self, vehicle_id: str, hours: int = 24) -> Hourly:
        return await self._read(
            f"/v1/analytics/performance/{_segment(vehicle_id)}/hourly",
            wire.hourly,
            {"hours": str(hours)},
        )

    async def _read(
        self,
        path: str,
        parse: Callable[[object], _T],
        params: dict[str, str] | None = None,
    ) -> _T:
        _, body = await self._get(path, params)
        return self._parsed(path, lambda: parse(body))

    @staticmethod
    def _parsed(path: str, parse: Callable[[], _T]) -> _T:
        try:
            return parse()
        except BadAnswer as error:
            raise BadAnswer(f"unexpected answer from {path}: {error}") from error

    async def _get(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        accept: tuple[int, ...] = (200,),
    ) -> tuple[int, object]:
        """The status and decoded body of an accepted answer; every other outcome raised."""
        try:
            response = await self._http.get(path, params=params)
        except httpx.TimeoutException as error:
            raise Unreachable(f"no answer within {self.timeout_s:g} s") from error
        except httpx.ConnectError as error:
            raise Unreachable(f"cannot connect ({_reason(error)})") from error
        except httpx.TransportError as error:
            raise Unreachable(f"the connection broke ({_reason(error)})") from error
        except httpx.HTTPError as error:
            raise BadAnswer(f"{path} answered something unreadable ({error})") from error
        body = _decoded(response)
        if response.status_code in accept:
            if body is _NOT_JSON:
                raise BadAnswer(f"{path} answered {response.status_code} with something not JSON")
            return response.status_code, body
        message = wire.error_message(body) or response.reason_phrase or "no message"
        if response.status_code == 404:
            raise NotFound(message)
        raise BadAnswer(f"{path} answered {response.status_code}: {message}")


_NOT_JSON = object()


def _decoded(response: httpx.Response) -> object:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _segment(device_id: str) -> str:
    return quote(device_id, safe="")


def _reason(error: httpx.TransportError) -> str:
    """httpx often wraps an OSError whose text is the useful part ("Connection refused")."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return str(error).lower() or type(error).__name__
