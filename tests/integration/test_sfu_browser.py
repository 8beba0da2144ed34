"""Real headless Chromium: one page publishes its fake camera over WHIP, two pages watch over WHEP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.support.api import create_stream, register
from tests.support.servers import serve_asgi
from tests.support.sfu_browser import chromium, inbound, open_page, outbound

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WINDOW_S = 4.0


async def wait_for(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.25)
    return bool(await check())


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_chromium_publishes_over_whip_and_two_chromium_viewers_decode_over_whep(hub: Hub, codec: str) -> None:
    app = create_app(hub, own_hub=False)
    async with serve_asgi(app) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Chromium")
        stream = await create_stream(client, owner, "Browser stream")
        whip = f"{base}/api/v1/whip/{stream['id']}"
        whep = f"{base}/api/v1/whep/{stream['id']}"
        async with chromium() as browser:
            publisher = await open_page(browser, base)
            await publisher.evaluate("([u, k, c]) => window.publish(u, k, c)", [whip, stream["stream_key"], codec])
            assert await wait_for(lambda: _has_video(hub, stream["id"]), timeout=20), "no video reached the SFU"
            viewers = [await open_page(browser, base) for _ in range(2)]
            for viewer in viewers:
                await viewer.evaluate("(u) => window.watch(u)", whep)

            async def all_decoding() -> bool:
                stats = [await inbound(v) for v in viewers]
                return all((s["video"] or {}).get("framesDecoded", 0) > 10 for s in stats)

            assert await wait_for(all_decoding, timeout=20), [await inbound(v) for v in viewers]
            sent_before = await outbound(publisher)
            before = [await inbound(v) for v in viewers]
            await asyncio.sleep(WINDOW_S)
            sent_after = await outbound(publisher)
            after = [await inbound(v) for v in viewers]
            # The fake camera runs at 30 fps; on a starved machine Chromium's encoder sends fewer, so the viewers
            # are held to what the publisher actually sent in the same window.
            sent_fps = (sent_after["framesSent"] - sent_before["framesSent"]) / WINDOW_S
            assert sent_fps >= 10, f"the publisher sent only {sent_fps:.1f} fps"
            for start, end in zip(before, after, strict=True):
                fps = (end["video"]["framesDecoded"] - start["video"]["framesDecoded"]) / WINDOW_S
                assert fps >= 0.8 * sent_fps, f"{codec}: {fps:.1f} fps decoded of {sent_fps:.1f} sent"
                print(f"{codec}: publisher sent {sent_fps:.1f} fps, a viewer decoded {fps:.1f} fps")
                assert end["video"]["mimeType"].lower() == codec.lower()
                assert end["audio"] is not None and end["audio"]["packetsReceived"] > start["audio"]["packetsReceived"]
            producer = next(p for p in hub.sfu.stats()["routers"][0]["producers"] if p["kind"] == "video")
            assert producer["mime_type"].lower() == codec.lower()


async def _has_video(hub: Hub, stream_id: str) -> bool:
    for router in hub.sfu.stats()["routers"]:
        if router["stream_id"] == stream_id:
            return any(p["kind"] == "video" and p["packets"] > 30 for p in router["producers"])
    return False


async def test_a_chromium_viewer_keeps_playing_when_the_publisher_reconnects_within_grace(hub: Hub) -> None:
    from tests.support.sfu_peers import Publisher

    app = create_app(hub, own_hub=False)
    async with serve_asgi(app) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Reconnecting")
        stream = await create_stream(client, owner, "Flaky uplink")
        first = Publisher()
        await first.accept((await hub.sfu.publish(stream["id"], await first.offer()))[1])
        second: Publisher | None = None
        try:
            async with chromium() as browser:
                viewer = await open_page(browser, base)
                await viewer.evaluate("(u) => window.watch(u)", f"{base}/api/v1/whep/{stream['id']}")

                async def decoded() -> int:
                    video = (await inbound(viewer))["video"] or {}
                    return int(video.get("framesDecoded", 0))

                assert await wait_for(lambda: _at_least(decoded, 30), timeout=20)
                await first.close()  # the uplink drops; the viewer's connection stays
                assert await wait_for(lambda: _false(hub.sfu.has_publisher(stream["id"])), timeout=5)
                before = await decoded()
                second = Publisher()
                await second.accept((await hub.sfu.publish(stream["id"], await second.offer()))[1])
                assert await wait_for(lambda: _at_least(decoded, before + 45), timeout=15)
                assert (await inbound(viewer))["state"] == "connected"
        finally:
            await first.close()
            if second is not None:
                await second.close()


async def _at_least(probe: Any, count: int) -> bool:
    return bool(await probe() >= count)


async def _false(value: bool) -> bool:
    return not value
