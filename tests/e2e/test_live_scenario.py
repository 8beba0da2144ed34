"""One live session in real headless Chromium, every step checked on what a person sees on the pages.

A broadcaster goes live from the studio with the fake camera; two viewers watch and decode video; they chat and like;
the broadcaster makes a third chatter a moderator; one viewer buys coins (Stripe Checkout completed by a signed
webhook) and sends a gift three times fast; the moderator times the other viewer out from the console; the broadcaster
deletes a message and ends the stream. Screenshots of the three pages go to docs/screenshots/
(with HUB_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.e2e.browser import COUNT_FRAMES, FRAMES_DECODED, PageLog, chromium, eventually, log_in, new_page
from tests.e2e.fake_stripe import FakeStripe, signed
from tests.support.api import auth, register
from tests.support.servers import free_port, serve_asgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The README shows these; a run refreshes them only when asked (HUB_UPDATE_SCREENSHOTS=1), so running the suite
# leaves the tree clean.
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
GIFT_ID = "heart"


async def text(page: Page, selector: str) -> str:
    return (await page.inner_text(selector)).strip()


async def number(page: Page, selector: str) -> int:
    value = await page.get_attribute(selector, "data-value")
    return int(value or 0)


async def chat_has(page: Page, words: str) -> bool:
    return words in await text(page, "#chat")


async def frames(page: Page, selector: str, ms: int = 1500) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(COUNT_FRAMES, [selector, ms])
    return result


async def test_a_live_session_from_go_live_to_the_end(mongo_client: Any, db_name: str, tmp_path: Path) -> None:
    screenshots = DOC_SCREENSHOTS if os.environ.get("HUB_UPDATE_SCREENSHOTS") == "1" else tmp_path
    fake_stripe = FakeStripe()
    port = free_port()
    async with serve_asgi(fake_stripe.app()) as stripe_base:
        fake_stripe.base_url = stripe_base
        settings = make_settings(
            db_name,
            public_url=f"http://127.0.0.1:{port}",
            stripe_api_base=stripe_base,
            sfu_announced_ips=("127.0.0.1",),
        )
        hub = Hub(settings, mongo_client=mongo_client)
        app = create_app(hub, own_hub=True)
        async with serve_asgi(app, port=port) as base, httpx.AsyncClient(base_url=base, timeout=10) as api:
            await run_scenario(base, api, hub, fake_stripe, screenshots)


async def run_scenario(base: str, api: httpx.AsyncClient, hub: Hub, fake_stripe: FakeStripe, screenshots: Path) -> None:
    star = await register(api, "Star")
    alice = await register(api, "Alice")
    bob = await register(api, "Bob")
    mod = await register(api, "Modesto")

    async with chromium() as browser:
        # 1. The broadcaster logs in, creates a stream and goes live from the fake camera; the preview plays.
        studio = await new_page(browser)
        studio_log = PageLog(studio)
        await studio.goto(f"{base}/studio")
        await log_in(studio, star["email"], opener="#gate-login")
        await studio.fill("#new-title", "Evening jam session")
        await studio.click("#new-stream button[type=submit]")
        await eventually(lambda: studio.is_enabled("#go-live"), 15, "the Go live button to be ready")
        preview = await frames(studio, "#preview")
        assert preview["frames"] > 5 and preview["width"] > 0, f"the camera preview does not play: {preview}"
        stream_id = (await studio.get_attribute("#open-viewer", "href") or "").rsplit("/", 1)[-1]
        assert stream_id, "the studio shows no link to the viewer page"
        assert await studio.input_value("#whip-url") == f"{base}/api/v1/whip/{stream_id}"
        stream_key = await studio.input_value("#stream-key")
        assert stream_key.startswith("sk_")
        await studio.click("#copy-key")
        assert await studio.evaluate("navigator.clipboard.readText()") == stream_key
        # a goal, set from the studio
        await studio.click("#goal-editor summary")
        await studio.fill("#goal-title", "New microphone")
        await studio.fill("#goal-target", "1000")
        await studio.click("#goal-form button[type=submit]")
        await eventually(lambda: studio.is_visible("#goal"), 10, "the goal bar in the studio")
        await studio.click("#go-live")
        await eventually(lambda: _attr_is(studio, "#status", "data-state", "live"), 20, "the studio to say it is live")
        assert await studio.is_visible("#live-pill")

        # 2. Two viewers open the stream from the directory; both decode video frames.
        viewers: list[Page] = []
        logs: list[PageLog] = []
        for person in (alice, bob):
            page = await new_page(browser)
            logs.append(PageLog(page))
            await page.goto(base + "/")
            await page.wait_for_selector(f'.stream-card[data-stream-id="{stream_id}"]', timeout=15_000)
            await log_in(page, person["email"])
            await page.click(f'.stream-card[data-stream-id="{stream_id}"]')
            await page.wait_for_url(f"{base}/watch/{stream_id}")
            viewers.append(page)
        alice_page, bob_page = viewers
        for page in viewers:
            await eventually(lambda page=page: page.evaluate(FRAMES_DECODED), 25, "the viewer to decode video")
            await page.wait_for_selector("#overlay", state="hidden", timeout=15_000)
            # (over 3 s: at load 11 a 720p viewer next to a studio encoding three layers decoded 8 frames in 1.5 s)
            seen = await frames(page, "#player", 3000)
            assert seen["frames"] >= 10 and seen["width"] > 0, f"the viewer's video does not play: {seen}"
            assert await page.evaluate(FRAMES_DECODED) > 10
        await eventually(lambda: alice_page.is_visible("#quality"), 10, "the connection-quality hint")
        await eventually(lambda: number(studio, "#viewers"), 10, "the studio's viewer count")
        assert await eventually(lambda: _at_least(studio, "#viewers", 2), 10, "two viewers in the studio")

        # 3. A viewer chats; the broadcaster and the other viewer see it.
        await alice_page.fill("#chat-input", "Hello from Alice!")
        await alice_page.press("#chat-input", "Enter")
        await eventually(lambda: chat_has(studio, "Hello from Alice!"), 10, "Alice's message in the studio")
        await eventually(lambda: chat_has(bob_page, "Hello from Alice!"), 10, "Alice's message on Bob's page")
        await bob_page.fill("#chat-input", "Hi everyone, Bob here")
        await bob_page.click("#chat-form button[type=submit]")
        await eventually(lambda: chat_has(alice_page, "Bob here"), 10, "Bob's message on Alice's page")
        # Bob taps Like three times: the counts rise on every screen.
        for _ in range(3):
            await bob_page.click("#like")
        await eventually(lambda: _equals(studio, "#likes", 3), 10, "3 likes in the studio")
        await eventually(lambda: _text_is(alice_page, "#likes", "3 likes"), 10, "3 likes on Alice's page")
        # Modesto drops by and offers to help; the broadcaster makes him a moderator from the studio's chat.
        modesto = await new_page(browser)
        await modesto.goto(f"{base}/watch/{stream_id}")
        await log_in(modesto, mod["email"])
        await modesto.wait_for_selector("#chat-input[placeholder='Say something nice…']")
        await modesto.fill("#chat-input", "Modesto here, happy to keep the chat friendly")
        await modesto.press("#chat-input", "Enter")
        modesto_row = f'#chat .chat-msg[data-user-id="{mod["user"]["id"]}"]'
        await studio.click(f"{modesto_row} .mod-promote")
        await studio.wait_for_selector(f'#moderators li[data-user-id="{mod["user"]["id"]}"]:has-text("Modesto")')

        # Alice reports Bob's message (it reaches the moderators' queue, checked in step 5).
        bob_message = f'#chat .chat-msg[data-user-id="{bob["user"]["id"]}"]'
        await alice_page.click(f"{bob_message} .report-open")
        await alice_page.click(f'{bob_message} button[data-reason="spam"]')
        await eventually(lambda: _text_contains(alice_page, ".toast-ok", "moderators will take a look"), 10, "thanks")

        # 4. Alice buys coins through Stripe Checkout; a signed webhook completes the payment.
        await alice_page.click("#buy-coins")
        await alice_page.wait_for_selector('#coins-dialog [data-pack-id="coins_350"] button')
        await alice_page.click('#coins-dialog [data-pack-id="coins_350"] button')
        await alice_page.wait_for_url(f"{fake_stripe.base_url}/pay/*", timeout=15_000)
        assert "Pay $4.99" in await text(alice_page, "#pay")
        ((sid, session),) = fake_stripe.sessions.items()
        body, signature = signed(fake_stripe.completed_event(sid), hub.settings.wallet.stripe_webhook_secret)
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        r = await api.post("/api/v1/stripe/webhook", content=body, headers=headers)
        assert r.status_code == 200, r.text
        await alice_page.goto(session["success_url"])  # where Stripe sends the buyer after paying
        await eventually(lambda: _equals(alice_page, "#coins", 350), 15, "350 coins in Alice's wallet")
        assert await alice_page.is_visible("#back")
        await alice_page.click("#back")
        await alice_page.wait_for_url(f"{base}/watch/{stream_id}")
        await eventually(lambda: alice_page.evaluate(FRAMES_DECODED), 25, "Alice's video after coming back")
        await eventually(lambda: alice_page.get_attribute("#balance", "data-coins"), 10, "Alice's balance")
        assert await alice_page.get_attribute("#balance", "data-coins") == "350"

        # ... and sends a Heart three times fast: every screen shows the animation and the combo.
        catalogue = (await api.get("/api/v1/gifts")).json()["items"]
        gift = next(g for g in catalogue if g["id"] == GIFT_ID)
        beans_before = await number(studio, "#beans")
        wallet_before = (await api.get("/api/v1/wallet", headers=auth(star))).json()
        gift_button = f'.gift-btn[data-gift-id="{GIFT_ID}"]'
        await alice_page.wait_for_selector(gift_button)
        for _ in range(3):
            await alice_page.click(gift_button)
        badge = f"{gift_button} .gift-combo-badge"
        await eventually(lambda: _text_is(alice_page, badge, "×3"), 10, "the sender's own combo count")
        card = f'.gift-card[data-sender="{alice["user"]["id"]}"][data-gift="{GIFT_ID}"]'
        for page in (studio, alice_page, bob_page):
            await page.wait_for_selector(card, timeout=10_000)
            await eventually(lambda page=page: _text_is(page, f"{card} .gift-combo", "×3"), 10, "the ×3 combo")
            assert "Heart" in await text(page, card)
        await eventually(
            lambda: _attr_is(alice_page, "#balance", "data-coins", str(350 - 3 * gift["coins"])), 10, "coins spent"
        )
        wallet_after = (await api.get("/api/v1/wallet", headers=auth(star))).json()
        earned = _beans(wallet_after) - _beans(wallet_before)
        # the gift's bean value, of which the streamer earns the catalogue kind's share
        per_gift = gift["beans"] * hub.gifts.policy.share_for(gift["kind"]) // 10_000
        assert per_gift > 0
        assert earned == 3 * per_gift, (wallet_before, wallet_after)
        await eventually(lambda: _equals(studio, "#beans", beans_before + 3 * per_gift), 10, "the studio's beans total")
        for page in (studio, alice_page, bob_page):
            await eventually(lambda page=page: _board_names(page), 10, "the leaderboard")
            assert (await _board_names(page))[0] == "Alice"
        goal_text = f"{3 * per_gift:,} / 1,000"
        for page in (studio, alice_page, bob_page):
            await eventually(lambda page=page: _text_is(page, "#goal .goal-numbers", goal_text), 10, "goal progress")

        # 5. The moderator times Bob out from the console: Bob's chat input says so and a send is refused.
        console = await modesto.context.new_page()  # Modesto, already logged in, opens the console
        console_log = PageLog(console)
        await modesto.close()
        await console.goto(f"{base}/console")
        await console.click(f'#rooms li[data-stream-id="{stream_id}"]')
        await eventually(lambda: chat_has(console, "Bob here"), 10, "the room's chat in the console")
        assert "moderator" in await text(console, "#room-role")
        await eventually(lambda: _text_contains(console, "#reports li", "Alice reported Bob"), 10, "the report")
        assert "spam" in await text(console, "#reports")
        await eventually(lambda: console.is_visible('#viewer-list li:has-text("Bob")'), 15, "Bob in the viewer list")
        bob_row = f'#chat .chat-msg[data-user-id="{bob["user"]["id"]}"]'
        await console.click(f"{bob_row} .mod-timeout")
        await console.click(f'{bob_row} button[data-duration="600"]')
        logged = '#modlog li[data-action="timeout"]'
        await eventually(lambda: console.is_visible(logged), 10, "the timeout in the mod log")
        assert "Bob" in await text(console, logged)
        restricted = f'#restricted li[data-user-id="{bob["user"]["id"]}"]'
        await eventually(lambda: _text_contains(console, restricted, "timed out until"), 10, "Bob among the restricted")
        await eventually(lambda: _text_contains(bob_page, "#chat-status", "timed out"), 10, "Bob told he is timed out")
        assert "timed out" in (await bob_page.get_attribute("#chat-input", "placeholder") or "")
        await bob_page.fill("#chat-input", "am I still here?")
        await bob_page.click("#chat-form button[type=submit]")
        await eventually(lambda: _text_contains(bob_page, ".toast-error", "timed out"), 10, "Bob's send refused")
        await asyncio.sleep(0.5)
        assert not await chat_has(alice_page, "am I still here?")
        assert not await chat_has(studio, "am I still here?")

        # The pages as they look now, for the README.
        for page in (studio, alice_page, console):
            await page.evaluate("window.scrollTo(0, 0)")
        await studio.screenshot(path=str(screenshots / "studio.png"), full_page=True)
        await alice_page.screenshot(path=str(screenshots / "viewer.png"), full_page=True)
        await console.screenshot(path=str(screenshots / "console.png"), full_page=True)

        # The broadcaster deletes Bob's message from the studio (an owner's moderation button): gone on every screen.
        await studio.click(f"{bob_message} .mod-delete")
        for page in (alice_page, bob_page, console):
            await eventually(lambda page=page: _text_contains(page, bob_message, "message deleted"), 10, "deleted")
            assert not await chat_has(page, "Bob here")

        # 6. The broadcaster ends the stream: the viewers see that it ended.
        studio.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await studio.click("#end")
        await eventually(lambda: _attr_is(studio, "#status", "data-state", "ended"), 10, "the studio to say ended")
        for page in viewers:
            await page.wait_for_selector("#overlay", state="visible", timeout=15_000)
            await eventually(lambda page=page: _text_contains(page, "#overlay-title", "ended"), 10, "the stream ended")
            assert await page.is_disabled("#chat-form button[type=submit]")

        for log in (studio_log, *logs, console_log):
            assert not log.errors, log.errors


async def _at_least(page: Page, selector: str, n: int) -> bool:
    return await number(page, selector) >= n


async def _equals(page: Page, selector: str, n: int) -> bool:
    return await number(page, selector) == n


async def _text_is(page: Page, selector: str, expected: str) -> bool:
    return (await page.inner_text(selector)).strip() == expected


async def _text_contains(page: Page, selector: str, expected: str) -> bool:
    return any(expected in t for t in await page.locator(selector).all_inner_texts())


async def _attr_is(page: Page, selector: str, name: str, expected: str) -> bool:
    return await page.get_attribute(selector, name) == expected


def _beans(wallet: dict[str, Any]) -> int:
    """Beans earned: available plus held (gifts' beans mature after a hold)."""
    return int(wallet["beans"]) + int(wallet["beans_held"])


async def _board_names(page: Page) -> list[str]:
    return [n.strip() for n in await page.locator("#board .board-nick").all_inner_texts()]


async def test_the_broadcasters_dropped_connection_comes_back_and_a_guest_keeps_watching(
    mongo_client: Any, db_name: str
) -> None:
    grace_s = 3.0  # short, so the test outlasts it
    settings = make_settings(db_name, sfu_announced_ips=("127.0.0.1",), sfu_reconnect_grace_s=grace_s)
    hub = Hub(settings, mongo_client=mongo_client)
    async with serve_asgi(create_app(hub, own_hub=True)) as base, httpx.AsyncClient(base_url=base) as api:
        star = await register(api, "Star")
        async with chromium() as browser:
            studio = await new_page(browser)
            await studio.goto(f"{base}/studio")
            await log_in(studio, star["email"], opener="#gate-login")
            await studio.fill("#new-title", "Flaky wifi")
            await studio.click("#new-stream button[type=submit]")
            await eventually(lambda: studio.is_enabled("#go-live"), 15, "the Go live button to be ready")
            await studio.click("#go-live")
            await eventually(lambda: _attr_is(studio, "#status", "data-state", "live"), 20, "live")
            stream_id = (await studio.get_attribute("#open-viewer", "href") or "").rsplit("/", 1)[-1]

            watch = await new_page(browser)  # a guest: watching needs no account
            await watch.goto(f"{base}/watch/{stream_id}")
            await eventually(lambda: watch.evaluate(FRAMES_DECODED), 25, "the guest to decode video")
            assert await watch.get_attribute("#chat-input", "placeholder") == "Log in to chat"

            # the studio's Socket.IO transport breaks (as on a network change) and reconnects by itself
            await studio.evaluate("window.livehub.state.socket.io.engine.close()")
            published = "window.livehub.state.publishes"
            await eventually(lambda: studio.evaluate(f"{published} === 2"), 20, "the studio to publish again")
            await eventually(lambda: _attr_is(studio, "#status", "data-state", "live"), 20, "live again")
            await asyncio.sleep(grace_s + 1)  # the stream outlives the grace period of the dropped connection
            before = await watch.evaluate(FRAMES_DECODED)
            # 10 frames in 4 s: the video goes on (a publisher short of CPU, encoding three simulcast layers in the
            # same browser, may run at a few frames per second for a while; a stopped video shows none)
            seen = await frames(watch, "#player", 4000)
            assert seen["frames"] >= 10, f"the viewer's video stopped after the broadcaster reconnected: {seen}"
            assert await watch.evaluate(FRAMES_DECODED) > before
            stream = (await api.get(f"/api/v1/streams/{stream_id}")).json()
            assert stream["status"] == "live"
            assert not await watch.is_visible("#overlay")
