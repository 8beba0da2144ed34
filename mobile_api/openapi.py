"""The OpenAPI 3.1 description, generated from the endpoint declarations (``mobile_api.routing``)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from mobile_api.routing import Api, Endpoint

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "stable machine-readable error code"},
        "errors": {
            "type": "array",
            "description": "invalid_input: what is wrong, per field",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "retry_after_s": {"type": "number", "description": "rate_limited and some unavailable: when to retry"},
        "request_id": {"type": "string", "description": "internal_error: quote it when reporting the problem"},
    },
}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(ep: Endpoint, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
        for name in re.findall(r"{(\w+)}", ep.path)
    ]
    if ep.query is not None:
        schema = ep.query.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))  # enums a query field names (StreamStatus, ...)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


def _operation(ep: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": ep.operation_id, "summary": ep.summary, "tags": list(ep.tags)}
    params = _parameters(ep, components)
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(ep.body, components)}},
        }
    elif ep.raw_body is not None:
        op["requestBody"] = {"required": True, "content": {ep.raw_body: {"schema": {"type": "string"}}}}
    ok: dict[str, Any] = {"description": "success"}
    if ep.status != 204:
        ok_schema = _schema(ep.response, components) if ep.response is not None else {"type": "object"}
        media = "application/sdp" if ep.raw_body == "application/sdp" else "application/json"
        if ep.produces is not None:
            ok["content"] = {ep.produces: {"schema": {"type": "string", "format": "binary"}}}
        else:
            ok["content"] = {media: {"schema": ok_schema if media == "application/json" else {"type": "string"}}}
    problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: dict[str, Any] = {str(ep.status): ok}
    errors = {422: "the request is not valid", **ep.responses}
    if ep.auth == "required":
        errors.setdefault(401, "missing, expired or forged access token")
        op["security"] = [{"bearer": []}]
    elif ep.auth == "optional":
        op["security"] = [{}, {"bearer": []}]
    if ep.body is not None or ep.raw_body is not None:
        errors.setdefault(413, "the body is too large")
    # Any operation can meet these two: a dependency that is down (retry later) and a server bug (with request_id).
    errors.setdefault(500, "internal_error: a bug on the server; the body carries a request_id to report")
    errors.setdefault(503, "unavailable: the database, Redis or another dependency cannot be reached; retry")
    for status, description in sorted(errors.items()):
        if status == 304:  # Not Modified carries no body (RFC 9110 section 15.4.5)
            responses[str(status)] = {"description": description}
            continue
        responses[str(status)] = {"description": description, "content": problem_ref}
    op["responses"] = responses
    return op


def build_openapi(api: Api, prefix: str, *, title: str = "Live hub API", version: str = "1") -> dict[str, Any]:
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for ep in api.endpoints:
        paths.setdefault(prefix + ep.path, {})[ep.method.lower()] = _operation(ep, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
