"""HTTP requests counted and timed, for every route, as the outermost ASGI layer.

It sits outside both the ingest routes and Quart, so it sees every answer. Labels are the
route's template, never the path (a device id in a label would make one series per device),
and methods outside the known few count as ``other``, so a client cannot grow the number of
series. A request whose client left before any answer was started is not counted.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)

_EXACT: Final = frozenset(
    {
        "/v1/ingest",
        "/v1/ingest/batch",
        "/v1/links",
        "/v1/fleet/summary",
        "/v1/fleet/vehicles",
        "/v1/fleet/meters",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    }
)
_ONE_ID: Final = (
    ("/v1/links/", "", "/v1/links/{vehicleId}"),
    ("/v1/status/vehicle/", "", "/v1/status/vehicle/{vehicleId}"),
    ("/v1/status/meter/", "", "/v1/status/meter/{meterId}"),
    ("/v1/analytics/performance/", "/hourly", "/v1/analytics/performance/{vehicleId}/hourly"),
    ("/v1/analytics/performance/", "", "/v1/analytics/performance/{vehicleId}"),
)
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


def route_of(path: str) -> str:
    """The template of the route that serves ``path``, or ``unmatched``."""
    if path in _EXACT:
        return path
    for prefix, suffix, template in _ONE_ID:
        if path.startswith(prefix) and path.endswith(suffix):
            device = path[len(prefix) : len(path) - len(suffix)]
            if device and "/" not in device:
                return template
    return "unmatched"


class Answered(Protocol):
    def answered(self, route: str, method: str, status: int, seconds: float) -> None: ...


class HttpMetrics:
    def __init__(self, app: ASGIFramework, observer: Answered) -> None:
        self._app = app
        self._observer = observer

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: ASGISendEvent) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            if status:
                method = scope["method"] if scope["method"] in _METHODS else "other"
                self._observer.answered(
                    route_of(scope["path"]), method, status, time.perf_counter() - started
                )
