"""The stream's picture in the pages, in headless Chromium: the directory shows a live stream's thumbnail (made from
its keyframes by the hub), the moderator console plays the stream itself, muted until the moderator unmutes, and the
studio's switch turns the transcoded ladder on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.e2e.browser import COUNT_FRAMES, PageLog, chromium, eventually, log_in, new_page
from tests.support.api import create_stream, register
from tests.support.servers import serve_asgi
from tests.support.sfu_peers import Publisher
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_the_directory_shows_the_thumbnail_the_mod_console_plays_the_stream_muted_the_studio_sets_the_ladder(
    db_name: str, mongo_client: Any
) -> None:
    settings = make_settings(db_name, thumbnail_interval_s=1.0, thumbnail_width=160, sfu_gop_refresh_s=1.0)
    hub = Hub(settings, mongo_client=mongo_client)
    await hub.start()
    publisher = Publisher()  # aiortc, VP8 320x240
    try:
        async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as http:
            star = await register(http, "Star")
            stream = await create_stream(http, star, "Pictures")
            sid = stream["id"]
            r = await http.post(
                f"/api/v1/whip/{sid}",
                content=await publisher.offer(),
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {stream['stream_key']}"},
            )
            assert r.status_code == 201, r.text
            await publisher.accept(r.text)

            async def has_picture() -> bool:
                return (await http.get(f"/api/v1/streams/{sid}/thumbnail")).status_code == 200

            assert await until(has_picture, 15)

            async with chromium() as browser:
                page = await new_page(browser)
                log = PageLog(page)
                await page.goto(f"{base}/")
                picture = page.locator(f'.stream-card[data-stream-id="{sid}"] img.stream-picture')
                await picture.wait_for()

                async def loaded() -> Any:
                    return await picture.evaluate("img => img.complete && img.naturalWidth")

                assert await eventually(loaded, 10, "the thumbnail loaded") == 160

                # The owner (a moderator of their own room) opens the console on the stream.
                await log_in(page, star["email"])
                await page.goto(f"{base}/console?stream={sid}")
                await page.wait_for_selector("#mod-player:not([hidden])")
                video = "#mod-video"

                async def decoding() -> Any:
                    shown = await page.evaluate(COUNT_FRAMES, [video, 1000])
                    return shown if shown["frames"] >= 5 else None

                shown = await eventually(decoding, 20, "the console's player presents frames")
                assert (shown["width"], shown["height"]) == (320, 240)
                assert await page.evaluate(f"document.querySelector('{video}').muted") is True
                assert await page.inner_text("#mod-sound") == "Unmute"
                await page.click("#mod-sound")
                assert await page.evaluate(f"document.querySelector('{video}').muted") is False
                assert await page.inner_text("#mod-sound") == "Mute"
                # Its media card shows this node's view: the layer arriving and its own player's session, with the
                # estimate's source (a one-layer stream: receiver reports) and the switch count.
                row = page.locator("#media-viewers tr[data-session]")
                await row.first.wait_for(timeout=10_000)
                assert await row.first.get_attribute("data-estimator") == "receiver_reports"
                assert "320×240" in await page.inner_text("#media-layers")

                # The studio's switch turns the transcoded ladder on for this single-layer publisher.
                await page.goto(f"{base}/studio?stream={sid}")
                await page.wait_for_selector("#ladder:not(:checked)", state="attached")
                await page.check("#ladder")
                await page.wait_for_selector("#ladder-status:has-text('being made now')")
                ladder = next(r["ladder"] for r in hub.sfu.stats()["routers"] if r["stream_id"] == sid)
                assert ladder is not None and ladder["rids"] == ["m", "l"]
                assert log.errors == []
    finally:
        await publisher.close()
        await hub.close()
        await mongo_client.drop_database(db_name)
