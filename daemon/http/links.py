"""Links (docs/api.md, "PUT /v1/links"): which meter each vehicle charges from."""

from __future__ import annotations

from quart import Blueprint, Response, request

from daemon.http import shapes
from daemon.http.errors import JSON, ApiError, require_media_type
from daemon.http.handles import handles
from daemon.http.ingest import SINGLE_BODY_LIMIT
from daemon.http.responses import json_response, read_body
from daemon.readings import device_id, parse_json, parse_link

blueprint = Blueprint("links", __name__)


def _no_link() -> ApiError:
    return ApiError(404, "No meter link found for this vehicle.")


@blueprint.put("/v1/links")
async def put_link() -> Response:
    require_media_type(request.headers.get("Content-Type"), JSON)
    link = parse_link(parse_json(await read_body(SINGLE_BODY_LIMIT)))
    await handles().store.put_link(link.vehicle_id, link.meter_id)
    return json_response({"status": "ok"})


@blueprint.get("/v1/links/<vehicle_id>")
async def get_link(vehicle_id: str) -> Response:
    record = await handles().store.get_link(device_id(vehicle_id, "vehicleId"))
    if record is None:
        raise _no_link()
    return json_response(shapes.link(record))


@blueprint.delete("/v1/links/<vehicle_id>")
async def delete_link(vehicle_id: str) -> Response:
    if not await handles().store.delete_link(device_id(vehicle_id, "vehicleId")):
        raise _no_link()
    return Response(b"", 204)
