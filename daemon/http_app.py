"""The REST front (API.md): links, reads and operations on Quart, with the two ingest routes
served in front of it as plain ASGI (``daemon.http_ingest``).

The only module that touches Quart. It gets its collaborators as ``AppHandles`` and builds
nothing itself. Errors all leave in the contract's one shape; a client mistake is a 4xx and
stores nothing; a 500 means a bug here, never bad input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from importlib import resources
from typing import Any, Final, Protocol

import trio
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from daemon import fleet
from daemon.api_errors import (
    JSON,
    ApiError,
    body_too_slow,
    encode,
    error_body,
    require_media_type,
    too_large,
)
from daemon.auth import Keyring
from daemon.errors import StoreError, StoreUnavailable
from daemon.http_auth import BearerAuth
from daemon.http_ingest import SINGLE_BODY_LIMIT, IngestRoutes
from daemon.http_metrics import HttpMetrics
from daemon.intake import Ingest
from daemon.metrics import Engine
from daemon.readings import (
    InvalidInput,
    Window,
    device_id,
    parse_hours,
    parse_json,
    parse_link,
)
from daemon.views import LinkRecord, MeterStatus, Performance, VehicleStatus

log = logging.getLogger(__name__)

_TIMEOUT_RETRY_AFTER_S: Final = 5
_HOURLY_MAX: Final = 168
_NO_LINK: Final = "No meter link found for this vehicle. Create a link via PUT /v1/links"


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
    async def hourly(
        self, vehicle_id: str, first: datetime, last: datetime
    ) -> fleet.Hourly | None: ...
    async def fleet_summary(self) -> dict[str, Any]: ...
    async def fleet_list(self, query: fleet.ListQuery) -> dict[str, Any]: ...


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


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(body), status, headers, content_type="application/json")


async def _body(limit: int, timeout_s: float) -> bytes:
    """The body, refused unread when its declared length is already over ``limit``, or when it
    is not all there within ``timeout_s``."""
    declared = request.content_length
    if declared is None or declared <= limit:
        with trio.move_on_after(timeout_s):
            data: bytes = await request.body
            if len(data) <= limit:
                return data
            raise too_large(limit)
        raise body_too_slow(timeout_s)
    raise too_large(limit)


def _finishing(app: ASGIFramework) -> ASGIFramework:
    """The Quart app, with the last send of every response shielded from cancellation.

    Quart-Trio answers from one task while another waits for the client's disconnect, and
    cancels both once either ends. Hypercorn, for its part, recycles the connection from inside
    the send of a response's last byte: it hands the app its disconnect (upon which Quart-Trio
    cancels), then starts the keep-alive timer, or closes the connection if the client asked
    to. Cancelled halfway, neither happens, and the connection stays open for good, idle or
    asked to close. Shielded, the send completes."""

    async def finishing_app(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        async def finish(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                with trio.CancelScope(shield=True):
                    await send(message)
            else:
                await send(message)

        await app(scope, receive, finish)

    return finishing_app


def create_app(handles: AppHandles) -> QuartTrio:
    app = QuartTrio(__name__)
    app.config["MAX_CONTENT_LENGTH"] = SINGLE_BODY_LIMIT
    openapi = resources.files("daemon").joinpath("openapi.json").read_bytes()

    def window() -> Window:
        return Window(handles.clock(), handles.max_ahead, handles.max_age)

    # --- errors ----------------------------------------------------------------------------

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return _json(
            error_body(error.status, error.message, error.problems), error.status, error.headers
        )

    @app.errorhandler(InvalidInput)
    async def invalid_input(error: InvalidInput) -> Response:
        return _json(error_body(400, error.message, error.problems), 400)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = {
            404: f"There is no {request.path}; the API is described at /openapi.json.",
            405: f"{request.path} does not take {request.method}; see /openapi.json.",
        }.get(status, error.description or HTTPStatus(status).description)
        allow = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
        return _json(error_body(status, message), status, allow)

    @app.errorhandler(StoreUnavailable)
    async def store_unavailable(error: StoreUnavailable) -> Response:
        handles.metrics.database_error("unavailable")
        log.warning("read failed: database unavailable", extra={"error": str(error)})
        body = error_body(503, "The database is unavailable right now. Retry after the delay.")
        return _json(body, 503, {"Retry-After": str(_TIMEOUT_RETRY_AFTER_S)})

    @app.errorhandler(StoreError)
    async def store_error(error: StoreError) -> Response:
        handles.metrics.database_error("error")
        log.error("database refused a statement", extra={"error": str(error)}, exc_info=error)
        return _json(error_body(500, "The database refused the request; this is a bug."), 500)

    # --- links -----------------------------------------------------------------------------

    @app.put("/v1/links")
    async def put_link() -> Response:
        require_media_type(request.headers.get("Content-Type"), JSON)
        link = parse_link(parse_json(await _body(SINGLE_BODY_LIMIT, handles.body_timeout_s)))
        await handles.store.put_link(link.vehicle_id, link.meter_id)
        return _json({"status": "ok"})

    @app.get("/v1/links/<vehicle_id>")
    async def get_link(vehicle_id: str) -> Response:
        record = await handles.store.get_link(device_id(vehicle_id, "vehicleId"))
        if record is None:
            raise ApiError(404, "No meter link found for this vehicle.")
        return _json(record.wire())

    @app.delete("/v1/links/<vehicle_id>")
    async def delete_link(vehicle_id: str) -> Response:
        if not await handles.store.delete_link(device_id(vehicle_id, "vehicleId")):
            raise ApiError(404, "No meter link found for this vehicle.")
        return Response(b"", 204)

    # --- reads -----------------------------------------------------------------------------

    @app.get("/v1/status/vehicle/<vehicle_id>")
    async def vehicle_status(vehicle_id: str) -> Response:
        status = await handles.store.vehicle_status(device_id(vehicle_id, "vehicleId"))
        if status is None:
            raise ApiError(404, "Vehicle not found")
        return _json(status.wire())

    @app.get("/v1/status/meter/<meter_id>")
    async def meter_status(meter_id: str) -> Response:
        status = await handles.store.meter_status(device_id(meter_id, "meterId"))
        if status is None:
            raise ApiError(404, "Meter not found")
        return _json(status.wire())

    @app.get("/v1/analytics/performance/<vehicle_id>")
    async def performance(vehicle_id: str) -> Response:
        vehicle_id = device_id(vehicle_id, "vehicleId")
        hours = parse_hours(request.args.get("hours"))
        end = handles.clock()
        result = await handles.store.performance(vehicle_id, end - timedelta(hours=hours), end)
        if result is None:
            raise ApiError(404, _NO_LINK)
        return _json(result.wire())

    @app.get("/v1/analytics/performance/<vehicle_id>/hourly")
    async def hourly(vehicle_id: str) -> Response:
        vehicle_id = device_id(vehicle_id, "vehicleId")
        hours = parse_hours(request.args.get("hours"), maximum=_HOURLY_MAX)
        last = fleet.hour_floor(handles.clock())
        result = await handles.store.hourly(vehicle_id, last - timedelta(hours=hours - 1), last)
        if result is None:
            raise ApiError(404, _NO_LINK)
        return _json(result.wire())

    # --- fleet -----------------------------------------------------------------------------

    @app.get("/v1/fleet/summary")
    async def fleet_summary() -> Response:
        row = await handles.store.fleet_summary()
        reason = handles.writers_reason()
        engine = handles.metrics.engine(time.time()).wire()
        engine["database"] = "ok" if reason is None else reason
        return _json(fleet.summary_wire(row, engine))

    @app.get("/v1/fleet/vehicles")
    async def fleet_vehicles() -> Response:
        query = fleet.parse_list_query(fleet.VEHICLES, request.args)
        return _json(await handles.store.fleet_list(query))

    @app.get("/v1/fleet/meters")
    async def fleet_meters() -> Response:
        query = fleet.parse_list_query(fleet.METERS, request.args)
        return _json(await handles.store.fleet_list(query))

    # --- operations ------------------------------------------------------------------------

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = handles.metrics.exposition(request.headers.get("Accept"))
        return Response(body, 200, content_type=content_type)

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        reason = await handles.not_ready_reason()
        if reason is not None:
            return _json({"status": "not_ready", "reason": reason}, 503)
        return _json({"status": "ready"})

    @app.get("/openapi.json")
    async def openapi_document() -> Response:
        return Response(openapi, 200, content_type="application/json")

    routes: ASGIFramework = IngestRoutes(
        _finishing(app.asgi_app),
        intake=handles.intake,
        window=window,
        ack_timeout_s=handles.ack_timeout_s,
        body_timeout_s=handles.body_timeout_s,
        rejections=handles.metrics,
    )
    if handles.keyring is not None:
        routes = BearerAuth(routes, handles.keyring)
    app.asgi_app = HttpMetrics(routes, handles.metrics)  # type: ignore[method-assign]
    return app
