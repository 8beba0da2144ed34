"""Third-party failures translated once, at the edges: a database or Redis that cannot be reached is a 503
``unavailable`` the client may retry, not a 500."""

from __future__ import annotations

from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import Request
from starlette.responses import Response

from core.errors import HubError, UnavailableError
from mobile_api.problems import hub_error_handler

# ConnectionFailure covers AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError.
UNREACHABLE: tuple[type[BaseException], ...] = (ConnectionFailure, RedisConnectionError, RedisTimeoutError)


def translate_dependency_error(exc: BaseException) -> HubError | None:
    if isinstance(exc, ConnectionFailure):
        return UnavailableError("the database cannot be reached right now; please try again", retry_after_s=1)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return UnavailableError("a shared service cannot be reached right now; please try again", retry_after_s=1)
    return None


async def unreachable_handler(request: Request, exc: Exception) -> Response:
    translated = translate_dependency_error(exc)
    assert translated is not None
    return await hub_error_handler(request, translated)


EXCEPTION_HANDLERS = {kind: unreachable_handler for kind in UNREACHABLE}
