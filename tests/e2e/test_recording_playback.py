"""A recording plays back in the viewer page (headless Chromium) and seeks: the player asks byte ranges (206) and
lands where it was told, then plays on from there; the streamer's past broadcasts are listed next to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.e2e.browser import PageLog, chromium, eventually, new_page
from tests.support.api import auth, create_stream, register
from tests.support.recording_peers import SyncedPublisher
from tests.support.servers import serve_asgi
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SDP = {"Content-Type": "application/sdp"}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_the_viewer_page_plays_a_recording_and_seeks_within_it(
    db_name: str, mongo_client: Any, tmp_path: Path, browser: Browser
) -> None:
    hub = Hub(make_settings(db_name, recordings_dir=str(tmp_path), recordings_segment_s=2), mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        owner = await register(client, "Vodcaster")
        stream = await create_stream(client, owner, "Yesterday's show")
        publisher = SyncedPublisher()
        try:
            r = await client.post(
                f"/api/v1/whip/{stream['id']}",
                content=await publisher.offer(),
                headers={**SDP, "Authorization": f"Bearer {stream['stream_key']}"},
            )
            assert r.status_code == 201, r.text
            await publisher.accept(r.text)
            assert await until(lambda: hub.sfu_wiring.local_sfu.has_publisher(stream["id"]), 15)
            await asyncio.sleep(1.5)
            r = await client.post(f"/api/v1/streams/{stream['id']}/recordings", headers=auth(owner))
            assert r.status_code == 201, r.text
            recording_id = r.json()["id"]
            await asyncio.sleep(8)
            await client.post(f"/api/v1/streams/{stream['id']}/recordings/stop", headers=auth(owner))
        finally:
            await publisher.close()

        async def playable() -> bool:
            r = await client.get(f"/api/v1/recordings/{recording_id}")
            return r.status_code == 200 and r.json()["state"] == "playable"

        assert await until(playable, 20)
        length = (await client.get(f"/api/v1/recordings/{recording_id}")).json()["duration_s"]

        page = await new_page(browser)
        log = PageLog(page)
        partial: list[str] = []
        page.on("response", lambda response: partial.append(response.url) if response.status == 206 else None)
        await page.goto(f"{base}/watch/{stream['id']}?recording={recording_id}")
        await page.wait_for_selector(f"#recordings-list li[data-recording-id='{recording_id}']")
        await page.wait_for_selector("#recording-player:not([hidden])")
        player = "document.querySelector('#recording-player')"

        async def metadata() -> Any:
            return await page.evaluate(f"{player}.readyState >= 1 && isFinite({player}.duration)")

        await eventually(metadata, 15, "the recording's metadata")
        duration = await page.evaluate(f"{player}.duration")
        assert abs(duration - length) < 1.0, (duration, length)
        # Seek to 2 s before the end, play: the player lands there and goes on.
        target = max(1.0, duration - 2.0)
        await page.evaluate(
            f"""() => new Promise((resolve) => {{
                const v = {player};
                v.muted = true;
                v.addEventListener('seeked', () => resolve(), {{ once: true }});
                v.currentTime = {target};
            }})"""
        )
        landed = await page.evaluate(f"{player}.currentTime")
        assert abs(landed - target) < 0.5, (landed, target)
        await page.evaluate(f"{player}.play()")

        async def plays_on() -> Any:
            return await page.evaluate(f"{player}.currentTime > {target} + 0.5 && {player}.error === null")

        await eventually(plays_on, 15, "playback to go on after the seek")
        assert any(f"/recordings/{recording_id}/media" in url for url in partial), partial
        assert not log.errors, log.errors
