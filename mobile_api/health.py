"""Liveness and readiness probes (served at the root, outside ``/api/v1``)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from mobile_api.context import ApiContext

READINESS_TIMEOUT_S = 2.0


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    ctx: ApiContext = request.app.state.api
    checks: dict[str, str] = {}
    for name, check in ctx.readiness.items():
        try:
            await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
            checks[name] = "ok"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure means "not ready"; the reason is reported, not raised
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )
