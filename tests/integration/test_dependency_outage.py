"""A database that cannot be reached is a clear, retryable 503 ``unavailable`` on both edges, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import socketio
from pymongo import AsyncMongoClient

from hub.app import create_app
from hub.settings import Settings
from hub.wiring import Hub
from tests.support.servers import free_port, serve_asgi


class _NotStarted(Hub):
    """A hub whose start-up (index creation) is skipped, so it can serve while its database is away."""

    async def start(self) -> None:
        return None


@pytest.fixture
async def hub_without_database(settings: Settings) -> AsyncIterator[Hub]:
    dead = AsyncMongoClient(f"mongodb://127.0.0.1:{free_port()}", serverSelectionTimeoutMS=300, connectTimeoutMS=300)
    hub = _NotStarted(settings, mongo_client=dead)
    yield hub
    await hub.close()
    await dead.close()


async def test_http_requests_get_503_with_retry_after_when_the_database_is_away(hub_without_database: Hub) -> None:
    app = create_app(hub_without_database, own_hub=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/api/v1/streams")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "unavailable"
        assert r.headers["Retry-After"] == "1"
        r = await client.post(
            "/api/v1/auth/register", json={"email": "x@example.com", "password": "long enough", "nickname": "Xx"}
        )
        assert r.status_code == 503
        assert (await client.get("/readyz")).status_code == 503


async def test_socket_events_get_an_unavailable_ack_when_the_database_is_away(hub_without_database: Hub) -> None:
    async with serve_asgi(create_app(hub_without_database, own_hub=False)) as base:
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(base, namespaces=["/live"], transports=["websocket"], wait_timeout=5)
        try:
            ack = await sio.call("stream:join", {"stream_id": "abc"}, namespace="/live", timeout=10)
        finally:
            await sio.disconnect()
    assert ack["ok"] is False
    assert ack["error"]["code"] == "unavailable", ack
