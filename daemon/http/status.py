"""Latest state and analytics (docs/api.md, status and analytics): one device or one vehicle and
its meter at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from quart import Blueprint, Response, request

from daemon.http import shapes
from daemon.http.errors import ApiError
from daemon.http.handles import handles
from daemon.http.responses import json_response
from daemon.readings import device_id, parse_hours
from daemon.reads.analytics import HOURLY_MAX
from daemon.reads.window import hour_floor

blueprint = Blueprint("status", __name__)

_NO_LINK: Final = "No meter link found for this vehicle. Create a link via PUT /v1/links"


@blueprint.get("/v1/status/vehicle/<vehicle_id>")
async def vehicle_status(vehicle_id: str) -> Response:
    status = await handles().store.vehicle_status(device_id(vehicle_id, "vehicleId"))
    if status is None:
        raise ApiError(404, "Vehicle not found")
    return json_response(shapes.vehicle_status(status))


@blueprint.get("/v1/status/meter/<meter_id>")
async def meter_status(meter_id: str) -> Response:
    status = await handles().store.meter_status(device_id(meter_id, "meterId"))
    if status is None:
        raise ApiError(404, "Meter not found")
    return json_response(shapes.meter_status(status))


@blueprint.get("/v1/analytics/performance/<vehicle_id>")
async def performance(vehicle_id: str) -> Response:
    vehicle_id = device_id(vehicle_id, "vehicleId")
    hours = parse_hours(request.args.get("hours"))
    end = handles().clock()
    result = await handles().store.performance(vehicle_id, end - timedelta(hours=hours), end)
    if result is None:
        raise ApiError(404, _NO_LINK)
    return json_response(shapes.performance(result))


@blueprint.get("/v1/analytics/performance/<vehicle_id>/hourly")
async def hourly(vehicle_id: str) -> Response:
    vehicle_id = device_id(vehicle_id, "vehicleId")
    hours = parse_hours(request.args.get("hours"), maximum=HOURLY_MAX)
    last = hour_floor(handles().clock())
    result = await handles().store.hourly(vehicle_id, last - timedelta(hours=hours - 1), last)
    if result is None:
        raise ApiError(404, _NO_LINK)
    return json_response(shapes.hourly(result))
