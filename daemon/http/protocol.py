"""The daemon speaks HTTP/1.1 only, and answers what HTTP itself refuses in the contract's shape.

HTTP/2 in clear (a client's prior knowledge, or an ``Upgrade: h2c``) is not served: nothing in
the contract needs it, and Hypercorn 0.18 has no idle timeout for it (its timer stops at the
preface), so a client that opened HTTP/2 and fell silent held its connection for good. An
upgrade is declined by answering in HTTP/1.1, as a server may; a prior-knowledge preface is
read as HTTP/1.1 (``PRI *`` is no path: 404), and its first frame is no request (400, and the
connection closed). Either way no HTTP/2 connection outlives the keep-alive.

Hypercorn answers a request it cannot parse (a line or headers too long, a bad length) with an
empty body; here that answer carries the contract's error.

Hypercorn builds its HTTP/1.1 protocol by name from its own module, with no setting to choose
another, so ``install`` puts this one there, once per process (Hypercorn is pinned below 0.19;
the tests of slow clients hold it to both behaviours).
"""

from __future__ import annotations

from http import HTTPStatus
from itertools import chain
from typing import Final

import h11
import hypercorn.protocol
from hypercorn.protocol.h11 import H11Protocol

from daemon.http.errors import encode, error_body

_MESSAGES: Final = {
    400: "The request is not valid HTTP/1.1 (its line, a header or its length); nothing was"
    " stored.",
    431: "The request's line and headers are longer than this daemon reads; nothing was stored.",
}


class Http11Only(H11Protocol):
    async def _check_protocol(self, event: h11.Request) -> None:
        """Never switch protocols: the request is served in HTTP/1.1."""

    async def _send_error_response(self, status_code: int) -> None:
        phrase = HTTPStatus(status_code).phrase
        message = _MESSAGES.get(status_code, f"{phrase}: the request could not be read.")
        body = encode(error_body(status_code, message))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await self._send_h11_event(
            h11.Response(
                status_code=status_code,
                headers=list(chain(headers, self.config.response_headers("h11"))),
            )
        )
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


def install() -> None:
    """Make every connection Hypercorn serves in this process use ``Http11Only``."""
    setattr(hypercorn.protocol, "H11Protocol", Http11Only)  # noqa: B010 (not its export)
