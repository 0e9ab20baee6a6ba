"""The contract's one error shape, shared by both HTTP modules: the Quart app and the ingest
routes served as plain ASGI in front of it."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from daemon.readings import Problem


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


def wrong_method(path: str, method: str, allowed: str) -> ApiError:
    return ApiError(
        405, f"{path} does not take {method}; see /openapi.json.", headers={"Allow": allowed}
    )
