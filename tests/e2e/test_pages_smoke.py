"""Each page loads in headless Chromium without console errors, speaks English or Russian by the browser's language,
fetches nothing from outside the hub, fits a phone screen, and shows errors as sentences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from hub.app import create_app
from hub.wiring import Hub
from tests.e2e.browser import PASSWORD, PageLog, chromium, new_page
from tests.support.api import create_stream, register
from tests.support.servers import serve_asgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def site(hub: Hub) -> AsyncIterator[dict[str, Any]]:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Owner")
        stream = await create_stream(client, owner, "Smoke stream")
        yield {"base": base, "owner": owner, "stream": stream}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


# what each page must say, in each language, to a guest
PAGES = {
    "/": {"en-US": ["Live now", "Nobody is live right now"], "ru-RU": ["Сейчас в эфире", "Сейчас никто не в эфире"]},
    "/studio": {"en-US": ["Log in to go live"], "ru-RU": ["Войдите, чтобы начать эфир"]},
    "/console": {"en-US": ["Log in to moderate"], "ru-RU": ["Войдите, чтобы модерировать"]},
    "/wallet": {"en-US": ["Log in to send gifts"], "ru-RU": ["Войдите, чтобы дарить подарки"]},
    "/watch/{id}": {
        "en-US": ["This stream is not live yet", "Smoke stream", "Top gifters", "Rose"],
        "ru-RU": ["Трансляция ещё не началась", "Smoke stream", "Топ дарителей", "Роза"],
    },
}


@pytest.mark.parametrize("locale", ["en-US", "ru-RU"])
async def test_every_page_loads_without_errors_in_the_browsers_language(
    site: dict[str, Any], browser: Browser, locale: str
) -> None:
    base = site["base"]
    page = await new_page(browser, locale=locale)
    log = PageLog(page)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    for path, texts in PAGES.items():
        await page.goto(base + path.replace("{id}", site["stream"]["id"]))
        await page.wait_for_load_state("networkidle")
        body = await page.inner_text("body")
        for expected in texts[locale]:
            assert expected in body, f"{path} ({locale}) does not say {expected!r}"
        assert await page.evaluate("document.documentElement.lang") == locale[:2]
    assert not log.errors, log.errors
    assert not outside, f"the pages fetched from outside the hub: {outside}"


async def test_a_guest_watching_is_asked_to_log_in_to_chat_or_gift(site: dict[str, Any], browser: Browser) -> None:
    page = await new_page(browser)
    log = PageLog(page, ignore=("status of 401",))  # the refused log-in below
    await page.goto(f"{site['base']}/watch/{site['stream']['id']}")
    await page.wait_for_selector('.gift-btn[data-gift-id="rose"]')
    assert await page.get_attribute("#chat-input", "placeholder") == "Log in to chat"
    assert await page.is_disabled("#chat-form button[type=submit]")
    await page.click('.gift-btn[data-gift-id="rose"]')
    await page.wait_for_selector(".modal")
    assert "Log in to send gifts" in await page.inner_text(".modal")
    # a wrong password is a sentence in the dialog, not a stack trace or silence
    await page.fill(".modal input[name=login]", site["owner"]["email"])
    await page.fill(".modal input[name=password]", "not " + PASSWORD)
    await page.click(".modal button[type=submit]")
    await page.wait_for_selector(".modal .form-error:has-text('Wrong email, phone or password.')")
    await page.fill(".modal input[name=password]", PASSWORD)
    await page.click(".modal button[type=submit]")
    await page.wait_for_selector(".modal", state="detached")
    await page.wait_for_function("document.querySelector('#chat-input').placeholder === 'Say something nice…'")
    assert "Owner" in await page.inner_text("header")
    assert not log.errors, log.errors


async def test_the_viewer_page_fits_a_phone_screen(site: dict[str, Any], browser: Browser) -> None:
    page = await new_page(browser, viewport=PHONE)
    await page.goto(f"{site['base']}/watch/{site['stream']['id']}")
    await page.wait_for_selector('.gift-btn[data-gift-id="rose"]')
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
    stage = await page.locator("#stage").bounding_box()
    chat = await page.locator("#chat-form").bounding_box()
    assert stage is not None and chat is not None
    assert stage["width"] >= PHONE["width"] - 2, "the player should span the phone's width"
    assert chat["y"] > stage["y"] + stage["height"], "the chat should sit below the player on a phone"
    await page.screenshot(path="/tmp/phone.png", full_page=True)
