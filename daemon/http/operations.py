"""Operations (docs/api.md, "Health and metrics"): liveness, readiness, metrics and the OpenAPI
document."""

from __future__ import annotations

from importlib import resources

from quart import Blueprint, Response, request

from daemon.http.handles import handles
from daemon.http.responses import json_response

blueprint = Blueprint("operations", __name__)

_OPENAPI = resources.files("daemon").joinpath("openapi.json").read_bytes()


@blueprint.get("/metrics")
async def metrics() -> Response:
    body, content_type = handles().metrics.exposition(request.headers.get("Accept"))
    return Response(body, 200, content_type=content_type)


@blueprint.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@blueprint.get("/readyz")
async def readyz() -> Response:
    reason = await handles().not_ready_reason()
    if reason is not None:
        return json_response({"status": "not_ready", "reason": reason}, 503)
    return json_response({"status": "ready"})


@blueprint.get("/openapi.json")
async def openapi_document() -> Response:
    return Response(_OPENAPI, 200, content_type="application/json")
