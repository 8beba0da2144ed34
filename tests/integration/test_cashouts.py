"""Cash-outs: matured beans only, a minimum, a verified identity; admins approve (paid) or reject (returned);
every state change is a ledger transfer and an audit record. And ``hub wallet verify`` on the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.money_cli import verify_command
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.coins import give_coins
from tests.support.servers import serve_asgi
from wallet.accounts import user_coins

ADMIN_EMAIL = "payouts@example.com"


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    settings = make_settings(
        db_name, bean_hold_s=0.0, cashout_min_beans=100, admin_emails=(ADMIN_EMAIL,), gift_burst=100
    )
    hub = Hub(settings, mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        yield http, hub
    await mongo_client.drop_database(db_name)


async def wallet_of(http: httpx.AsyncClient, who: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = (await http.get("/api/v1/wallet", headers=auth(who))).json()
    return data


async def test_cash_out_needs_matured_beans_a_minimum_and_a_verified_identity(node: Any) -> None:
    http, hub = node
    admin = await register(http, "Admin", email=ADMIN_EMAIL)
    streamer = await register(http, "Star")
    fan = await register(http, "Fan")
    stream = await create_stream(http, streamer)
    await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(streamer))
    await give_coins(http, hub, fan["user"]["id"], 200)
    r = await http.post(
        f"/api/v1/streams/{stream['id']}/gifts",
        json={"gift_id": "confetti", "count": 1, "idempotency_key": "c"},
        headers=auth(fan),
    )
    assert r.status_code == 200, r.text
    w = await wallet_of(http, streamer)
    assert (w["beans"], w["beans_held"]) == (0, 800)  # 80 % of 1000 beans, still held

    async def cash_out(beans: int) -> httpx.Response:
        return await http.post("/api/v1/wallet/cashouts", json={"beans": beans}, headers=auth(streamer))

    r = await cash_out(500)
    assert r.status_code == 403 and r.json()["code"] == "identity_not_verified"
    r = await http.post(
        f"/api/v1/admin/users/{streamer['user']['id']}/identity", json={"verified": True}, headers=auth(streamer)
    )
    assert r.status_code == 403
    r = await http.post(
        f"/api/v1/admin/users/{streamer['user']['id']}/identity", json={"verified": True}, headers=auth(admin)
    )
    assert r.status_code == 200 and r.json()["identity_verified"] is True
    r = await cash_out(500)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"  # nothing matured yet
    await hub.money.reconciler.run_once()  # the holding period (0 s here) is over: beans mature
    w = await wallet_of(http, streamer)
    assert (w["beans"], w["beans_held"]) == (800, 0)
    r = await cash_out(50)
    assert r.status_code == 403 and r.json()["code"] == "below_minimum"

    r = await cash_out(500)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    first = r.json()["id"]
    w = await wallet_of(http, streamer)
    assert (w["beans"], w["beans_cashout"]) == (300, 500)
    r = await cash_out(300)
    second = r.json()["id"]
    assert (await wallet_of(http, streamer))["beans"] == 0

    pending = (await http.get("/api/v1/admin/cashouts", headers=auth(admin))).json()["items"]
    assert {c["id"] for c in pending} == {first, second}
    r = await http.post(f"/api/v1/admin/cashouts/{first}/approve", json={}, headers=auth(streamer))
    assert r.status_code == 403
    r = await http.post(f"/api/v1/admin/cashouts/{first}/approve", json={"note": "ok"}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["status"] == "paid"
    r = await http.post(f"/api/v1/admin/cashouts/{first}/approve", json={}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["status"] == "paid"  # idempotent
    r = await http.post(f"/api/v1/admin/cashouts/{first}/reject", json={}, headers=auth(admin))
    assert r.status_code == 409 and r.json()["code"] == "cashout_state"
    r = await http.post(f"/api/v1/admin/cashouts/{second}/reject", json={"note": "docs"}, headers=auth(admin))
    assert r.json()["status"] == "rejected"
    w = await wallet_of(http, streamer)
    assert (w["beans"], w["beans_cashout"]) == (300, 0)

    detail = (await http.get(f"/api/v1/admin/cashouts/{first}", headers=auth(admin))).json()
    assert [a["action"] for a in detail["audit"]] == ["requested", "held", "approving", "paid"]
    mine = (await http.get("/api/v1/wallet/cashouts", headers=auth(streamer))).json()["items"]
    assert sorted(c["status"] for c in mine) == ["failed", "paid", "rejected"]  # the early, unmatured request failed
    history = (await http.get("/api/v1/wallet/transactions?limit=2", headers=auth(streamer))).json()
    assert len(history["items"]) == 2 and history["next_cursor"]
    rest = (
        await http.get(f"/api/v1/wallet/transactions?cursor={history['next_cursor']}", headers=auth(streamer))
    ).json()
    kinds = [t["kind"] for t in history["items"] + rest["items"]]
    assert sorted(kinds) == sorted(["gift", "maturation", "cashout", "cashout", "cashout", "reversal"])
    payouts = await hub.money.ledger_store.get_account("beans:payouts")
    assert payouts is not None and payouts["balance"] == 500
    assert await verify_command(hub) == 0


async def test_wallet_verify_exits_non_zero_when_a_balance_disagrees_with_the_ledger(node: Any) -> None:
    http, hub = node
    fan = await register(http, "Fan")
    await give_coins(http, hub, fan["user"]["id"], 10)
    assert await verify_command(hub, as_json=True) == 0
    store = hub.money.ledger_store
    await store.apply_leg(user_coins(fan["user"]["id"]), "forged", 7, min_balance=None, honour_freeze=False)
    await store.release_marker(user_coins(fan["user"]["id"]), "forged")
    assert await verify_command(hub) == 1


async def test_support_corrects_balances_with_adjustments_and_clears_a_freeze(node: Any) -> None:
    http, hub = node
    admin = await register(http, "Admin", email=ADMIN_EMAIL)
    fan = await register(http, "Fan")
    body = {
        "user_id": fan["user"]["id"],
        "currency": "coins",
        "amount": 25,
        "reason": "goodwill",
        "idempotency_key": "a1",
    }
    r = await http.post("/api/v1/admin/wallet/adjustments", json=body, headers=auth(fan))
    assert r.status_code == 403
    for _ in range(2):  # the same key twice: one transfer
        r = await http.post("/api/v1/admin/wallet/adjustments", json=body, headers=auth(admin))
        assert r.status_code == 201 and r.json()["kind"] == "adjustment"
    assert (await wallet_of(http, fan))["coins"] == 25
    r = await http.post(
        "/api/v1/admin/wallet/adjustments", json={**body, "amount": -30, "idempotency_key": "a2"}, headers=auth(admin)
    )
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    r = await http.post("/api/v1/admin/wallet/adjustments", json={**body, "amount": 99}, headers=auth(admin))
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_reused"
    r = await http.post(
        f"/api/v1/admin/users/{fan['user']['id']}/wallet-freeze", json={"frozen": True}, headers=auth(admin)
    )
    assert r.json()["frozen"] is True
    r = await http.post(
        f"/api/v1/admin/users/{fan['user']['id']}/wallet-freeze", json={"frozen": False}, headers=auth(admin)
    )
    assert r.json()["frozen"] is False and r.json()["debt"] == 0
    detail = (await http.get(f"/api/v1/admin/users/{fan['user']['id']}/wallet", headers=auth(admin))).json()
    assert detail["coins"] == 25
    report = await verify_command(hub, as_json=True)
    assert report == 0
