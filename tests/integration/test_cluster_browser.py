"""Real Chromium viewers across nodes: a WHEP page on an edge node decodes a stream published to another node; the
viewer page (hub/static) moves to another node by itself when its node dies, and follows a full node's
``node_full`` to the node it names."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.e2e.browser import PageLog, new_page
from tests.e2e.browser import chromium as e2e_chromium
from tests.integration.test_cluster_media import FAST, SDP, decodes, live_on, publish
from tests.support.api import create_stream, register
from tests.support.nodes import hub_nodes
from tests.support.sfu_browser import chromium, inbound, open_page
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

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


# What the viewer page (hub/static/js/viewer.js) is doing: its node, whether its socket is up, and the frames its
# current peer connection decoded (each new peer connection gets its own tag).
PAGE_STATE = """async () => {
  const { state, room } = window.livehub;
  const pc = state.pc;
  let frames = 0;
  if (pc) {
    pc.tag = pc.tag || Math.random().toString(36).slice(2);
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0;
    });
  }
  return { node: room.nodeId, url: room.nodeUrl, connected: room.socket.connected, pc: pc ? pc.tag : null,
           frames, known: room.nodes.length };
}"""


async def page_state(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(PAGE_STATE)
    return result


async def wait_page(page: Any, check: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = await page_state(page)
        if check(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {state}")


async def page_true(page: Any, expression: str, timeout: float) -> None:
    """Wait until ``expression`` is true in the page (evaluated from outside: the pages' CSP forbids eval)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")


def viewers_on(node: Any) -> int:
    return int(node.hub.sfu.stats()["viewers"])


async def test_a_viewer_page_whose_edge_node_dies_decodes_again_on_another_node_within_five_seconds(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):
        owner = await register(n1.http, "Caster")
        fan = await register(n2.http, "Fan")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher = Publisher()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n2, sid), 10)

            async def all_registered() -> bool:
                return len(await n2.hub.cluster.placement.nodes()) == 3

            assert await until(all_registered, 5)
            async with e2e_chromium() as browser:
                page = await new_page(browser)
                log = PageLog(page, ignore=("WebSocket", "net::ERR_CONNECTION_REFUSED", "status of 404"))
                # A signed-in viewer (the session lives in n2's origin's localStorage) watches on edge node 2.
                await page.goto(f"{n2.url}/")
                stored = {
                    "access_token": fan["access_token"],
                    "refresh_token": fan["refresh_token"],
                    "user": fan["user"],
                }
                await page.evaluate("(s) => localStorage.setItem('livehub.session', JSON.stringify(s))", stored)
                await page.goto(f"{n2.url}/watch/{sid}")
                before = await wait_page(page, lambda s: s["frames"] > 10 and s["known"] == 3, 20, "decoding on node 2")
                assert before["node"] == n2.hub.settings.node_id and viewers_on(n2) == 1

                started = time.monotonic()
                stop = n2.stop
                assert stop is not None

                async def stop_node_2() -> None:
                    await stop()

                stopping = asyncio.create_task(stop_node_2())
                after = await wait_page(
                    page,
                    lambda s: s["connected"] and s["pc"] not in (None, before["pc"]) and s["frames"] >= 3,
                    10,
                    "decoding again on another node",
                )
                moved_in = time.monotonic() - started
                await stopping
                print(f"\nedge node died -> the viewer page decodes again on {after['node']} in {moved_in:.2f} s")
                assert after["node"] in (n1.hub.settings.node_id, n3.hub.settings.node_id)
                assert moved_in < 5, f"the page took {moved_in:.2f} s to decode again on another node"
                new_home = n1 if after["node"] == n1.hub.settings.node_id else n3
                assert viewers_on(new_home) == 1

                # The page stayed where it was loaded, so the viewer is still signed in on the new node.
                sent = await page.evaluate("() => window.livehub.room.sendChat('still here')")
                assert sent["user"]["id"] == fan["user"]["id"]
                assert not log.errors, log.errors
        finally:
            await publisher.close()


async def test_a_viewer_page_on_a_full_node_follows_node_full_to_the_node_it_names_and_decodes(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, cluster_node_capacity=1, **FAST) as (n1, n2):
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
            async with e2e_chromium() as browser:
                page = await new_page(browser)
                log = PageLog(page)
                await page.goto(f"{n1.url}/watch/{sid}")  # a guest on the full node
                state = await wait_page(page, lambda s: s["frames"] > 10, 20, "decoding on the node node_full named")
                assert state["node"] == n2.hub.settings.node_id and state["url"] == n2.url
                assert viewers_on(n2) == 1 and viewers_on(n1) == 1
                assert not log.errors, log.errors
        finally:
            for peer in (first, publisher):
                await peer.close()


async def test_a_studio_whose_node_dies_publishes_again_on_another_node_and_edge_viewers_continue_on_their_connection(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):
        star = await register(n2.http, "Star")

        async def all_registered() -> bool:
            return len(await n2.hub.cluster.placement.nodes()) == 3

        assert await until(all_registered, 5)
        viewer = Viewer()
        try:
            async with e2e_chromium() as browser:
                studio = await new_page(browser)
                log = PageLog(studio, ignore=("WebSocket", "net::ERR_CONNECTION_REFUSED"))
                await studio.goto(f"{n2.url}/")
                stored = {k: star[k] for k in ("access_token", "refresh_token", "user")}
                await studio.evaluate("(s) => localStorage.setItem('livehub.session', JSON.stringify(s))", stored)
                await studio.goto(f"{n2.url}/studio")
                await studio.fill("#new-title", "Across nodes")
                await studio.click("#new-stream button[type=submit]")
                await studio.wait_for_selector("#go-live:enabled")
                sid = (await studio.get_attribute("#open-viewer", "href") or "").rsplit("/", 1)[-1]
                await studio.click("#go-live")
                await studio.wait_for_selector("#status[data-state=live]")
                assert await until(lambda: live_on(n3, sid), 10)
                await page_true(studio, "window.livehub.state.room.nodes.length === 3", 10)

                # An aiortc viewer on node 3 watches the stream relayed from node 2, where the studio publishes.
                r = await n3.http.post(f"/api/v1/whep/{sid}", content=await viewer.offer(), headers=SDP)
                assert r.status_code == 201, r.text
                await viewer.accept(r.text)
                assert await decodes(viewer)

                started = time.monotonic()
                stop = n2.stop
                assert stop is not None

                async def stop_node_2() -> None:
                    await stop()

                stopping = asyncio.create_task(stop_node_2())
                await page_true(studio, "window.livehub.state.publishes === 2", 15)
                assert await decodes(viewer, count=15, timeout=15), "node 3's viewer gets the republished video"
                resumed_in = time.monotonic() - started
                await stopping
                print(
                    f"\nstudio's node died -> node 3's viewer decodes the republished stream after {resumed_in:.2f} s"
                )
                assert viewer.pc.connectionState == "connected", "the viewer kept its connection (no renegotiation)"
                origin = await n3.hub.cluster.placement.origin(sid)
                assert origin is not None and origin.node_id in (n1.hub.settings.node_id, n3.hub.settings.node_id)
                assert await live_on(n3, sid)
                assert not log.errors, log.errors
        finally:
            await viewer.close()
