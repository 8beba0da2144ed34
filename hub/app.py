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
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.dependency_errors import EXCEPTION_HANDLERS as UNREACHABLE_HANDLERS
from hub.metrics import MetricsMiddleware
from hub.pages import page_routes
from hub.wiring import Hub
from mobile_api.app import EXCEPTION_HANDLERS, api_routes
from mobile_api.problems import ProblemGuard


class MediaCors:
    """CORS for browsers on the origins in ``HUB_CORS_ORIGINS``, and for WHEP also for the origin ``null``.

    A full node answers a WHEP POST with 307 to another node. A browser that follows a redirect from one origin to
    another on behalf of a page of a third origin sends the redirected request (and its preflight) with
    ``Origin: null`` (the Fetch standard's "tainted origin"), so a WHEP player on a listed origin could never reach
    the node it was sent to. WHEP needs no credentials (every stream is public to watch) and its session URLs are the
    capability, so accepting ``null`` there exposes nothing; every other path keeps the list.
    """

    WHEP = "/api/v1/whep/"

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: list[str],
        allow_methods: list[str],
        allow_headers: list[str],
        expose_headers: list[str],
    ) -> None:
        self._listed, self._whep = (
            CORSMiddleware(
                app,
                allow_origins=origins,
                allow_methods=allow_methods,
                allow_headers=allow_headers,
                expose_headers=expose_headers,
            )
            for origins in (allow_origins, [*allow_origins, "null"])
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        whep = scope["type"] == "http" and str(scope.get("path", "")).startswith(self.WHEP)
        await (self._whep if whep else self._listed)(scope, receive, send)


def serving_gc(young_threshold: int) -> None:
    """The garbage collector of a process that serves a node, once it has started: everything alive then is moved
    out of the collector's reach (full collections walk only what came later: connections, requests), and the young
    generation is collected after ``young_threshold`` new container objects instead of Python's 700 (0 keeps it).
    A gift allocates a few hundred and keeps some (on the in-process stand-in its documents live in this heap): at 700
    a node acking ~500 gifts/s ran ~45 young collections a second, a middle one every ten and a full one (35-50 ms)
    every few seconds, ~0.5 s of collecting per 10 s; at 3,000, ~8 young (3 ms) and <1 middle (~10 ms) a second, no
    full one, ~0.3 s. Higher thresholds collect less in all but pause longer (10,000: young ~10 ms, middle up to
    ~90 ms with 500 viewers). See docs/BENCHMARKS.md, Gifts."""
    gc.collect()
    gc.freeze()
    if young_threshold:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)


def create_app(hub: Hub, *, own_hub: bool = True, freeze_gc: bool = False) -> Any:
    """An ASGI app serving ``hub``. With ``own_hub`` the app's lifespan starts and closes the hub.

    ``freeze_gc`` (a process that serves this node and nothing else: ``hub serve``, the benchmarks' nodes) tunes the
    process's garbage collector once the hub has started (``serving_gc``, the young threshold from the settings):
    full collections then walk only per-connection objects, which measurably raises fan-out throughput (see
    docs/BENCHMARKS.md, Chat), and fewer young collections cut the CPU per gift.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if freeze_gc:
            serving_gc(hub.settings.gc_young_threshold)
        try:
            yield
        finally:
            if own_hub:
                await hub.close()

    middleware = [Middleware(MetricsMiddleware, metrics=hub.metrics)]
    if hub.settings.cors_origins:
        middleware.append(
            Middleware(
                MediaCors,
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
    return hub.signaling.asgi_app(http_app)
