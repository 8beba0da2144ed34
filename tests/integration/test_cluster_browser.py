"""A real Chromium viewer on an edge node: the stream is published to node 1, the page watches on node 2."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.integration.test_cluster_media import FAST, live_on, publish, until
from tests.support.api import create_stream, register
from tests.support.nodes import hub_nodes
from tests.support.sfu_browser import chromium, inbound, open_page
from tests.support.sfu_peers import Publisher

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_a_chromium_viewer_on_an_edge_node_decodes_a_stream_published_to_another_node(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **FAST) as (n1, n2):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher = Publisher()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n2, sid), 10)
            async with chromium() as browser:
                page = await open_page(browser, n2.url)
                await page.evaluate("(u) => window.watch(u)", f"{n2.url}/api/v1/whep/{sid}")
                deadline = time.monotonic() + 20
                stats: dict[str, Any] = {}
                while time.monotonic() < deadline:
                    stats = await inbound(page)
                    if (stats["video"] or {}).get("framesDecoded", 0) > 10:
                        break
                    await asyncio.sleep(0.25)
                assert (stats["video"] or {}).get("framesDecoded", 0) > 10, stats
            assert n2.hub.sfu.has_relay(sid) and not n2.hub.sfu.has_publisher(sid)
        finally:
            await publisher.close()
