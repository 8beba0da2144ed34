"""The admin console's use cases over HTTP: finding users, the platform-wide report queue, taking a stream down, and
the audit trail that every admin action writes (role, suspension, identity, freeze, adjustment, cash-out, catalogue,
report, takedown: who, when, on what, why) — and that nobody else can read or add to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.live import live_clients
from tests.support.servers import serve_asgi

ADMIN_EMAIL = "root@example.com"


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    hub = Hub(
        make_settings(db_name, admin_emails=(ADMIN_EMAIL,), cashout_min_beans=100, bean_hold_s=0.0),
        mongo_client=mongo_client,
    )
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        yield url, http, hub
    await mongo_client.drop_database(db_name)


async def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def test_every_admin_action_is_in_the_audit_trail_with_who_when_and_why(node: Any) -> None:
    url, http, _hub = node
    admin = await register(http, "Root", email=ADMIN_EMAIL)
    star = await register(http, "Star")
    troll = await register(http, "Troll")
    a = auth(admin)
    star_id, troll_id = star["user"]["id"], troll["user"]["id"]
    await ok(
        await http.post(f"/api/v1/admin/users/{star_id}/role", json={"role": "moderator", "reason": "helps"}, headers=a)
    )
    await ok(
        await http.post(
            f"/api/v1/admin/users/{troll_id}/suspension", json={"suspended": True, "reason": "spam bots"}, headers=a
        )
    )
    await ok(
        await http.post(
            f"/api/v1/admin/users/{star_id}/identity", json={"verified": True, "reason": "passport"}, headers=a
        )
    )
    await ok(
        await http.post(
            f"/api/v1/admin/users/{troll_id}/wallet-freeze", json={"frozen": True, "reason": "chargeback"}, headers=a
        )
    )
    adjustment = {
        "user_id": star_id,
        "currency": "beans",
        "amount": 500,
        "reason": "event prize",
        "idempotency_key": "prize-1",
    }
    await ok(await http.post("/api/v1/admin/wallet/adjustments", json=adjustment, headers=a), 201)
    cashout = await ok(await http.post("/api/v1/wallet/cashouts", json={"beans": 200}, headers=auth(star)), 201)
    await ok(
        await http.post(f"/api/v1/admin/cashouts/{cashout['id']}/approve", json={"note": "paid by wire"}, headers=a)
    )
    await ok(await http.patch("/api/v1/admin/gifts/rose", json={"coins": 2}, headers=a))
    stream = await create_stream(http, star, "Rule breaker")
    await ok(await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(star)))
    reporter = await register(http, "Reporter")
    report = await ok(
        await http.post(
            f"/api/v1/streams/{stream['id']}/reports",
            json={"reason": "violence", "target_user_id": star_id},
            headers=auth(reporter),
        ),
        201,
    )
    async with live_clients() as open_client:
        viewer = await open_client(url)
        await viewer.ok("stream:join", {"stream_id": stream["id"]})
        await ok(
            await http.post(
                f"/api/v1/admin/reports/{report['id']}/resolve", json={"resolution": "see takedown"}, headers=a
            )
        )
        taken = await ok(
            await http.post(
                f"/api/v1/admin/streams/{stream['id']}/takedown", json={"reason": "violent content"}, headers=a
            )
        )
        assert taken["status"] == "ended"
        ended = await viewer.wait_event("stream:ended")
        assert ended["reason"] == "taken_down"

    trail = (await ok(await http.get("/api/v1/admin/audit", headers=a)))["items"]
    got = [(e["action"], e["target"]["kind"], e["target"]["id"], e["reason"]) for e in trail]
    assert got == [
        ("takedown", "stream", stream["id"], "violent content"),
        ("report", "report", report["id"], "see takedown"),
        ("catalogue", "gift", "rose", ""),
        ("cashout", "cashout", cashout["id"], "paid by wire"),
        ("adjustment", "user", star_id, "event prize"),
        ("freeze", "user", troll_id, "chargeback"),
        ("identity", "user", star_id, "passport"),
        ("suspension", "user", troll_id, "spam bots"),
        ("role", "user", star_id, "helps"),
    ]
    assert all(e["actor"] == {"id": admin["user"]["id"], "nickname": "Root"} for e in trail)
    assert trail[-1]["details"] == {"role": "moderator", "was": "viewer"}
    assert trail[0]["details"]["was"] == "live" and trail[0]["at"] >= trail[-1]["at"]
    # One user's history; paging walks the whole trail once.
    mine = (await ok(await http.get(f"/api/v1/admin/audit?target={troll_id}", headers=a)))["items"]
    assert [e["action"] for e in mine] == ["freeze", "suspension"]
    seen, cursor = [], None
    while True:
        page = await ok(
            await http.get(
                "/api/v1/admin/audit", params={"limit": 4, **({"cursor": cursor} if cursor else {})}, headers=a
            )
        )
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in trail]


async def test_nobody_but_an_admin_reads_the_console_or_takes_a_stream_down_and_refusals_leave_no_trace(
    node: Any,
) -> None:
    _url, http, _hub = node
    admin = await register(http, "Root", email=ADMIN_EMAIL)
    staff = await register(http, "Staff")
    await ok(
        await http.post(
            f"/api/v1/admin/users/{staff['user']['id']}/role", json={"role": "moderator"}, headers=auth(admin)
        )
    )
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    before = (await ok(await http.get("/api/v1/admin/audit", headers=auth(admin))))["items"]
    for who in (staff, owner, None):
        headers = auth(who) if who else {}
        want = 403 if who else 401
        for method, path, body in (
            ("GET", "/api/v1/admin/users", None),
            ("GET", "/api/v1/admin/reports", None),
            ("GET", "/api/v1/admin/audit", None),
            ("POST", f"/api/v1/admin/streams/{stream['id']}/takedown", {"reason": "no"}),
            ("POST", f"/api/v1/admin/users/{owner['user']['id']}/suspension", {"suspended": True, "reason": "no"}),
        ):
            r = await http.request(method, path, json=body, headers=headers)
            assert r.status_code == want, (method, path, r.text)
    # A takedown needs a reason (the why is the point of the trail).
    r = await http.post(f"/api/v1/admin/streams/{stream['id']}/takedown", json={"reason": " "}, headers=auth(admin))
    assert r.status_code == 422, r.text
    assert (await ok(await http.get(f"/api/v1/streams/{stream['id']}")))["status"] == "created"
    after = (await ok(await http.get("/api/v1/admin/audit", headers=auth(admin))))["items"]
    assert after == before


async def test_admins_find_users_and_work_the_platform_report_queue(node: Any) -> None:
    _url, http, _hub = node
    admin = await register(http, "Root", email=ADMIN_EMAIL)
    alice = await register(http, "AliceWonder", email="alice.w@example.com")
    await register(http, "Bob", email="bob@example.com")
    a = auth(admin)

    async def find(q: str) -> list[str]:
        items = (await ok(await http.get("/api/v1/admin/users", params={"q": q}, headers=a)))["items"]
        return [u["nickname"] for u in items]

    assert await find("alicew") == ["AliceWonder"]  # nickname prefix, any case
    assert await find("BOB@") == ["Bob"]  # email prefix
    assert await find(alice["user"]["id"]) == ["AliceWonder"]
    assert await find("a.*") == []  # the text is matched literally, never as a pattern
    assert set(await find("")) >= {"AliceWonder", "Bob", "Root"}
    one = await ok(await http.get(f"/api/v1/admin/users/{alice['user']['id']}", headers=a))
    assert one["email"] == "alice.w@example.com" and one["suspended"] is False

    reports = []
    for title in ("First", "Second"):
        owner = await register(http, f"Owner{title}")
        stream = await create_stream(http, owner, title)
        reports.append(
            await ok(
                await http.post(
                    f"/api/v1/streams/{stream['id']}/reports",
                    json={"reason": f"bad {title}", "target_user_id": owner["user"]["id"]},
                    headers=auth(alice),
                ),
                201,
            )
        )
    queue = (await ok(await http.get("/api/v1/admin/reports", headers=a)))["items"]
    assert [r["id"] for r in queue] == [reports[1]["id"], reports[0]["id"]]  # every stream's, newest first
    await ok(await http.post(f"/api/v1/admin/reports/{reports[0]['id']}/resolve", json={}, headers=a))
    queue = (await ok(await http.get("/api/v1/admin/reports", headers=a)))["items"]
    assert [r["id"] for r in queue] == [reports[1]["id"]]
    resolved = (await ok(await http.get("/api/v1/admin/reports?status=resolved", headers=a)))["items"]
    assert [r["id"] for r in resolved] == [reports[0]["id"]]
    r = await http.post("/api/v1/admin/reports/nope/resolve", json={}, headers=a)
    assert r.status_code == 404 and r.json()["code"] == "report_not_found"
