"""The contract's one error shape, shared by the Quart routes, the ingest routes served as plain
ASGI in front of them, and the token check; free of any web library."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Final

from daemon.errors import Problem


class ApiError(Exception):
    """An answer other than success, with the contract's body and any headers it needs."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: tuple[Problem, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems
        self.headers = headers or {}


def error_body(status: int, message: str, problems: tuple[Problem, ...] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
    }
    if problems:
        body["details"] = [
            {"field": p.field, "message": p.message}
            | ({} if p.index is None else {"index": p.index})
            for p in problems
        ]
    return body


def encode(body: object) -> bytes:
    return json.dumps(body, allow_nan=False).encode()


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"The body is larger than this endpoint's limit of {limit // 1024} KiB.")


def body_too_slow(timeout_s: float) -> ApiError:
    return ApiError(
        408,
        f"The body did not arrive within {timeout_s:g} s; nothing was stored. Send it again.",
        headers={"Connection": "close"},
    )


def wrong_method(path: str, method: str, allowed: str) -> ApiError:
    return ApiError(
        405, f"{path} does not take {method}; see /openapi.json.", headers={"Allow": allowed}
    )


RETRY_AFTER_DATABASE_S: Final = 5
"""Retry-After of a 503 that waited on the database: long enough for a restart to be noticed."""

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"


def require_media_type(content_type: str | None, *allowed: str) -> str:
    """The body's media type, when it is one of ``allowed``. Demanding a JSON type is also what
    keeps other web sites out: a browser sends a cross-site POST without asking first only as
    text/plain or a form, never as JSON."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media not in allowed:
        shown = repr(media[:80]) if media else "none"
        raise ApiError(
            415, f"Send the body with Content-Type: {' or '.join(allowed)} (got {shown})."
        )
    return media
