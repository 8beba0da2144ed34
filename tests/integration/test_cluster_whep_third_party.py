"""A published WHEP client (medooze's ``whip-whep``, pinned in tests/js) in headless Chromium, on a page of another
origin, watching through a full node: it follows the 307 to the node with room, and its trickle PATCHes and its
DELETE reach the node that holds its session (the session URL is absolute), although the client resolves
``Location`` against the URL it first POSTed to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cluster_media import FAST, SDP, decodes, live_on, publish
from tests.integration.test_whip_whep_third_party import MODULES, _eventually, _pages, _patched, _statuses
from tests.support.api import create_stream, register
from tests.support.nodes import hub_nodes
from tests.support.servers import free_port, serve_asgi
from tests.support.sfu_browser import chromium
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_medooze_whep_client_follows_a_307_and_its_patch_and_delete_reach_the_node_holding_the_session(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    assert (MODULES / "whip-whep").is_dir(), "run `npm ci` in tests/js"
    page_port = free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    settings = {"cluster_node_capacity": 1, "cors_origins": (page_origin,), **FAST}
    async with (
        hub_nodes(2, db_name, mongo_client, clean_redis, **settings) as (n1, n2),
        serve_asgi(_pages(Path("/nonexistent")), port=page_port),
    ):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher, first = Publisher(), Viewer()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n1, sid), 10)
            r = await n1.http.post(f"/api/v1/whep/{sid}", content=await first.offer(), headers=SDP)
            assert r.status_code == 201, r.text
            await first.accept(r.text)
            assert await decodes(first)  # node 1 is full now

            async def n2_registered() -> bool:
                return len(await n1.hub.cluster.placement.nodes()) == 2

            assert await until(n2_registered, 5)
            async with chromium() as browser:
                viewer = await browser.new_page()
                await viewer.goto(f"{page_origin}/watch.html")
                await viewer.wait_for_function("window.ready === true", timeout=10_000)
                resource = await viewer.evaluate("(u) => window.watch(u)", f"{n1.url}/api/v1/whep/{sid}")
                assert resource.startswith(f"{n2.url}/api/v1/whep/{sid}/"), resource

                async def decoding() -> Any:
                    stats = await viewer.evaluate("window.decoded()")
                    return stats if stats["frames"] > 10 else None

                await _eventually(decoding, 25, "the WHEP page to decode through node 2")
                assert n2.hub.sfu.stats()["viewers"] == 1
                assert await _eventually(lambda: _patched(viewer), 10, "the client's trickle PATCHes on node 2")
                await viewer.evaluate("window.stop()")
                requests = await viewer.evaluate("window.requests")
                assert _statuses(requests, "DELETE") == [200], requests
                session_requests = [r for r in requests if r.get("method") in ("PATCH", "DELETE")]
                assert all(r["url"].startswith(n2.url) for r in session_requests), requests

                async def no_viewer_on_n2() -> bool:
                    return bool(n2.hub.sfu.stats()["viewers"] == 0)

                await _eventually(no_viewer_on_n2, 10, "the DELETE to end the session on node 2")

            # The redirected POST came with "Origin: null" (a cross-origin redirect taints the origin): WHEP takes
            # that origin, nothing else does.
            preflight = {"Origin": "null", "Access-Control-Request-Method": "POST"}
            r = await n2.http.options(f"/api/v1/whep/{sid}", headers=preflight)
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "null"
            r = await n2.http.options("/api/v1/streams", headers=preflight)
            assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
        finally:
            for peer in (first, publisher):
                await peer.close()
