"""The HTTP front (docs/api.md): the Quart app, one blueprint per section of the API, with the
two ingest routes served in front of it as plain ASGI (``ingest``), bearer tokens checked in
front of both (``bearer``), and every answer counted (``request_metrics``).

The only package that touches Quart. It gets its collaborators as ``AppHandles`` and builds
nothing itself.
"""

from __future__ import annotations

import trio
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from quart_trio import QuartTrio

from daemon.http import fleet, links, operations, status
from daemon.http.bearer import BearerAuth
from daemon.http.handles import AppHandles, EngineApp
from daemon.http.ingest import SINGLE_BODY_LIMIT, IngestRoutes
from daemon.http.request_metrics import HttpMetrics
from daemon.http.responses import errors


def _finishing(app: ASGIFramework) -> ASGIFramework:
    """The Quart app, with the last send of every response shielded from cancellation.

    Quart-Trio answers from one task while another waits for the client's disconnect, and
    cancels both once either ends. Hypercorn, for its part, recycles the connection from inside
    the send of a response's last byte: it hands the app its disconnect (upon which Quart-Trio
    cancels), then starts the keep-alive timer, or closes the connection if the client asked
    to. Cancelled halfway, neither happens, and the connection stays open for good, idle or
    asked to close. Shielded, the send completes."""

    async def finishing_app(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        async def finish(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                with trio.CancelScope(shield=True):
                    await send(message)
            else:
                await send(message)

        await app(scope, receive, finish)

    return finishing_app


def create_app(handles: AppHandles) -> QuartTrio:
    """The app, its ASGI layers outermost first: request metrics, tokens, the ingest routes,
    then Quart."""
    app = EngineApp(__name__)
    app.handles = handles
    app.config["MAX_CONTENT_LENGTH"] = SINGLE_BODY_LIMIT
    # A doubled slash is no path of the API: a 404 in the contract, not a redirect in HTML.
    app.url_map.merge_slashes = False
    for blueprint in (
        errors,
        links.blueprint,
        status.blueprint,
        fleet.blueprint,
        operations.blueprint,
    ):
        app.register_blueprint(blueprint)
    routes: ASGIFramework = IngestRoutes(
        _finishing(app.asgi_app),
        intake=handles.intake,
        window=handles.window,
        ack_timeout_s=handles.ack_timeout_s,
        body_timeout_s=handles.body_timeout_s,
        rejections=handles.metrics,
    )
    if handles.keyring is not None:
        routes = BearerAuth(routes, handles.keyring)
    app.asgi_app = HttpMetrics(routes, handles.metrics)  # type: ignore[method-assign]
    return app
