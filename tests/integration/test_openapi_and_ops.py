"""The OpenAPI description matches the real routes; health, readiness and metrics endpoints work."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.routing import Route

from hub.wiring import Hub
from mobile_api.app import PREFIX


def _starlette_routes(app: Any) -> set[tuple[str, str]]:
    http_app = app.other_asgi_app
    found = set()
    for route in http_app.routes:
        if isinstance(route, Route) and route.path.startswith(PREFIX) and route.path != PREFIX + "/openapi.json":
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
    return found


async def test_openapi_describes_exactly_the_routes_that_exist(client: httpx.AsyncClient, app: Any) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert described == _starlette_routes(app)
    for path, ops in doc["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, path
            assert "422" in op["responses"]


async def test_openapi_schemas_resolve(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    refs = set(re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', str(doc).replace("'", '"')))
    assert refs <= set(doc["components"]["schemas"])


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"


async def test_readyz_reports_an_unreachable_redis(settings: Any, mongo_client: Any) -> None:
    from dataclasses import replace

    from hub.app import create_app
    from tests.support.servers import free_port

    broken = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    hub = Hub(broken, mongo_client=mongo_client)
    app = create_app(hub, own_hub=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("unavailable")
    await hub.close()


async def test_readyz_with_a_real_redis(settings: Any, mongo_client: Any, clean_redis: str) -> None:
    from dataclasses import replace

    from hub.app import create_app

    hub = Hub(replace(settings, redis_url=clean_redis), mongo_client=mongo_client)
    app = create_app(hub, own_hub=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}
    await hub.close()


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/users/abc")
    await client.get("/api/v1/users/def")
    text = (await client.get("/metrics")).text
    assert 'hub_http_requests_total{method="GET",route="/api/v1/users/{user_id}",status="404"} 2.0' in text
    assert "hub_http_request_seconds_bucket" in text


async def test_unknown_route_and_wrong_method_are_problem_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = await client.put("/api/v1/me")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
