"""Each page loads in headless Chromium without console errors, speaks English or Russian by the browser's language,
fetches nothing from outside the hub, fits a phone screen, and shows errors as sentences."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from playwright.async_api import Browser

from accounts.models import Role
from accounts.tokens import AccessTokenCodec
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import TEST_JWT_SECRET
from tests.e2e.browser import PASSWORD, PageLog, chromium, log_in, new_page
from tests.support.api import auth, create_stream, register
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
    await page.wait_for_selector("#chat-input[placeholder='Say something nice…']")
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


async def test_room_settings_from_the_console_reach_the_viewers_chat(site: dict[str, Any], browser: Browser) -> None:
    base, stream_id = site["base"], site["stream"]["id"]
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(f"/api/v1/streams/{stream_id}/live", headers=auth(site["owner"]))
        assert r.status_code == 200, r.text
        viewer = await register(client, "Viewer")
    console = await new_page(browser)
    console_log = PageLog(console)
    await console.goto(f"{base}/console")
    await log_in(console, site["owner"]["email"], opener="#gate-login")
    await console.click(f'#rooms li[data-stream-id="{stream_id}"]')
    await console.wait_for_selector("#room-role:has-text('owner')")

    watch = await new_page(browser)
    watch_log = PageLog(watch)
    await watch.goto(f"{base}/watch/{stream_id}")
    await log_in(watch, viewer["email"])
    await watch.wait_for_selector("#chat-input[placeholder='Say something nice…']")

    await console.select_option("#slow", "10")
    await watch.wait_for_selector("#chat-status:has-text('Slow mode: one message every 10 s')")
    await console.fill("#term", "spoiler")
    await console.click("#term-form button[type=submit]")
    await console.wait_for_selector("#terms .term:has-text('spoiler')")
    await console.wait_for_selector('#modlog li[data-action="block_term"]')
    assert await console.is_visible('#modlog li[data-action="slow"]')

    await watch.fill("#chat-input", "big spoiler ahead")
    await watch.click("#chat-form button[type=submit]")
    await watch.wait_for_selector('.toast-error:has-text("Your message contains a word that isn\'t allowed here.")')
    assert await watch.input_value("#chat-input") == "big spoiler ahead", "a refused message stays to be edited"
    await watch.fill("#chat-input", "no spoilers from me")
    await watch.click("#chat-form button[type=submit]")
    await watch.wait_for_selector("#chat .chat-text:has-text('no spoilers from me')")
    await console.wait_for_selector("#chat .chat-text:has-text('no spoilers from me')")
    # slow mode: the next message within 10 s is refused with the wait
    await watch.fill("#chat-input", "and again")
    await watch.click("#chat-form button[type=submit]")
    await watch.wait_for_selector(".toast-error:has-text('Slow mode is on')")

    await console.check("#shield")
    await watch.wait_for_selector("#chat-status:has-text('Shield mode is on')")
    assert not console_log.errors, console_log.errors
    assert not watch_log.errors, watch_log.errors


async def test_an_expired_session_is_refreshed_without_the_person_noticing(
    site: dict[str, Any], browser: Browser
) -> None:
    owner = site["owner"]
    claims = jwt.decode(owner["access_token"], options={"verify_signature": False})
    codec = AccessTokenCodec(TEST_JWT_SECRET, 60, 0)
    expired = codec.issue(
        owner["user"]["id"], Role(claims["role"]), claims["sid"], datetime.now(UTC) - timedelta(hours=1)
    )
    page = await new_page(browser)
    log = PageLog(page, ignore=("status of 401",))  # the first, refused request
    await page.goto(f"{site['base']}/")
    stored = {"access_token": expired, "refresh_token": owner["refresh_token"], "user": owner["user"]}
    await page.evaluate("(s) => localStorage.setItem('livehub.session', JSON.stringify(s))", stored)
    # two tabs wake up with the same expired session at once: one refreshes, the other uses its tokens
    other = await page.context.new_page()
    other_log = PageLog(other, ignore=("status of 401",))
    await asyncio.gather(page.goto(f"{site['base']}/wallet"), other.goto(f"{site['base']}/wallet"))
    for tab in (page, other):
        await tab.wait_for_selector("#coins[data-value='0']")
        assert await tab.is_visible("#wallet")
        assert "Owner" in await tab.inner_text("header")
    session = await page.evaluate("JSON.parse(localStorage.getItem('livehub.session'))")
    assert session["access_token"] != expired and session["refresh_token"] != owner["refresh_token"]
    async with httpx.AsyncClient(base_url=site["base"]) as client:
        r = await client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {session['access_token']}"})
        assert r.status_code == 200, r.text
        r = await client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 200, "the session was revoked: a spent refresh token was presented twice"
    assert not log.errors, log.errors
    assert not other_log.errors, other_log.errors


async def test_a_returning_broadcaster_opens_each_page_already_logged_in(
    site: dict[str, Any], browser: Browser
) -> None:
    owner = site["owner"]
    page = await new_page(browser)
    log = PageLog(page)
    await page.goto(f"{site['base']}/")
    stored = {"access_token": owner["access_token"], "refresh_token": owner["refresh_token"], "user": owner["user"]}
    await page.evaluate("(s) => localStorage.setItem('livehub.session', JSON.stringify(s))", stored)
    await page.goto(f"{site['base']}/studio")
    await page.wait_for_selector(f'#streams li[data-stream-id="{site["stream"]["id"]}"]')
    await page.wait_for_selector("#go-live:enabled")
    assert await page.inner_text("#stream-title") == "Smoke stream"
    await page.goto(f"{site['base']}/console")
    await page.wait_for_selector("#rooms li")
    await page.goto(f"{site['base']}/wallet")
    await page.wait_for_selector("#coins[data-value='0']")
    assert not log.errors, log.errors


async def test_the_broadcaster_makes_a_chatter_a_moderator_who_then_finds_the_room_in_the_console(
    site: dict[str, Any], browser: Browser
) -> None:
    base, stream_id = site["base"], site["stream"]["id"]
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(f"/api/v1/streams/{stream_id}/live", headers=auth(site["owner"]))
        assert r.status_code == 200, r.text
        helper = await register(client, "Helper")
    studio = await new_page(browser)
    studio_log = PageLog(studio)
    await studio.goto(f"{base}/studio")
    await log_in(studio, site["owner"]["email"], opener="#gate-login")
    await studio.wait_for_selector("#moderators li:has-text('No moderators yet')")

    watch = await new_page(browser)
    await watch.goto(f"{base}/watch/{stream_id}")
    await log_in(watch, helper["email"])
    await watch.wait_for_selector("#chat-input[placeholder='Say something nice…']")
    await watch.fill("#chat-input", "happy to help keep the chat nice")
    await watch.press("#chat-input", "Enter")

    row = f'#chat .chat-msg[data-user-id="{helper["user"]["id"]}"]'
    await studio.click(f"{row} .mod-promote")
    await studio.wait_for_selector(f'#moderators li[data-user-id="{helper["user"]["id"]}"]:has-text("Helper")')
    await studio.wait_for_selector(".toast-ok:has-text('Helper is now a moderator of this stream')")

    console = await new_page(browser)
    await console.goto(f"{base}/console")
    await log_in(console, helper["email"], opener="#gate-login")
    await console.click(f'#rooms li[data-stream-id="{stream_id}"]')
    await console.wait_for_selector("#room-role:has-text('moderator')")

    await studio.click(f'#moderators li[data-user-id="{helper["user"]["id"]}"] .mod-demote')
    await studio.wait_for_selector("#moderators li:has-text('No moderators yet')")
    assert not studio_log.errors, studio_log.errors


async def test_a_session_signed_out_elsewhere_turns_the_page_into_a_guests(
    site: dict[str, Any], browser: Browser
) -> None:
    base, stream_id = site["base"], site["stream"]["id"]
    async with httpx.AsyncClient(base_url=base) as client:
        viewer = await register(client, "Leaver")
        page = await new_page(browser)
        log = PageLog(page)
        await page.goto(f"{base}/watch/{stream_id}")
        await log_in(page, viewer["email"])
        await page.wait_for_selector("#chat-input[placeholder='Say something nice…']")
        session = await page.evaluate("JSON.parse(localStorage.getItem('livehub.session'))")
        r = await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {session['access_token']}"})
        assert r.status_code == 204, r.text
    await asyncio.sleep(5.5)  # open sockets re-check their session every 5 s of activity
    await page.fill("#chat-input", "still here?")
    await page.click("#chat-form button[type=submit]")
    await page.wait_for_selector(".toast-error:has-text('You were signed out. Please log in again.')")
    await page.wait_for_selector("#chat-input[placeholder='Log in to chat']")
    await page.wait_for_selector("header #login")
    assert await page.evaluate("localStorage.getItem('livehub.session')") is None
    assert not log.errors, log.errors
