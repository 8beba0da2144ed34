"""Endpoints declared once: the same declaration builds the Starlette route, validates the request and
describes the operation in the OpenAPI document, so the description cannot drift from the routes.

A handler receives a ``Call`` (context, caller, validated body and query, path parameters) and returns
either a JSON-able value (sent with the endpoint's status) or a Starlette ``Response``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.principal import Principal
from core.errors import InvalidInputError, PayloadTooLargeError, UnauthenticatedError
from mobile_api.context import ApiContext
from mobile_api.problems import validation_problem

Auth = Literal["required", "optional", "none"]
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base for request bodies: unknown fields are refused, strings are not coerced to numbers."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Base for query strings (values arrive as strings, so lax parsing)."""

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    ctx: ApiContext
    principal: Principal | None
    body: Any
    query: Any
    path: dict[str, str]

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query

    @property
    def client_address(self) -> str:
        return self.request.client.host if self.request.client else ""


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # relative to the API prefix, Starlette syntax: /streams/{stream_id}
    handler: Handler
    summary: str
    tags: tuple[str, ...]
    status: int
    auth: Auth
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    raw_body: str | None  # a media type for endpoints that take a non-JSON body (e.g. application/sdp)
    responses: dict[int, str] = field(default_factory=dict)  # other documented statuses
    produces: str | None = None  # the media type of a binary answer (e.g. image/*), else JSON

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


#: No request body of this API nests deeper; deeper documents are refused before validation sees them.
MAX_JSON_DEPTH = 32


async def _read_json(request: Request, limit: int) -> Any:
    raw = await read_limited(request, limit)
    if not raw:
        raise InvalidInputError("the request needs a JSON body", field="body")
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInputError("the body is not valid JSON", field="body") from None
    except RecursionError:
        value = None
    if (value is None and raw.strip() != b"null") or not json_depth_within(value, MAX_JSON_DEPTH):
        raise InvalidInputError(f"the body nests deeper than {MAX_JSON_DEPTH} levels", field="body")
    return value


def json_depth_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iterative: deep input cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


class Api:
    """A collection of endpoints under one prefix."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tags: tuple[str, ...] = (),
        status: int = 200,
        auth: Auth = "required",
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        raw_body: str | None = None,
        responses: dict[int, str] | None = None,
        produces: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            # A handler that returns nothing answers 204 (see dispatch): declare it so.
            returns_nothing = handler.__annotations__.get("return", "unknown") in ("None", None)
            self.endpoints.append(
                Endpoint(
                    method.upper(),
                    path,
                    handler,
                    summary,
                    tags,
                    204 if status == 200 and returns_nothing else status,
                    auth,
                    body,
                    query,
                    response,
                    raw_body,
                    responses or {},
                    produces,
                )
            )
            return handler

        return register

    def include(self, other: Api) -> None:
        self.endpoints.extend(other.endpoints)

    def routes(self, prefix: str) -> list[Route]:
        by_path: dict[str, dict[str, Endpoint]] = {}
        for ep in self.endpoints:
            by_path.setdefault(ep.path, {})[ep.method] = ep
        return [Route(prefix + path, _dispatcher(methods), methods=list(methods)) for path, methods in by_path.items()]


def _dispatcher(methods: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        ep = methods.get(request.method) or (methods.get("GET") if request.method == "HEAD" else None)
        assert ep is not None  # Starlette answers 405 before we get here
        ctx: ApiContext = request.app.state.api
        principal = None
        if ep.auth != "none":
            token = bearer_token(request)
            if token is not None:
                principal = await ctx.use.identity.from_token(token)  # role and suspension as they are now
            elif ep.auth == "required":
                raise UnauthenticatedError("log in first: this needs an access token")
        body: Any = None
        if ep.body is not None:
            raw = await _read_json(request, ctx.settings.max_body_bytes)
            try:
                body = ep.body.model_validate(raw)
            except ValidationError as exc:
                return validation_problem(exc)
        query: Any = None
        if ep.query is not None:
            try:
                query = ep.query.model_validate(dict(request.query_params))
            except ValidationError as exc:
                return validation_problem(exc)
        result = await ep.handler(Call(request, ctx, principal, body, query, dict(request.path_params)))
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204 if ep.status == 200 else ep.status)
        return JSONResponse(result, status_code=ep.status)

    return dispatch
