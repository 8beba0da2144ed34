"""The error tree. Every error has a stable machine-readable ``code``; the edges map errors once.

``status`` is the HTTP status an edge should use; Socket.IO edges only use ``code`` and ``message``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol


class HubError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class InvalidInputError(HubError):
    code = "invalid_input"
    status = 422


class UnauthenticatedError(HubError):
    code = "unauthenticated"
    status = 401


class ForbiddenError(HubError):
    code = "forbidden"
    status = 403


class NotFoundError(HubError):
    code = "not_found"
    status = 404


class ConflictError(HubError):
    code = "conflict"
    status = 409


class RateLimitedError(HubError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: float, **extra: Any) -> None:
        super().__init__(message, retry_after_s=round(retry_after_s, 3), **extra)
        self.retry_after_s = retry_after_s


class PayloadTooLargeError(HubError):
    code = "payload_too_large"
    status = 413


class UnavailableError(HubError):
    """A dependency (database, Redis, Stripe, the SFU) cannot serve the request right now."""

    code = "unavailable"
    status = 503


class ErrorTranslator(Protocol):
    """Turns a third-party error (a database or Redis that went away) into the ``HubError`` an edge should report,
    or None when it is not one it knows. ``hub`` provides the implementation; the edges call it at their boundary."""

    def __call__(self, exc: BaseException) -> HubError | None: ...
