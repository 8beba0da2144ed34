"""The ASGI app: the Starlette HTTP API with the Socket.IO server on the same port (path ``/socket.io``)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from hub.dependency_errors import EXCEPTION_HANDLERS as UNREACHABLE_HANDLERS
from hub.metrics import MetricsMiddleware
from hub.pages import page_routes
from hub.wiring import Hub
from mobile_api.app import EXCEPTION_HANDLERS, api_routes
from mobile_api.problems import ProblemGuard


def create_app(hub: Hub, *, own_hub: bool = True, freeze_gc: bool = False) -> Any:
    """An ASGI app serving ``hub``. With ``own_hub`` the app's lifespan starts and closes the hub.

    ``freeze_gc`` moves everything alive after start-up out of the garbage collector's reach: full collections then
    walk only per-connection objects, which measurably raises fan-out throughput (see docs/BENCHMARKS.md, Chat).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if own_hub:
                await hub.close()

    middleware = [Middleware(MetricsMiddleware, metrics=hub.metrics)]
    if hub.settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(hub.settings.cors_origins),
                # WHIP/WHEP clients (RFC 9725) send OPTIONS, PATCH with If-Match, DELETE, and read Location, Link,
                # ETag and Accept-Patch. ETag as a request header: Eyevinn's whip-web-client sends it on PATCH.
                allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "If-Match", "ETag"],
                expose_headers=[
                    "Location",
                    "Link",
                    "ETag",
                    "Accept-Patch",
                    "Accept-Post",
                    "Allow",
                    "Access-Control-Allow-Methods",
                ],
            )
        )
    middleware.append(Middleware(ProblemGuard))
    routes = [
        *api_routes(),
        *hub.cluster.routes(),
        Route("/metrics", hub.metrics.endpoint, methods=["GET"]),
        *page_routes(hub.settings),
    ]
    handlers = {**EXCEPTION_HANDLERS, **UNREACHABLE_HANDLERS}
    http_app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    http_app.state.api = hub.api
    http_app.state.hub = hub
    hub.sio = hub.signaling.server
    return hub.signaling.asgi_app(http_app)
