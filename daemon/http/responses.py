"""What every Quart route shares: JSON answers, bounded body reads, and the error handlers that
turn every failure into the contract's one shape (a client mistake is a 4xx and stores nothing;
a 500 means a bug here, never bad input)."""

from __future__ import annotations

import logging
from http import HTTPStatus

import trio
from quart import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from daemon.errors import InvalidInput, StoreError, StoreUnavailable
from daemon.http.errors import (
    RETRY_AFTER_DATABASE_S,
    ApiError,
    body_too_slow,
    encode,
    error_body,
    too_large,
)
from daemon.http.handles import handles

log = logging.getLogger(__name__)

errors = Blueprint("errors", __name__)
"""Registers the app-wide error handlers; it has no route of its own."""


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(encode(body), status, headers, content_type="application/json")


async def read_body(limit: int) -> bytes:
    """The body, refused unread when its declared length is already over ``limit``, or when it
    is not all there within the body timeout."""
    timeout_s = handles().body_timeout_s
    declared = request.content_length
    if declared is None or declared <= limit:
        with trio.move_on_after(timeout_s):
            data: bytes = await request.body
            if len(data) <= limit:
                return data
            raise too_large(limit)
        raise body_too_slow(timeout_s)
    raise too_large(limit)


@errors.app_errorhandler(ApiError)
async def api_error(error: ApiError) -> Response:
    body = error_body(error.status, error.message, error.problems)
    return json_response(body, error.status, error.headers)


@errors.app_errorhandler(InvalidInput)
async def invalid_input(error: InvalidInput) -> Response:
    return json_response(error_body(400, error.message, error.problems), 400)


@errors.app_errorhandler(HTTPException)
async def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    message = {
        404: f"There is no {request.path}; the API is described at /openapi.json.",
        405: f"{request.path} does not take {request.method}; see /openapi.json.",
    }.get(status, error.description or HTTPStatus(status).description)
    allow = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    return json_response(error_body(status, message), status, allow)


@errors.app_errorhandler(StoreUnavailable)
async def store_unavailable(error: StoreUnavailable) -> Response:
    handles().metrics.database_error("unavailable")
    log.warning("read failed: database unavailable", extra={"error": str(error)})
    body = error_body(503, "The database is unavailable right now. Retry after the delay.")
    return json_response(body, 503, {"Retry-After": str(RETRY_AFTER_DATABASE_S)})


@errors.app_errorhandler(StoreError)
async def store_error(error: StoreError) -> Response:
    handles().metrics.database_error("error")
    log.error("database refused a statement", extra={"error": str(error)}, exc_info=error)
    return json_response(error_body(500, "The database refused the request; this is a bug."), 500)
