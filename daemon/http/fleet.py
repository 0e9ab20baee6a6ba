"""The fleet views (docs/api.md, "Fleet views"): the summary and the two paged lists."""

from __future__ import annotations

import time

from quart import Blueprint, Response, request

from daemon.http import shapes
from daemon.http.handles import handles
from daemon.http.responses import json_response
from daemon.reads.fleet import METERS, VEHICLES, Kind, parse_list_query

blueprint = Blueprint("fleet", __name__)


@blueprint.get("/v1/fleet/summary")
async def summary() -> Response:
    row = await handles().store.fleet_summary()
    reason = handles().writers_reason()
    engine = shapes.engine(
        handles().metrics.engine(time.time()), "ok" if reason is None else reason
    )
    return json_response(shapes.summary(row, engine))


async def _list(kind: Kind) -> Response:
    query = parse_list_query(kind, request.args)
    return json_response(shapes.page(await handles().store.fleet_list(query)))


@blueprint.get("/v1/fleet/vehicles")
async def vehicles() -> Response:
    return await _list(VEHICLES)


@blueprint.get("/v1/fleet/meters")
async def meters() -> Response:
    return await _list(METERS)
