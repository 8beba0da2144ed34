"""Streamer tools in headless Chromium: gift messages in the pages (highlighted in chat, on the gift's card) and the
OBS overlays (links and test alerts in the studio; alerts, goal bar, chat box, top gifters; rotated links stop)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, WebSocketRoute

from hub.app import create_app
from hub.wiring import Hub
from tests.e2e.browser import PageLog, chromium, eventually, log_in, new_page
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


async def test_the_senders_combo_counter_never_counts_down_when_acks_come_back_out_of_order(
    site: dict[str, Any], browser: Browser
) -> None:
    # Sends tapped fast are in flight together, and their acks can come back in another order. The page's WebSocket
    # is routed here: the ack carrying combo 2 is held back until the one carrying combo 3 has reached the page.
    fan_page = await new_page(browser)
    log = PageLog(fan_page)
    held: list[str | bytes] = []
    released = asyncio.Event()

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("43/live,") and '"combo":2' in message:
                held.append(message)
                return
            ws.send(message)
            if held and isinstance(message, str) and message.startswith("43/live,") and '"combo":3' in message:
                ws.send(held.pop())
                released.set()

        server.on_message(to_page)

    await fan_page.route_web_socket("**/socket.io/**", route)
    await fan_page.goto(f"{site['base']}/watch/{site['stream']['id']}")
    await log_in(fan_page, site["fan"]["email"])
    button = '.gift-btn[data-gift-id="rose"]'
    await fan_page.wait_for_selector(button)
    for _ in range(3):
        await fan_page.click(button)
    await asyncio.wait_for(released.wait(), 15)
    await fan_page.wait_for_timeout(300)  # the late ack is handled
    assert await fan_page.inner_text(f"{button} .gift-combo-badge") == "×3"
    assert not log.errors, log.errors


async def overlay_page(browser: Browser, url: str) -> Page:
    page = await new_page(browser, viewport={"width": 1920, "height": 1080})
    await page.goto(url)
    await page.wait_for_selector("body[data-state=live]")
    return page


async def alert_log(page: Page) -> list[dict[str, Any]]:
    return list(await page.evaluate("window.livehubOverlay.alerts.log"))


async def test_the_studio_shows_overlay_links_and_a_gift_alert_appears_within_a_second_and_leaves_after_its_duration(
    site: dict[str, Any], browser: Browser
) -> None:
    base, stream, http = site["base"], site["stream"], site["http"]
    studio = await new_page(browser)
    studio_log = PageLog(studio)
    await studio.goto(f"{base}/studio")
    await log_in(studio, site["owner"]["email"], opener="#gate-login")
    await studio.wait_for_selector("#overlays:not([hidden]) input[data-kind=alerts]")
    urls = {
        kind: await studio.input_value(f"#overlay-links input[data-kind={kind}]")
        for kind in ("alerts", "goal", "chat", "top")
    }
    assert all(u.startswith(f"{base}/overlay/{k}#key=ovl_") for k, u in urls.items()), urls
    await studio.click("#overlay-links button[data-copy=alerts]")
    assert await studio.evaluate("navigator.clipboard.readText()") == urls["alerts"]

    overlay = await overlay_page(browser, urls["alerts"].replace("#", "?duration=1500#"))
    overlay_log = PageLog(overlay)
    # A transparent 1920x1080 canvas: nothing but the alerts is drawn.
    assert await overlay.evaluate("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert await overlay.evaluate("getComputedStyle(document.documentElement).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert await overlay.evaluate("[document.body.offsetWidth, document.body.offsetHeight]") == [1920, 1080]

    sent_at = time.monotonic()
    r = await http.post(
        f"/api/v1/streams/{stream['id']}/gifts",
        json={"gift_id": "rose", "idempotency_key": "alert-1", "message": "first!"},
        headers=auth(site["fan"]),
    )
    assert r.status_code == 200, r.text
    transfer = r.json()["transfer_id"]
    alert = overlay.locator(f'.alert[data-transfer="{transfer}"]')
    await alert.wait_for(timeout=5000)
    appeared = time.monotonic() - sent_at
    assert appeared <= 1.0, f"the alert appeared {appeared:.2f} s after the gift"
    text = await alert.inner_text()
    assert "Fan" in text and "first!" in text
    await alert.wait_for(state="detached", timeout=6000)
    entry = next(e for e in await alert_log(overlay) if e["transfer"] == transfer)
    shown_ms = entry["leftAt"] - entry["shownAt"]
    assert 1500 <= shown_ms <= 1500 + 400 + 1000, f"the alert stayed {shown_ms:.0f} ms (duration 1500 + 400 leaving)"

    # A burst plays in order, one alert at a time; the studio's test alert is visibly a test and moves no money.
    coins_before = (await http.get("/api/v1/wallet", headers=auth(site["fan"]))).json()["coins"]
    await studio.click("#test-alert")
    for i, gift in enumerate(("heart", "perfume")):
        r = await http.post(
            f"/api/v1/streams/{stream['id']}/gifts",
            json={"gift_id": gift, "idempotency_key": f"burst-{i}"},
            headers=auth(site["fan"]),
        )
        assert r.status_code == 200, r.text
    test_alert = overlay.locator(".alert.alert-is-test")
    await test_alert.wait_for()
    assert "TEST" in await test_alert.inner_text()

    async def three_played() -> bool:
        return len([e for e in await alert_log(overlay) if e["leftAt"] is not None]) >= 4

    await eventually(three_played, 15, "the burst of three alerts to play")
    played = (await alert_log(overlay))[1:]
    assert played[0]["test"] is True
    for before, after in itertools.pairwise(played):
        assert after["shownAt"] >= before["leftAt"], played  # one at a time, in order
    coins_after = (await http.get("/api/v1/wallet", headers=auth(site["fan"]))).json()["coins"]
    assert coins_before - coins_after == 5 + 20  # the heart and the perfume; the test alert cost nothing
    assert not studio_log.errors, studio_log.errors
    assert not overlay_log.errors, overlay_log.errors


async def test_goal_chat_and_top_gifter_overlays_draw_the_room_and_a_rotated_link_stops(
    site: dict[str, Any], browser: Browser
) -> None:
    base, stream, http, owner = site["base"], site["stream"], site["http"], site["owner"]
    r = await http.put(
        f"/api/v1/streams/{stream['id']}/goal",
        json={"kind": "beans", "target": 1000, "title": "New camera"},
        headers=auth(owner),
    )
    assert r.status_code == 200, r.text
    links = (await http.get(f"/api/v1/streams/{stream['id']}/overlays", headers=auth(owner))).json()
    url = {o["kind"]: base + o["path"] for o in links["overlays"]}
    goal, chat, top = [await overlay_page(browser, url[k]) for k in ("goal", "chat", "top")]
    assert "New camera" in await goal.inner_text("#goal")
    r = await http.post(
        f"/api/v1/streams/{stream['id']}/gifts",
        json={"gift_id": "perfume", "idempotency_key": "top-1", "message": "love the stream"},
        headers=auth(site["fan"]),
    )
    assert r.status_code == 200, r.text
    await top.locator("#board .board-nick", has_text="Fan").wait_for()
    await chat.locator("#chatbox .chat-gift", has_text="love the stream").wait_for()
    await eventually(
        lambda: goal.evaluate("document.querySelector('#goal .goal-fill').style.width !== '0%'"), 10, "the goal bar"
    )

    studio = await new_page(browser)
    await studio.goto(f"{base}/studio")
    await log_in(studio, owner["email"], opener="#gate-login")
    await studio.wait_for_selector("#overlays:not([hidden]) input[data-kind=chat]")
    studio.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await studio.click("#rotate-overlays")

    async def new_links() -> bool:
        return not (await studio.input_value("#overlay-links input[data-kind=chat]")).endswith(links["key"])

    await eventually(new_links, 10, "the studio to show the new links")
    for page in (goal, chat, top):  # open overlays with the old key are cut off and say why
        await page.wait_for_selector("body[data-state=revoked] #notice:not([hidden])")
    again = await new_page(browser, viewport={"width": 1920, "height": 1080})
    await again.goto(url["chat"])
    await again.wait_for_selector("body[data-state=revoked]")
