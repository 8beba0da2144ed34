"""Streamer tools in headless Chromium: gift messages in the pages (highlighted in chat, on the gift's card)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from hub.app import create_app
from hub.wiring import Hub
from tests.e2e.browser import PageLog, chromium, log_in, new_page
from tests.support.api import auth, create_stream, register
from tests.support.coins import give_coins
from tests.support.servers import serve_asgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
async def site(hub: Hub) -> AsyncIterator[dict[str, Any]]:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Owner")
        fan = await register(client, "Fan")
        stream = await create_stream(client, owner, "Tools stream")
        r = await client.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(owner))
        assert r.status_code == 200, r.text
        await give_coins(client, hub, fan["user"]["id"], 50)
        yield {"base": base, "owner": owner, "fan": fan, "stream": stream, "http": client, "hub": hub}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_a_gift_message_shows_highlighted_in_the_chat_and_on_the_gift_card(
    site: dict[str, Any], browser: Browser
) -> None:
    fan_page = await new_page(browser)
    log = PageLog(fan_page)
    await fan_page.goto(f"{site['base']}/watch/{site['stream']['id']}")
    await log_in(fan_page, site["fan"]["email"])
    watcher = await new_page(browser)
    await watcher.goto(f"{site['base']}/watch/{site['stream']['id']}")
    await watcher.wait_for_selector('.gift-btn[data-gift-id="rose"]')
    await fan_page.fill("#gift-message", "Happy birthday!")
    await fan_page.click('.gift-btn[data-gift-id="rose"]')
    for page in (fan_page, watcher):
        row = page.locator(".chat-gift", has_text="Happy birthday!")
        await row.wait_for()
        assert "Fan" in await row.inner_text()
        await page.locator(".gift-card .gift-message", has_text="Happy birthday!").wait_for()
    assert await fan_page.input_value("#gift-message") == ""  # cleared after sending
    assert not log.errors, log.errors
