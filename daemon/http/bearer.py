"""Bearer-token authentication, as plain ASGI in front of everything but the request counter.

It sits outside the ingest routes and the Quart app so that a refused call costs no body read,
no parsing and no database, and inside ``HttpMetrics`` so that refusals are counted like any
other answer. The token is never logged: only the refusal's status and route are.
"""

from __future__ import annotations

from typing import Final

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)

from daemon.auth import Keyring, allows, bearer, required_role
from daemon.http.errors import encode, error_body

_MISSING: Final = (
    "This call needs a token: send Authorization: Bearer <token> (see the README, Authentication)."
)
_UNKNOWN: Final = "The token is not known to this daemon; check it, or ask its operator for one."


class BearerAuth:
    def __init__(self, app: ASGIFramework, keyring: Keyring) -> None:
        self._app = app
        self._keyring = keyring

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self._app(scope, receive, send)
            return
        status, message, challenge = refusal
        body = encode(error_body(status, message))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", challenge.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _refusal(self, scope: HTTPScope) -> tuple[int, str, str] | None:
        """Status, message and challenge of a refusal, or None when the call may go on."""
        required = required_role(scope["path"])
        if required is None:
            return None
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        token = bearer(header)
        if token is None:
            return 401, _MISSING, 'Bearer realm="ingestd"'
        role = self._keyring.role_of(token)
        if role is None:
            return 401, _UNKNOWN, 'Bearer realm="ingestd", error="invalid_token"'
        if not allows(role, required):
            message = f"A token of role {role} may not call {scope['path']}; it needs {required}."
            return 403, message, 'Bearer realm="ingestd", error="insufficient_scope"'
        return None
