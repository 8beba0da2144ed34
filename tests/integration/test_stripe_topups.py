"""Top-ups through Stripe: real SDK, real signatures. PaymentIntents run against localstripe (which signs and
delivers its own webhooks); Checkout (which localstripe lacks) is driven with signed synthetic events."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import stripe

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import TEST_WEBHOOK_SECRET, make_settings
from tests.support import stripe_events
from tests.support.api import auth, register
from tests.support.coins import verify_at_rest
from tests.support.localstripe_server import localstripe
from tests.support.servers import free_port, serve_asgi

WEBHOOK = "/api/v1/stripe/webhook"


@pytest.fixture(scope="module")
def stripe_url() -> Iterator[str]:
    with localstripe() as url:
        yield url


async def _node(db_name: str, mongo_client: Any, **overrides: Any) -> Hub:
    return Hub(make_settings(db_name, **overrides), mongo_client=mongo_client)


async def wallet(http: httpx.AsyncClient, session: dict[str, Any]) -> dict[str, Any]:
    r = await http.get("/api/v1/wallet", headers=auth(session))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def post_event(http: httpx.AsyncClient, evt: dict[str, Any], secret: str = TEST_WEBHOOK_SECRET) -> httpx.Response:
    payload, header = stripe_events.sign(evt, secret)
    return await http.post(
        WEBHOOK, content=payload, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )


@pytest.fixture
async def node(db_name: str, mongo_client: Any, stripe_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    hub = await _node(db_name, mongo_client, stripe_api_base=stripe_url)
    app = create_app(hub)
    async with serve_asgi(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield http, hub
    await mongo_client.drop_database(db_name)


async def open_checkout_topup(hub: Hub, user_id: str) -> dict[str, Any]:
    """What POST /wallet/topups {method: checkout} records (localstripe cannot create Checkout Sessions)."""
    pack = hub.settings.wallet.coin_packs[1]
    doc = {
        "_id": "t" + str(random.randrange(10**12)),
        "user_id": user_id,
        "pack_id": pack.id,
        "coins": pack.coins,
        "price_cents": pack.price_cents,
        "currency": pack.currency,
        "method": "checkout",
        "status": "open",
        "checkout_session": "cs_test_x",
        "reversed_coins": 0,
        "reversals": [],
        "rev": 0,
        "created_at": hub.clock.now(),
    }
    await hub.money.payment_store.insert_topup(doc)
    return doc


async def test_payment_intent_top_up_is_credited_once_by_localstripes_signed_webhook(
    node: Any, stripe_url: str
) -> None:
    http, hub = node
    buyer = await register(http, "Buyer")
    r = await http.post(
        "/api/v1/wallet/topups", json={"pack_id": "coins_70", "method": "payment_intent"}, headers=auth(buyer)
    )
    assert r.status_code == 201, r.text
    topup = r.json()
    assert topup["client_secret"] and topup["payment_intent_id"].startswith("pi_")
    assert topup["pack"] == {"id": "coins_70", "coins": 70, "price_cents": 99, "currency": "usd"}
    # localstripe delivers its signed events to our webhook endpoint.
    base = str(http.base_url).rstrip("/")
    async with httpx.AsyncClient(base_url=stripe_url) as ls:
        cfg = await ls.post("/_config/webhooks/hub", data={"url": base + WEBHOOK, "secret": TEST_WEBHOOK_SECRET})
        assert cfg.status_code == 200
    # The mobile app confirms the PaymentIntent with a card (here through the real SDK).
    client = stripe.StripeClient("sk_test_client", base_addresses={"api": stripe_url}, http_client=stripe.HTTPXClient())
    await client.v1.payment_intents.update_async(topup["payment_intent_id"], params={"payment_method": "pm_card_visa"})
    await client.v1.payment_intents.confirm_async(topup["payment_intent_id"])
    deadline = time.monotonic() + 10
    while (await wallet(http, buyer))["coins"] != 70 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert (await wallet(http, buyer))["coins"] == 70
    r = await http.get(f"/api/v1/wallet/topups/{topup['topup_id']}", headers=auth(buyer))
    assert r.json()["status"] == "paid"
    # The same payment reported again, as the other event types, in any order: still 70.
    intent = topup["payment_intent_id"]
    for evt in (
        stripe_events.checkout_completed(topup["topup_id"], intent, 99),
        stripe_events.intent_succeeded(topup["topup_id"], intent, 99),
    ):
        assert (await post_event(http, evt)).status_code == 200
    assert (await wallet(http, buyer))["coins"] == 70
    assert (await verify_at_rest(hub)).ok


async def test_checkout_events_in_any_order_and_number_credit_exactly_once(node: Any) -> None:
    http, hub = node
    buyer = await register(http, "Buyer")
    topup = await open_checkout_topup(hub, buyer["user"]["id"])
    events = [
        stripe_events.checkout_completed(topup["_id"], "pi_c1", topup["price_cents"], paid=False),
        stripe_events.checkout_async_succeeded(topup["_id"], "pi_c1", topup["price_cents"]),
        stripe_events.checkout_completed(topup["_id"], "pi_c1", topup["price_cents"]),
        stripe_events.intent_succeeded(topup["_id"], "pi_c1", topup["price_cents"]),
    ]
    deliveries = events * 3
    random.Random(7).shuffle(deliveries)
    results = await asyncio.gather(*(post_event(http, e) for e in deliveries))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert any(r.json().get("duplicate") for r in results)
    assert (await wallet(http, buyer))["coins"] == topup["coins"]
    history = (await http.get("/api/v1/wallet/transactions", headers=auth(buyer))).json()["items"]
    assert [t["kind"] for t in history] == ["topup"]
    assert (await verify_at_rest(hub)).ok


async def test_a_bad_signature_is_refused_and_changes_nothing(node: Any) -> None:
    http, hub = node
    buyer = await register(http, "Buyer")
    topup = await open_checkout_topup(hub, buyer["user"]["id"])
    evt = stripe_events.checkout_completed(topup["_id"], "pi_b1", topup["price_cents"])
    r = await post_event(http, evt, secret="whsec_not_ours_" + "q" * 20)
    assert r.status_code == 400 and r.json()["code"] == "bad_signature"
    payload, header = stripe_events.sign(evt, TEST_WEBHOOK_SECRET)
    tampered = payload.replace(b'"usd"', b'"eur"')
    assert tampered != payload
    r = await http.post(WEBHOOK, content=tampered, headers={"Stripe-Signature": header})
    assert r.status_code == 400
    r = await http.post(WEBHOOK, content=payload)  # no signature at all
    assert r.status_code == 400
    assert (await wallet(http, buyer))["coins"] == 0
    # The genuine event still works afterwards (the refused ones were not recorded as seen).
    assert (await post_event(http, evt)).status_code == 200
    assert (await wallet(http, buyer))["coins"] == topup["coins"]


async def test_stripe_unreachable_is_a_clear_503_and_nothing_is_paid(db_name: str, mongo_client: Any) -> None:
    hub = await _node(db_name, mongo_client, stripe_api_base=f"http://127.0.0.1:{free_port()}")
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        buyer = await register(http, "Buyer")
        for method in ("checkout", "payment_intent"):
            r = await http.post(
                "/api/v1/wallet/topups", json={"pack_id": "coins_70", "method": method}, headers=auth(buyer)
            )
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "payment_provider_unavailable"
        assert (await wallet(http, buyer))["coins"] == 0
        r = await http.post(
            "/api/v1/wallet/topups", json={"pack_id": "nope", "method": "checkout"}, headers=auth(buyer)
        )
        assert r.status_code == 422 and r.json()["code"] == "unknown_coin_pack"
    await mongo_client.drop_database(db_name)


async def test_refunds_reverse_unmatured_gifts_then_freeze_and_book_the_loss(
    db_name: str, mongo_client: Any, stripe_url: str
) -> None:
    hub = await _node(
        db_name, mongo_client, stripe_api_base=stripe_url, bean_hold_s=0.0, wallet_reconcile_interval_s=3600.0
    )
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        buyer = await register(http, "Buyer")
        streamer = await register(http, "Streamer")
        topup = await open_checkout_topup(hub, buyer["user"]["id"])  # 350 coins for 499 cents
        assert (await post_event(http, stripe_events.intent_succeeded(topup["_id"], "pi_r1", 499))).status_code == 200
        stream = (await http.post("/api/v1/streams", json={"title": "s"}, headers=auth(streamer))).json()
        await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(streamer))

        async def gift(key: str, count: int) -> httpx.Response:
            return await http.post(
                f"/api/v1/streams/{stream['id']}/gifts",
                json={"gift_id": "confetti", "count": count, "idempotency_key": key},
                headers=auth(buyer),
            )

        assert (await gift("k1", 3)).status_code == 200
        assert (await wallet(http, buyer))["coins"] == 50
        assert (await wallet(http, streamer))["beans_held"] == 2400
        # A partial refund (half: 174 coins) while the gift's beans are still held: the gift is reversed first.
        refund = stripe_events.charge_refunded("ch_r1", "pi_r1", 499, 249)
        for _ in range(2):
            assert (await post_event(http, refund)).status_code == 200
        w = await wallet(http, buyer)
        assert (w["coins"], w["frozen"], w["debt"]) == (176, False, 0)
        assert (await wallet(http, streamer))["beans_held"] == 0
        # Spent again, and this time the beans mature before the dispute for the rest arrives.
        assert (await gift("k2", 1)).status_code == 200
        await hub.money.reconciler.run_once()
        assert (await wallet(http, streamer))["beans"] == 800
        dispute = stripe_events.dispute_created("dp_r1", "ch_r1", "pi_r1", 499)
        assert (await post_event(http, dispute)).status_code == 200
        w = await wallet(http, buyer)
        assert (w["coins"], w["frozen"], w["debt"]) == (0, True, 100)  # 176 owed, 76 left: 100 written off
        r = await gift("k3", 1)
        assert r.status_code == 403 and r.json()["code"] == "account_frozen"
        report = await verify_at_rest(hub)
        assert report.ok, report.problems
        assert report.totals["coins_bought"] == 350 and report.totals["coins_spent"] == 100
        assert report.totals["coins_clawed_back"] == 250
        losses = await hub.money.ledger_store.get_account("coins:losses")
        assert losses is not None and losses["balance"] == -100
        kinds = [
            t["kind"] for t in (await http.get("/api/v1/wallet/transactions", headers=auth(buyer))).json()["items"]
        ]
        assert sorted(kinds) == ["chargeback", "gift", "gift", "refund", "reversal", "topup"]
        board = (await http.get(f"/api/v1/streams/{stream['id']}/leaderboard")).json()["all_time"]
        assert board[0]["coins"] == 100  # the reversed gift no longer counts
    await mongo_client.drop_database(db_name)


async def test_top_up_creation_is_limited_per_user_before_stripe_is_called(
    db_name: str, mongo_client: Any, stripe_url: str
) -> None:
    """Each top-up creates a PaymentIntent at Stripe: a user gets HUB_TOPUP_BURST of them, then 429; others are not
    affected, and a refused one leaves no top-up behind."""
    hub = await _node(db_name, mongo_client, stripe_api_base=stripe_url, topup_burst=3, topup_per_hour=1)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        buyer, other = await register(http, "Eager"), await register(http, "Calm")
        body = {"pack_id": "coins_70", "method": "payment_intent"}
        codes = [
            (await http.post("/api/v1/wallet/topups", json=body, headers=auth(buyer))).status_code for _ in range(5)
        ]
        assert codes == [201, 201, 201, 429, 429]
        r = await http.post("/api/v1/wallet/topups", json=body, headers=auth(buyer))
        assert r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
        assert await hub.db["wallet_topups"].count_documents({"user_id": buyer["user"]["id"]}) == 3
        r = await http.post("/api/v1/wallet/topups", json=body, headers=auth(other))
        assert r.status_code == 201, r.text
    await mongo_client.drop_database(db_name)
