"""Subscriptions in headless Chromium: the watch page's Subscribe button goes to Stripe Checkout (a local
Stripe-compatible endpoint) and shows the months once Stripe's signed events arrive; a gifted month (paid in coins,
no Stripe needed) draws the "new subscriber" alert on the OBS alerts overlay, and the subscriber's chat message
shows the subscriber badge with its months and the channel's emote as an image on the watch page."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import TEST_WEBHOOK_SECRET, make_settings
from tests.e2e.browser import PageLog, chromium, log_in, new_page
from tests.support import stripe_events
from tests.support.api import auth, live_stream, register
from tests.support.coins import give_coins
from tests.support.servers import serve_asgi
from tests.support.stripe_billing import fake_stripe

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _png(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00\xff" * side for _ in range(side))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_a_gifted_sub_draws_the_overlay_alert_and_the_subscriber_chats_with_badge_months_and_emote(
    hub: Hub, browser: Browser
) -> None:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as http:
        owner, fan, lucky = [await register(http, n) for n in ("Owner", "Fan", "Lucky")]
        stream = await live_stream(http, owner)
        channel = owner["user"]["id"]
        r = await http.post(
            "/api/v1/me/emotes?code=Hype",
            content=_png(28),
            headers={**auth(owner), "Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
        await give_coins(http, hub, fan["user"]["id"], 600)
        key = (await http.get(f"/api/v1/streams/{stream['id']}/overlays", headers=auth(owner))).json()["key"]
        overlay = await new_page(browser, viewport={"width": 1920, "height": 1080})
        overlay_log = PageLog(overlay, ignore=("favicon.ico",))
        await overlay.goto(f"{base}/overlay/alerts?duration=4000#key={key}")
        await overlay.wait_for_selector("body[data-state=live]")

        r = await http.post(
            f"/api/v1/channels/{channel}/subscription-gifts",
            json={"recipient_id": lucky["user"]["id"], "tier_id": "tier1", "idempotency_key": "e2e-1"},
            headers=auth(fan),
        )
        assert r.status_code == 201, r.text
        alert = overlay.locator(f'.alert-sub[data-user="{lucky["user"]["id"]}"]')
        await alert.wait_for(timeout=5000)
        text = await alert.inner_text()
        assert "Fan gifted Lucky a sub" in text and "1 months" in text

        page = await new_page(browser)
        page_log = PageLog(page)
        await page.goto(f"{base}/watch/{stream['id']}")
        await log_in(page, lucky["email"])
        await page.fill("#chat-input", "so Hype right now")
        await page.press("#chat-input", "Enter")
        row = page.locator(".chat-msg", has_text="so")
        await row.locator('.badge-subscriber[data-months="1"]').wait_for(timeout=5000)
        emote = row.locator('img.emote[alt="Hype"]')
        await emote.wait_for()
        assert await emote.evaluate("img => img.complete && img.naturalWidth") == 28
        assert not overlay_log.errors, overlay_log.errors
        assert not page_log.errors, page_log.errors


async def test_the_watch_page_subscribes_through_checkout_and_then_shows_the_months(
    db_name: str, mongo_client: Any, browser: Browser
) -> None:
    async with fake_stripe() as stripe:
        hub = Hub(make_settings(db_name, stripe_api_base=stripe.url), mongo_client=mongo_client)
        async with serve_asgi(create_app(hub)) as base, httpx.AsyncClient(base_url=base) as http:
            owner, viewer = await register(http, "Owner"), await register(http, "Viewer")
            stream = await live_stream(http, owner)
            page = await new_page(browser)
            log = PageLog(page, ignore=("checkout.example",))
            await page.route("https://checkout.example/**", lambda route: route.fulfill(body="<p>Stripe Checkout</p>"))
            await page.goto(f"{base}/watch/{stream['id']}")
            await log_in(page, viewer["email"])
            await page.click("#subscribe")
            await page.click('#sub-tiers button[data-tier="tier1"]')
            await page.wait_for_url("https://checkout.example/**")
            (session,) = stripe.sessions.values()
            assert session["mode"] == "subscription" and page.url == session["url"]

            sub_id = stripe.complete_checkout(session["id"])
            for evt in (
                stripe.subscription_event("customer.subscription.created", sub_id, created=stripe.now),
                stripe.invoice_event("invoice.paid", sub_id, created=stripe.now + 1),
            ):
                payload, header = stripe_events.sign(evt, TEST_WEBHOOK_SECRET)
                r = await http.post(
                    "/api/v1/stripe/webhook",
                    content=payload,
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                )
                assert r.status_code == 200, r.text
            await page.goto(f"{base}/watch/{stream['id']}")
            button = page.locator('#subscribe[data-state="subscribed"]')
            await button.wait_for(timeout=5000)
            assert "1 mo" in await button.inner_text()
            assert not log.errors, log.errors
        await mongo_client.drop_database(db_name)


async def test_the_streamer_uploads_and_deletes_subscriber_emotes_in_the_studio(hub: Hub, browser: Browser) -> None:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as http:
        owner = await register(http, "Owner")
        channel = owner["user"]["id"]
        studio = await new_page(browser)
        log = PageLog(studio)
        await studio.goto(f"{base}/studio")
        await log_in(studio, owner["email"], opener="#gate-login")
        await studio.wait_for_selector("#studio-emotes:not([hidden]) #emote-list li.muted")

        await studio.fill("#emote-form input[name=code]", "Hype")
        await studio.set_input_files(
            "#emote-form input[name=image]", {"name": "hype.png", "mimeType": "image/png", "buffer": _png(28)}
        )
        await studio.click("#emote-form button[type=submit]")
        shown = studio.locator("#emote-list li[data-code=Hype] img.emote")
        await shown.wait_for(timeout=10_000)
        assert await shown.evaluate("img => img.complete && img.naturalWidth") == 28  # the served image decodes
        listed = (await http.get(f"/api/v1/channels/{channel}/emotes")).json()["items"]
        assert [(e["code"], e["width"], e["content_type"]) for e in listed] == [("Hype", 28, "image/png")]

        # Too big a picture is refused with the server's reason and nothing is added.
        await studio.fill("#emote-form input[name=code]", "Huge")
        await studio.set_input_files(
            "#emote-form input[name=image]", {"name": "huge.png", "mimeType": "image/png", "buffer": _png(256)}
        )
        await studio.click("#emote-form button[type=submit]")
        await studio.locator(".toast").first.wait_for(timeout=10_000)
        assert len((await http.get(f"/api/v1/channels/{channel}/emotes")).json()["items"]) == 1

        await studio.click("#emote-list li[data-code=Hype] .emote-delete")
        await studio.locator("#emote-list li[data-code=Hype]").wait_for(state="detached")
        assert (await http.get(f"/api/v1/channels/{channel}/emotes")).json()["items"] == []
        assert not [e for e in log.errors if "422" not in e], log.errors
