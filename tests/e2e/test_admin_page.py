"""The admin console page /admin in headless Chromium: an admin suspends a user, approves a cash-out, reprices a gift,
resolves a report and takes a live stream down, each with a reason that shows in the audit trail; others are told it
is for admins only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.e2e.browser import PageLog, chromium, log_in, new_page
from tests.support.api import auth, create_stream, register
from tests.support.servers import serve_asgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_EMAIL = "root@example.com"


@pytest.fixture
async def site(db_name: str, mongo_client: Any) -> AsyncIterator[dict[str, Any]]:
    hub = Hub(make_settings(db_name, admin_emails=(ADMIN_EMAIL,), cashout_min_beans=100), mongo_client=mongo_client)
    await hub.start()
    try:
        async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as http:
            admin = await register(http, "Root", email=ADMIN_EMAIL)
            troll = await register(http, "Troll")
            star = await register(http, "Star")
            a = auth(admin)
            for path, body in (
                (f"/api/v1/admin/users/{star['user']['id']}/identity", {"verified": True}),
                (
                    "/api/v1/admin/wallet/adjustments",
                    {
                        "user_id": star["user"]["id"],
                        "currency": "beans",
                        "amount": 300,
                        "reason": "prize",
                        "idempotency_key": "p1",
                    },
                ),
            ):
                r = await http.post(path, json=body, headers=a)
                assert r.status_code in (200, 201), r.text
            r = await http.post("/api/v1/wallet/cashouts", json={"beans": 200}, headers=auth(star))
            assert r.status_code == 201, r.text
            stream = await create_stream(http, star, "Bad stream")
            r = await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(star))
            assert r.status_code == 200, r.text
            r = await http.post(
                f"/api/v1/streams/{stream['id']}/reports",
                json={"reason": "violence on stream", "target_user_id": star["user"]["id"]},
                headers=auth(troll),
            )
            assert r.status_code == 201, r.text
            yield {"base": base, "http": http, "admin": admin, "troll": troll, "star": star, "stream": stream}
    finally:
        await hub.close()
        await mongo_client.drop_database(db_name)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def audit_line(page: Page, action: str, target: str) -> str:
    line = page.locator(f'#audit li[data-action="{action}"][data-target="{target}"]')
    await line.first.wait_for()
    return await line.first.inner_text()


async def test_an_admin_works_users_money_gifts_reports_and_streams_and_every_action_is_audited(
    site: dict[str, Any], browser: Browser
) -> None:
    base, http, troll, stream = site["base"], site["http"], site["troll"], site["stream"]
    page = await new_page(browser)
    log = PageLog(page)
    await page.goto(f"{base}/admin")
    await log_in(page, ADMIN_EMAIL, opener="#gate-login")
    await page.wait_for_selector("#admin:not([hidden])")

    await page.fill("#reason", "spam bots")
    await page.fill("#user-q", "trol")
    await page.click("#user-search button[type=submit]")
    row = page.locator(f'#users tr[data-user-id="{troll["user"]["id"]}"]')
    await row.locator(".admin-suspend").click()
    assert "spam bots" in await audit_line(page, "suspension", troll["user"]["id"])
    await row.locator(".badge-danger").wait_for()  # the list shows the suspension
    r = await http.post("/api/v1/auth/login", json={"login": troll["email"], "password": "correct horse"})
    assert r.status_code == 403 and r.json()["code"] == "account_suspended"

    await page.fill("#reason", "paid by wire")
    await page.locator("#cashouts .admin-approve").first.click()
    cashouts = (await http.get("/api/v1/wallet/cashouts", headers=auth(site["star"]))).json()["items"]
    assert "paid by wire" in await audit_line(page, "cashout", cashouts[0]["id"])

    rose = page.locator('#gifts tr[data-gift-id="rose"]')
    await rose.locator(".admin-coins").fill("3")
    await rose.locator(".admin-save").click()
    await audit_line(page, "catalogue", "rose")
    gifts = {g["id"]: g for g in (await http.get("/api/v1/gifts")).json()["items"]}
    assert gifts["rose"]["coins"] == 3 and gifts["rose"]["version"] == 2

    await page.fill("#reason", "handled")
    await page.locator("#reports .admin-resolve").first.click()
    await page.locator("#reports td.muted").wait_for()  # the queue is empty now
    assert "handled" in await page.locator('#audit li[data-action="report"]').first.inner_text()

    await page.fill("#reason", "violent content")
    await page.locator(f'#streams tr[data-stream-id="{stream["id"]}"] .admin-takedown').click()
    assert "violent content" in await audit_line(page, "takedown", stream["id"])
    assert (await http.get(f"/api/v1/streams/{stream['id']}")).json()["status"] == "ended"
    assert not log.errors, log.errors


async def test_the_admin_page_tells_others_it_is_for_admins_only(site: dict[str, Any], browser: Browser) -> None:
    page = await new_page(browser)
    log = PageLog(page, ignore=("status of 403",))
    await page.goto(f"{site['base']}/admin")
    await log_in(page, site["star"]["email"], opener="#gate-login")
    await page.wait_for_selector("#admins-only")
    assert await page.inner_text("#admins-only") == "Admins only"
    assert await page.is_hidden("#admin")
    assert not log.errors, log.errors
