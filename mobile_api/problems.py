"""RFC 9457 problem details: every error the HTTP API returns has this shape, and never a stack trace."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error: %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "something went wrong on our side; please try again")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HubError: hub_error_handler,
    ValidationError: validation_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}
