"""Several hub nodes in one test: each a ``Hub`` under uvicorn, sharing one Redis and one database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.redis_cluster import SharedRedis
from tests.support.servers import free_port, serve_asgi


@dataclass
class Node:
    url: str
    hub: Hub
    http: httpx.AsyncClient
    #: Stops this node alone (its server and hub), as a node that goes away; the others keep running.
    stop: Callable[[], Awaitable[None]] | None = None


@contextlib.asynccontextmanager
async def hub_nodes(
    count: int, db_name: str, mongo_client: Any, redis_url: str | SharedRedis | None, **overrides: Any
) -> AsyncIterator[list[Node]]:
    """``redis_url``: one Redis's URL, or a ``SharedRedis`` (one Redis or a Redis Cluster)."""
    if isinstance(redis_url, SharedRedis):
        overrides = {"redis_cluster": redis_url.cluster} | overrides
        redis_url = redis_url.url
    defaults = {
        "chat_burst": 50,
        "chat_per_second": 50.0,
        "viewers_interval_s": 0.2,
        "likes_interval_s": 0.1,
        "cluster_secret": "test-cluster-secret-" + "c" * 16,  # one cluster: the same secret on every node
    }
    overrides = defaults | overrides
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for i in range(count):
            port = free_port()  # known before start: each node advertises its own URL in the placement registry
            settings = make_settings(
                db_name,
                redis_url=redis_url,
                node_id=f"node-{i}",
                port=port,
                public_url=f"http://127.0.0.1:{port}",
                **overrides,
            )
            hub = Hub(settings, mongo_client=mongo_client)
            own = contextlib.AsyncExitStack()
            await stack.enter_async_context(own)
            url = await own.enter_async_context(serve_asgi(create_app(hub), port))
            http = await own.enter_async_context(httpx.AsyncClient(base_url=url))
            nodes.append(Node(url, hub, http, own.aclose))
        yield nodes
