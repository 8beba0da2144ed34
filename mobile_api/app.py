"""The HTTP API as a list of Starlette routes plus its exception handlers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from mobile_api import (
    admin,
    auth,
    gifts,
    loyalty,
    nodes,
    notifications,
    overlays,
    recordings,
    rooms,
    streams,
    stripe_webhook,
    subscriptions,
    users,
    wallet,
    whip,
)
from mobile_api.health import healthz, readyz
from mobile_api.openapi import build_openapi
from mobile_api.problems import EXCEPTION_HANDLERS
from mobile_api.routing import Api

PREFIX = "/api/v1"
__all__ = ["EXCEPTION_HANDLERS", "PREFIX", "api_routes", "build_api"]


def build_api() -> Api:
    api = Api()
    modules = (
        auth,
        users,
        streams,
        rooms,
        whip,
        nodes,
        wallet,
        gifts,
        overlays,
        admin,
        notifications,
        subscriptions,
        loyalty,
        recordings,
        stripe_webhook,
    )
    for module in modules:
        api.include(module.api)
    return api


def api_routes() -> list[BaseRoute]:
    api = build_api()
    document = build_openapi(api, PREFIX)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document)

    return [
        *api.routes(PREFIX),
        Route(PREFIX + "/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
