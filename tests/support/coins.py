"""Give a test user coins the way production does: a top-up paid through a signed Stripe webhook."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from hub.wiring import Hub
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.support import stripe_events
from wallet.models import TopUpStatus
from wallet.verify import VerifyReport, verify_ledger


async def give_coins(http: httpx.AsyncClient, hub: Hub, user_id: str, coins: int) -> None:
    topup_id = "t" + secrets.token_hex(8)
    doc: dict[str, Any] = {
        "_id": topup_id,
        "user_id": user_id,
        "pack_id": "test",
        "coins": coins,
        "price_cents": 100,
        "currency": "usd",
        "method": "payment_intent",
        "status": TopUpStatus.OPEN.value,
        "payment_intent": "pi_" + topup_id,
        "reversed_coins": 0,
        "reversals": [],
        "rev": 0,
        "created_at": hub.clock.now(),
    }
    await hub.money.payment_store.insert_topup(doc)
    payload, header = stripe_events.sign(
        stripe_events.intent_succeeded(topup_id, "pi_" + topup_id, 100), TEST_WEBHOOK_SECRET
    )
    r = await http.post("/api/v1/stripe/webhook", content=payload, headers={"Stripe-Signature": header})
    assert r.status_code == 200 and r.json()["outcome"] == "credited", r.text


async def verify_at_rest(hub: Hub) -> VerifyReport:
    """``hub wallet verify``'s check once this node's outbox relay has published what it was given."""
    await hub.money.relay.drain()
    return await verify_ledger(hub.money.ledger_store)
