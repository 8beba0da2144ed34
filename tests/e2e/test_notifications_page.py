"""The notification centre in headless Chromium: a followed streamer going live appears at once (over the socket)
with the unread count, "mark all read" clears it, and muting a streamer from a notification lists them as muted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from hub.app import create_app
from hub.wiring import Hub
from tests.e2e.browser import PageLog, chromium, eventually, log_in, new_page
from tests.support.api import auth, create_stream, register
from tests.support.servers import serve_asgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_a_followed_streamer_going_live_shows_in_the_notification_centre_at_once(
    hub: Hub, browser: Browser
) -> None:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as client:
        streamer = await register(client, "Caster")
        fan = await register(client, "Fan")
        r = await client.post(f"/api/v1/users/{streamer['user']['id']}/follow", headers=auth(fan))
        assert r.status_code == 204
        stream = await create_stream(client, streamer, "Live from the page test")
        page = await new_page(browser)
        log = PageLog(page)
        await page.goto(f"{base}/notifications")
        await log_in(page, fan["email"], opener="#gate-login")
        await page.wait_for_selector("#centre:not([hidden])")
        assert await page.inner_text("#unread") == "0"
        await page.wait_for_timeout(500)  # the socket connects

        r = await client.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(streamer))
        assert r.status_code == 200

        item = await page.wait_for_selector("#list li.note-unread", timeout=10_000)
        text = await item.inner_text()
        assert "Caster is live" in text and "Live from the page test" in text
        assert await page.inner_text("#unread") == "1"
        await page.click("#read-all")

        async def cleared() -> Any:
            return await page.inner_text("#unread") == "0" and not await page.query_selector("#list li.note-unread")

        await eventually(cleared, 10, "the unread count to clear")
        listed = await client.get("/api/v1/notifications", headers=auth(fan))
        assert listed.json()["unread"] == 0

        await page.click("#list li button.mute")
        await page.wait_for_selector(f"#mutes li[data-user-id='{streamer['user']['id']}']")
        mutes = await client.get("/api/v1/notifications/mutes", headers=auth(fan))
        assert mutes.json()["items"] == [streamer["user"]["id"]]
        assert not log.errors, log.errors
