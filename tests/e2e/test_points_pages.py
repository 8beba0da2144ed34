"""Channel points in headless Chromium: the watch page shows the viewer's balance and the channel's rewards, a
request redeemed there appears in the studio's queue (live, through ``redemption:new``) where the streamer marks it
done, and a highlight redeemed there shows highlighted in the chat."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser

from hub.app import create_app
from hub.wiring import Hub
from tests.e2e.browser import PageLog, chromium, log_in, new_page
from tests.support.api import auth, live_stream, register
from tests.support.servers import serve_asgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_a_viewer_redeems_from_the_watch_page_and_the_streamer_handles_it_in_the_studio(
    hub: Hub, browser: Browser
) -> None:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as http:
        owner, fan = await register(http, "Owner"), await register(http, "Fan")
        stream = await live_stream(http, owner)
        sid = stream["id"]
        r = await http.post(f"/api/v1/users/{owner['user']['id']}/follow", headers=auth(fan))
        assert r.status_code < 300  # 50 points
        for fields in (
            {"kind": "request", "title": "Play my song", "cost": 30},
            {"kind": "highlight", "title": "Highlight my message", "cost": 10},
        ):
            r = await http.post(f"/api/v1/streams/{sid}/rewards", json=fields, headers=auth(owner))
            assert r.status_code == 201, r.text

        studio = await new_page(browser)
        studio_log = PageLog(studio)
        await studio.goto(f"{base}/studio")
        await log_in(studio, owner["email"], opener="#gate-login")
        await studio.wait_for_selector("#studio-points:not([hidden]) #studio-rewards li.reward >> nth=1")

        page = await new_page(browser)
        page_log = PageLog(page)
        await page.goto(f"{base}/watch/{sid}")
        await log_in(page, fan["email"])
        await page.wait_for_selector('#points-balance[data-value="50"]')
        await page.fill("#reward-text", "Never gonna give you up")
        await page.click("#rewards li[data-kind=request] button:not([disabled])")
        await page.wait_for_selector('#points-balance[data-value="20"]')

        queued = studio.locator("#redemption-queue li.redemption", has_text="Never gonna give you up")
        await queued.wait_for(timeout=10_000)  # pushed to the studio, no reload
        await queued.locator("button.btn-primary").click()
        await studio.locator("#redemption-queue li.redemption").wait_for(state="detached")

        await page.fill("#reward-text", "look at me")
        await page.click("#rewards li[data-kind=highlight] button:not([disabled])")
        try:
            await page.wait_for_selector('#points-balance[data-value="10"]', timeout=30_000)
        except Exception:  # say what the page said (a toast with the error, the balance it shows)
            toasts = await page.evaluate("[...document.querySelectorAll('.toast')].map(t => t.textContent)")
            shown = await page.evaluate("document.querySelector('#points-balance').dataset.value")
            pytest.fail(f"the highlight did not go through: balance {shown}, toasts {toasts}, {page_log.errors}")
        await page.locator(".chat-msg.chat-highlight", has_text="look at me").wait_for(timeout=10_000)
        queue = (await http.get(f"/api/v1/streams/{sid}/redemptions?status=fulfilled", headers=auth(owner))).json()
        assert sorted(q["title"] for q in queue["items"]) == ["Highlight my message", "Play my song"]
        # The streamer deletes a reward from the studio: gone there and from the viewer's menu.
        await studio.click("#studio-rewards li[data-kind=request] .reward-delete")
        await studio.locator("#studio-rewards li[data-kind=request]").wait_for(state="detached")
        menu = (await http.get(f"/api/v1/streams/{sid}/rewards", headers=auth(fan))).json()
        assert [r["kind"] for r in menu["rewards"]] == ["highlight"]
        assert not page_log.errors, page_log.errors
        assert not studio_log.errors, studio_log.errors


async def test_the_profile_page_shows_achievements_unlocked_and_in_progress(hub: Hub, browser: Browser) -> None:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as http:
        owner, fan = await register(http, "Owner"), await register(http, "Fan")
        stream = await live_stream(http, owner)
        r = await http.post(f"/api/v1/users/{owner['user']['id']}/follow", headers=auth(fan))
        assert r.status_code < 300  # unlocks "first follow"
        api = (await http.get(f"/api/v1/users/{fan['user']['id']}/achievements")).json()["items"]
        unlocked = {a["id"] for a in api if a["unlocked"]}
        assert "first_follow" in unlocked and "first_gift" not in unlocked

        page = await new_page(browser)
        log = PageLog(page)
        await page.goto(f"{base}/watch/{stream['id']}")
        await page.wait_for_selector("#owner:has-text('@Owner')")
        await page.click("#owner")  # the streamer's name leads to their profile
        await page.wait_for_url(f"{base}/users/{owner['user']['id']}")
        await page.goto(f"{base}/users/{fan['user']['id']}")
        await page.wait_for_selector("body[data-loaded=true]")
        assert await page.text_content("#profile-name") == "@Fan"
        shown = await page.eval_on_selector_all(
            "#achievements li.achievement", "els => els.map(e => [e.dataset.id, e.dataset.unlocked])"
        )
        assert sorted(shown) == sorted([a["id"], str(a["unlocked"]).lower()] for a in api)
        assert shown[0][1] == "true"  # unlocked ones first
        streak = page.locator("#achievements li[data-id=watch_streak_10] .achievement-state")
        assert (await streak.text_content() or "").strip() == "0 / 10"
        await page.goto(f"{base}/users/nobody-here")
        await page.wait_for_selector("body[data-loaded=error]")
        assert await page.text_content("#profile-name") == "No such user."
        assert not [e for e in log.errors if "404" not in e], log.errors
