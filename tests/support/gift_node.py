"""One hub node under uvicorn whose gift rate limits stay out of a test's way, for the tests of gifts and what
shows them (effects, messages, overlays)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.servers import serve_asgi


@contextlib.asynccontextmanager
async def gift_node(
    db_name: str, mongo_client: Any, **overrides: Any
) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    """(base URL, an HTTP client of it, the hub); the database is dropped afterwards."""
    settings = make_settings(db_name, **({"gift_burst": 1000, "gift_per_second": 1000.0} | overrides))
    hub = Hub(settings, mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        yield url, http, hub
    await mongo_client.drop_database(db_name)
