"""The two ingest routes, served as plain ASGI in front of the Quart app.

They carry nearly all of the traffic, and a profile of single-reading posts put Quart's
per-request machinery (request and app contexts, routing, the response object, its handler
task) at a large share of the whole route's CPU. So ``POST /v1/ingest`` and
``POST /v1/ingest/batch`` are answered here, by wrapping ``app.asgi_app`` (Quart's documented
way to add middleware), with the same strict parser, the same error shape and the same
guarantees; every other request goes on to Quart.

A 201 is sent only once the readings are committed. A request whose client disconnects keeps
waiting for its commit (at most the ack timeout) and its answer goes nowhere: nothing is
cancelled, and a commit never is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, Protocol

import trio
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)

from daemon.errors import InvalidInput
from daemon.http.errors import (
    JSON,
    NDJSON,
    RETRY_AFTER_DATABASE_S,
    ApiError,
    body_too_slow,
    encode,
    error_body,
    require_media_type,
    too_large,
    wrong_method,
)
from daemon.ingest.intake import Closed, CommitFailed, Ingest, QueueFull
from daemon.readings import (
    Reading,
    Window,
    parse_batch_body,
    parse_json,
    parse_reading,
)

log = logging.getLogger(__name__)

SINGLE_PATH: Final = "/v1/ingest"
BATCH_PATH: Final = "/v1/ingest/batch"
SINGLE_BODY_LIMIT: Final = 64 * 1024
BATCH_BODY_LIMIT: Final = 10 * 1024 * 1024
_PARSE_INLINE_LIMIT: Final = 256 * 1024
"""Bodies up to this (2,000 readings or so, what gateways send) are parsed where they arrive:
a few milliseconds. Larger ones are parsed in a worker thread, so that the event loop, which
serves every other request, gets its turns while one body of 10,000 readings, or of 10,000
problems, is checked."""
_PARALLEL_PARSES: Final = 2
"""Large bodies parsed at once: each holds its body and its objects in memory, so the rest wait
their turn rather than pile up."""
_FULL_RETRY_AFTER_S: Final = 1
_JSON_HEADERS: Final = ((b"content-type", b"application/json"),)
_SINGLE_OK: Final = {kind: encode({"status": "ok", "type": kind}) for kind in ("meter", "vehicle")}


class _Disconnected(Exception):
    """The client went away before its body arrived: there is no one to answer."""


def _header(scope: HTTPScope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _read_body(
    scope: HTTPScope, receive: ASGIReceiveCallable, limit: int, timeout_s: float
) -> bytes:
    """The body, refused unread when its declared length is already over ``limit``, and as soon
    as what arrived is over it (a chunked body declares none), or when it is not all there
    within ``timeout_s``."""
    declared = _header(scope, b"content-length")
    if declared is not None and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    with trio.move_on_after(timeout_s):
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected
            chunk = message["body"]
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
            if not message["more_body"]:
                return b"".join(chunks)
    raise body_too_slow(timeout_s)


def _meters(readings: list[Reading]) -> int:
    return sum(1 for r in readings if r.kind == "meter")


class Rejections(Protocol):
    def rejected(self, kind: str, count: int = 1) -> None: ...


class IngestRoutes:
    def __init__(
        self,
        app: ASGIFramework,
        *,
        intake: Ingest,
        window: Callable[[], Window],
        ack_timeout_s: float,
        body_timeout_s: float,
        rejections: Rejections,
    ) -> None:
        self._app = app
        self._intake = intake
        self._window = window
        self._ack_timeout_s = ack_timeout_s
        self._body_timeout_s = body_timeout_s
        self._rejections = rejections
        self._parsers = trio.CapacityLimiter(_PARALLEL_PARSES)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or scope["path"] not in (SINGLE_PATH, BATCH_PATH):
            await self._app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        try:
            status, body = await self._handle(scope, receive)
        except _Disconnected:
            return
        except InvalidInput as invalid:
            self._rejections.rejected("unknown")
            status, body = 400, encode(error_body(400, invalid.message, invalid.problems))
        except ApiError as error:
            if error.status == 413:
                self._rejections.rejected("unknown")
            status, headers = error.status, error.headers
            body = encode(error_body(error.status, error.message, error.problems))
        except Exception:
            log.exception("ingest failed", extra={"path": scope["path"]})
            status, body = 500, encode(error_body(500, "The request failed; this is a bug."))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *_JSON_HEADERS,
                    (b"content-length", str(len(body)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _handle(self, scope: HTTPScope, receive: ASGIReceiveCallable) -> tuple[int, bytes]:
        path = scope["path"]
        if scope["method"] != "POST":
            raise wrong_method(path, scope["method"], "POST")
        content_type = (_header(scope, b"content-type") or b"").decode("latin-1")
        if path == SINGLE_PATH:
            require_media_type(content_type, JSON)
            raw = await _read_body(scope, receive, SINGLE_BODY_LIMIT, self._body_timeout_s)
            reading = parse_reading(parse_json(raw), self._window())
            await self._commit([reading])
            return 201, _SINGLE_OK[reading.kind]
        ndjson = require_media_type(content_type, JSON, NDJSON) == NDJSON
        raw = await _read_body(scope, receive, BATCH_BODY_LIMIT, self._body_timeout_s)
        if len(raw) <= _PARSE_INLINE_LIMIT:
            readings = parse_batch_body(raw, ndjson, self._window())
        else:
            readings = await trio.to_thread.run_sync(
                parse_batch_body, raw, ndjson, self._window(), limiter=self._parsers
            )
        await self._commit(readings)
        meters = _meters(readings)
        return 201, encode(
            {
                "status": "ok",
                "count": len(readings),
                "meters": meters,
                "vehicles": len(readings) - meters,
            }
        )

    def _refused(self, readings: list[Reading]) -> None:
        meters = _meters(readings)
        self._rejections.rejected("meter", meters)
        self._rejections.rejected("vehicle", len(readings) - meters)

    async def _commit(self, readings: list[Reading]) -> None:
        """Hand readings over and wait for the transaction that holds them."""
        try:
            ack = self._intake.offer(readings)
        except (QueueFull, Closed) as refused:
            self._refused(readings)
            why = (
                "The daemon is shutting down"
                if isinstance(refused, Closed)
                else "The ingest queue is full"
            )
            raise ApiError(
                503,
                f"{why}; nothing was stored. Retry after the delay.",
                headers={"Retry-After": str(_FULL_RETRY_AFTER_S)},
            ) from None
        with trio.move_on_after(self._ack_timeout_s):
            try:
                await ack.wait()
            except CommitFailed:
                raise ApiError(
                    500,
                    "The database refused the flush that held these readings, so they were"
                    " not all stored; the cause is in the daemon's log. Retrying is safe.",
                ) from None
            return
        self._refused(readings)
        raise ApiError(
            503,
            f"The readings were not committed within {self._ack_timeout_s:g} s; they may be"
            " stored once the database is back. Retrying is safe: duplicates replace.",
            headers={"Retry-After": str(RETRY_AFTER_DATABASE_S)},
        )
