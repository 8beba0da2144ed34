"""RFC 9457 problem details: every error the HTTP API returns has this shape, and never a stack trace.

``invalid_input`` always carries ``errors: [{field, message}]`` (schema validation and the services' own checks
alike). An exception nobody expected is a 500 ``internal_error`` with a ``request_id`` (also the ``X-Request-Id``
header) and one log line naming that id; the connection is left open for the client's next request.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import HubError, RateLimitedError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:live-hub:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {}
    if "retry_after_s" in extra:
        headers["Retry-After"] = str(max(1, int(float(extra["retry_after_s"]) + 0.999)))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


async def hub_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    if exc.status >= 500:
        log.warning("request failed: %s %s: %s", request.method, request.url.path, exc.code)
    extra = dict(exc.extra)
    if isinstance(exc, RateLimitedError):
        extra["retry_after_s"] = exc.retry_after_s
    if exc.code == "invalid_input":
        field = extra.pop("field", None)
        extra.setdefault("errors", [{"field": str(field), "message": exc.message}] if field else [])
    return problem(exc.status, exc.code, exc.message, **extra)


def validation_problem(exc: ValidationError) -> JSONResponse:
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return problem(422, "invalid_input", "the request is not valid", errors=errors)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return validation_problem(exc)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail))


def internal_error(request_id: str) -> JSONResponse:
    response = problem(
        500, "internal_error", "something went wrong on our side; please try again", request_id=request_id
    )
    response.headers["X-Request-Id"] = request_id
    return response


def _where(exc: BaseException) -> str:
    """``file:line`` of the innermost frame, so the one log line points at the failing code."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 2)[-1] if '/' in last.filename else last.filename}:{last.lineno}"


def log_unexpected(scope: Scope, exc: BaseException) -> str:
    """One log line (no traceback: it would be one line per frame) naming a fresh request id; returns the id."""
    request_id = secrets.token_hex(8)
    detail = str(exc).replace("\n", " ")[:200]
    log.error(
        "unhandled error request_id=%s %s %s: %s: %s at %s",
        request_id,
        scope.get("method", "?"),
        scope.get("path", "?"),
        type(exc).__name__,
        detail,
        _where(exc),
    )
    return request_id


class ProblemGuard:
    """Innermost middleware, right outside the exception handlers: whatever still escapes a route becomes a 500
    problem document. (Starlette's own last-resort handler answers too but then re-raises, and the server drops
    the keep-alive connection.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # the last line of defence: every error must become an answer
            request_id = log_unexpected(scope, exc)
            if started:
                return  # too late for a problem document; the server ends the half-sent response
            await internal_error(request_id)(scope, receive, send)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HubError: hub_error_handler,
    ValidationError: validation_error_handler,
    HTTPException: http_exception_handler,
}
