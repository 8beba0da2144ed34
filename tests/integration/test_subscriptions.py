"""Channel subscriptions end to end: the real ``stripe`` SDK against a local Stripe-compatible endpoint
(``tests/support/stripe_billing.py``), webhooks signed with the webhook secret and posted to the hub's one webhook
endpoint, the ledger verified at rest, chat and overlays over real Socket.IO clients."""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from core.clock import ManualClock
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import TEST_WEBHOOK_SECRET, make_settings
from tests.support import stripe_events
from tests.support.api import auth, live_stream, register
from tests.support.coins import give_coins, verify_at_rest
from tests.support.live import live_clients
from tests.support.servers import serve_asgi
from tests.support.stripe_billing import FakeStripe, fake_stripe
from wallet.accounts import Currency, user_beans_held
from wallet.models import Leg, TransferKind, TransferSpec

WEBHOOK = "/api/v1/stripe/webhook"
DAY_S = 24 * 3600


class Node:
    def __init__(self, url: str, http: httpx.AsyncClient, hub: Hub, stripe: FakeStripe, clock: ManualClock) -> None:
        self.url, self.http, self.hub, self.stripe, self.clock = url, http, hub, stripe, clock
        self._t = stripe.now

    def tick(self) -> int:
        """A fresh 'created' second for the next event Stripe produces (the hub's clock moves with it: Stripe's
        events are never from the hub's future)."""
        self._t += 1
        self.clock.advance(1)
        return self._t

    async def deliver(self, evt: dict[str, Any]) -> dict[str, Any]:
        payload, header = stripe_events.sign(evt, TEST_WEBHOOK_SECRET)
        r = await self.http.post(
            WEBHOOK, content=payload, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
        )
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def membership(self, viewer: dict[str, Any], channel: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/v1/channels/{channel}/subscription", headers=auth(viewer))
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def beans_held(self, user_id: str) -> int:
        doc = await self.hub.money.ledger_store.get_account(user_beans_held(user_id))
        return int(doc["balance"]) if doc else 0


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[Node]:
    async with fake_stripe() as stripe:
        clock = ManualClock(datetime.fromtimestamp(stripe.now, UTC))
        settings = make_settings(db_name, stripe_api_base=stripe.url, gift_burst=1000, gift_per_second=1000.0)
        hub = Hub(settings, clock=clock, mongo_client=mongo_client)
        async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
            yield Node(url, http, hub, stripe, clock)
        await mongo_client.drop_database(db_name)


async def subscribe_by_checkout(node: Node, viewer: dict[str, Any], channel: str) -> str:
    """Web: Checkout in subscription mode, the buyer pays, Stripe's events arrive. Returns the subscription id."""
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription", json={"tier_id": "tier1"}, headers=auth(viewer)
    )
    assert r.status_code == 201, r.text
    sub_id = node.stripe.complete_checkout(r.json()["checkout_session_id"])
    await node.deliver(node.stripe.subscription_event("customer.subscription.created", sub_id, created=node.tick()))
    await node.deliver(node.stripe.invoice_event("invoice.paid", sub_id, created=node.tick()))
    return sub_id


async def test_web_checkout_is_a_subscription_mode_session_and_the_paid_invoice_starts_the_perks(node: Node) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription", json={"tier_id": "tier1"}, headers=auth(viewer)
    )
    assert r.status_code == 201, r.text
    body = r.json()
    session = node.stripe.sessions[body["checkout_session_id"]]
    assert body["checkout_url"] == session["url"]
    assert session["mode"] == "subscription"
    price = session["line_items"][0]["price_data"]
    assert (price["unit_amount"], price["recurring"]["interval"]) == ("499", "month")
    assert session["subscription_data"]["metadata"] == {
        "user_id": viewer["user"]["id"],
        "channel_id": channel,
        "tier_id": "tier1",
        "tier_version": "1",
    }
    # Nothing is granted before Stripe says the invoice is paid.
    r = await node.http.get(f"/api/v1/channels/{channel}/subscription", headers=auth(viewer))
    assert r.status_code == 404
    sub_id = node.stripe.complete_checkout(body["checkout_session_id"])
    await node.deliver(node.stripe.subscription_event("customer.subscription.created", sub_id, created=node.tick()))
    assert not (await node.membership(viewer, channel))["active"]
    paid = node.stripe.invoice_event("invoice.paid", sub_id, created=node.tick())
    await node.deliver(paid)
    member = await node.membership(viewer, channel)
    assert (member["active"], member["months"], member["status"]) == (True, 1, "active")
    # The streamer's share of the month: half of the tier's 499 beans, held like a gift's.
    assert await node.beans_held(channel) == 249
    transfer = await node.hub.money.ledger.get(f"sub:{paid['data']['object']['id']}")
    assert transfer is not None
    assert (transfer.refs["share_bps"], transfer.refs["share_version"], transfer.refs["tier_version"]) == (5000, 1, 1)
    # Subscribing again while it runs is refused.
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription", json={"tier_id": "tier2"}, headers=auth(viewer)
    )
    assert r.status_code == 409 and r.json()["code"] == "already_subscribed"
    await verify_at_rest(node.hub)


async def test_mobile_gets_an_incomplete_subscription_and_its_first_invoices_client_secret(node: Node) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription",
        json={"tier_id": "tier2", "method": "subscription"},
        headers=auth(viewer),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    sub = node.stripe.subscriptions[body["subscription_id"]]
    assert body["client_secret"] == sub["_invoice"]["confirmation_secret"]["client_secret"]
    assert body["status"] == "incomplete"
    _, _, params, key = next(req for req in node.stripe.requests if req[1] == "/v1/subscriptions")
    assert params["payment_behavior"] == "default_incomplete"
    assert params["expand"] == ["latest_invoice.confirmation_secret"]
    assert key  # every create carries an idempotency key
    member = await node.membership(viewer, channel)
    assert (member["status"], member["active"], member["months"]) == ("incomplete", False, 0)
    # The app confirmed the payment: the paid invoice arrives before Stripe's "updated"; the perks start with it.
    node.stripe.set(body["subscription_id"], status="active")
    updated = node.stripe.subscription_event(
        "customer.subscription.updated", body["subscription_id"], created=node.tick()
    )
    await node.deliver(node.stripe.invoice_event("invoice.paid", body["subscription_id"], created=node.tick()))
    member = await node.membership(viewer, channel)
    assert (member["status"], member["active"], member["months"]) == ("active", True, 1)
    await node.deliver(updated)
    member = await node.membership(viewer, channel)
    assert (member["status"], member["active"], member["months"]) == ("active", True, 1)
    assert await node.beans_held(channel) == 999 // 2


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_reordered_and_duplicated_events_apply_once_and_leave_the_newest_state(node: Node, seed: int) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription",
        json={"tier_id": "tier1", "method": "subscription"},
        headers=auth(viewer),
    )
    sub_id = r.json()["subscription_id"]
    stripe = node.stripe
    created = stripe.subscription_event("customer.subscription.created", sub_id, created=node.tick())
    stripe.set(sub_id, status="active")
    activated = stripe.subscription_event("customer.subscription.updated", sub_id, created=node.tick())
    first = stripe.invoice_event("invoice.paid", sub_id, invoice_id=f"in_first_{seed}", created=node.tick())
    stripe.renew(sub_id)
    renewed = stripe.subscription_event("customer.subscription.updated", sub_id, created=node.tick())
    second = stripe.invoice_event("invoice.paid", sub_id, invoice_id=f"in_second_{seed}", created=node.tick())
    stripe.set(sub_id, cancel_at_period_end=True)
    cancelled = stripe.subscription_event("customer.subscription.updated", sub_id, created=node.tick())
    events = [created, activated, first, renewed, second, cancelled]
    # Each event twice (Stripe's redelivery: same id), in a shuffled order; the originals once more at the end.
    deliveries = events + [dict(e) for e in events]
    random.Random(seed).shuffle(deliveries)
    outcomes = [await node.deliver(e) for e in deliveries + events]
    assert sum(1 for o in outcomes if o.get("duplicate")) == len(events) * 2
    member = await node.membership(viewer, channel)
    assert member["status"] == "active" and member["cancel_at_period_end"] is True
    assert member["months"] == 2 and member["active"]
    _, period_end = stripe.period(sub_id)
    assert member["until"] == datetime.fromtimestamp(period_end, UTC).isoformat()
    assert await node.beans_held(channel) == 2 * (499 // 2)  # one share per paid invoice, never more
    for invoice in (f"in_first_{seed}", f"in_second_{seed}"):
        transfer = await node.hub.money.ledger.get(f"sub:{invoice}")
        assert transfer is not None and transfer.applied
    await verify_at_rest(node.hub)


async def test_a_failed_renewal_ends_the_perks_when_the_paid_month_runs_out(node: Node) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    stream = await live_stream(node.http, streamer)
    sub_id = await subscribe_by_checkout(node, viewer, channel)
    r = await node.http.post(
        f"/api/v1/streams/{stream['id']}/mod-actions",
        json={"action": "subscribers_only", "value": True},
        headers=auth(streamer),
    )
    assert r.status_code == 200, r.text
    who = await node.hub.identity.from_token(viewer["access_token"])
    sent = await node.hub.use.chatting.send(who, stream["id"], "still here", None)
    assert "subscriber" in sent.badges and sent.sub_months == 1
    # The renewal's payment fails: Stripe moves to past_due and tells us; the paid month still holds.
    node.stripe.renew(sub_id)
    node.stripe.set(sub_id, status="past_due")
    out = await node.deliver(node.stripe.invoice_event("invoice.payment_failed", sub_id, created=node.tick()))
    assert out["outcome"] == "payment_failed:past_due"
    node.clock.advance(29 * DAY_S)
    assert await node.hub.subs.service.perks(channel, viewer["user"]["id"]) is not None
    node.clock.advance(1 * DAY_S + 60)  # past the end of the month paid for
    assert await node.hub.subs.service.perks(channel, viewer["user"]["id"]) is None
    with pytest.raises(Exception) as refused:
        await node.hub.use.chatting.send(who, stream["id"], "let me in", None)
    assert getattr(refused.value, "code", None) == "subscribers_only"
    # Stripe gives up and cancels: the membership says so, and a late "updated" from before cannot revive it.
    late = node.stripe.subscription_event("customer.subscription.updated", sub_id, created=node.tick())
    node.stripe.set(sub_id, status="canceled")
    await node.deliver(node.stripe.subscription_event("customer.subscription.deleted", sub_id, created=node.tick()))
    await node.deliver(late)
    member = await node.hub.subs.service.membership(channel, viewer["user"]["id"])
    assert member is not None and member.status.value == "canceled" and member.months == 1
    await verify_at_rest(node.hub)


async def test_cancel_at_period_end_keeps_the_perks_and_resume_takes_it_back(node: Node) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    sub_id = await subscribe_by_checkout(node, viewer, channel)
    stale = node.stripe.subscription_event("customer.subscription.updated", sub_id, created=node.tick() - 100)
    r = await node.http.post(f"/api/v1/channels/{channel}/subscription/cancel", headers=auth(viewer))
    assert r.status_code == 200, r.text
    assert r.json()["cancel_at_period_end"] is True and r.json()["active"] is True
    assert node.stripe.subscriptions[sub_id]["cancel_at_period_end"] is True
    await node.deliver(stale)  # an older state arriving late changes nothing
    assert (await node.membership(viewer, channel))["cancel_at_period_end"] is True
    r = await node.http.post(f"/api/v1/channels/{channel}/subscription/resume", headers=auth(viewer))
    assert r.status_code == 200 and r.json()["cancel_at_period_end"] is False
    assert node.stripe.subscriptions[sub_id]["cancel_at_period_end"] is False
    # Nobody else can cancel it, and a stranger has nothing to cancel.
    other = await register(node.http, "Other")
    r = await node.http.post(f"/api/v1/channels/{channel}/subscription/cancel", headers=auth(other))
    assert r.status_code == 404 and r.json()["code"] == "not_subscribed"


async def test_a_gifted_month_is_paid_in_coins_once_and_too_few_coins_change_nothing(node: Node) -> None:
    streamer, buyer = await register(node.http, "Streamer"), await register(node.http, "Buyer")
    lucky, poor = await register(node.http, "Lucky"), await register(node.http, "Poor")
    channel = streamer["user"]["id"]
    await give_coins(node.http, node.hub, buyer["user"]["id"], 1200)
    body = {"recipient_id": lucky["user"]["id"], "tier_id": "tier1", "idempotency_key": "g-1"}
    url = f"/api/v1/channels/{channel}/subscription-gifts"
    first = await node.http.post(url, json=body, headers=auth(buyer))
    assert first.status_code == 201, first.text
    again = await node.http.post(url, json=body, headers=auth(buyer))  # a retry: same answer, no second debit
    assert again.status_code == 201 and again.json()["transfer_id"] == first.json()["transfer_id"]
    assert again.json()["balance"] == first.json()["balance"] == 700
    wallet = (await node.http.get("/api/v1/wallet", headers=auth(buyer))).json()
    assert wallet["coins"] == 700
    member = await node.membership(lucky, channel)
    assert (member["active"], member["months"], member["status"]) == (True, 1, "none")
    assert await node.beans_held(channel) == 249
    # The key cannot be reused for another gift.
    r = await node.http.post(url, json={**body, "recipient_id": poor["user"]["id"]}, headers=auth(buyer))
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_reused"
    # Not enough coins: a clear error, nothing changed.
    r = await node.http.post(
        url,
        json={"recipient_id": poor["user"]["id"], "tier_id": "tier3", "idempotency_key": "g-2"},
        headers=auth(buyer),
    )
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    assert (await node.http.get("/api/v1/wallet", headers=auth(buyer))).json()["coins"] == 700
    r = await node.http.get(f"/api/v1/channels/{channel}/subscription", headers=auth(poor))
    assert r.status_code == 404
    assert await node.beans_held(channel) == 249
    # A second month stacks after the first.
    r = await node.http.post(url, json={**body, "idempotency_key": "g-3"}, headers=auth(buyer))
    assert r.status_code == 201 and r.json()["membership"]["months"] == 2
    await verify_at_rest(node.hub)


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"\x3b"


async def test_emote_uploads_are_checked_served_with_cache_headers_and_shown_only_for_subscribers(node: Node) -> None:
    streamer, viewer, fan = [await register(node.http, n) for n in ("Streamer", "Viewer", "Fan")]
    channel = streamer["user"]["id"]
    headers = {**auth(streamer), "Content-Type": "application/octet-stream"}
    bad = {
        "text pretending to be an image": b"hello, not an image",
        "a JPEG": b"\xff\xd8\xff\xe0" + b"\x00" * 64,
        "too many pixels": _png(256, 16),
        "too many bytes": _gif(32, 32) + b"\x00" * 300_000,
    }
    for what, data in bad.items():
        r = await node.http.post("/api/v1/me/emotes?code=Hype", content=data, headers=headers)
        assert r.status_code in (413, 422), (what, r.status_code, r.text)
    assert (await node.http.get(f"/api/v1/channels/{channel}/emotes")).json()["items"] == []
    r = await node.http.post("/api/v1/me/emotes?code=x!", content=_png(28, 28), headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "bad_emote"
    r = await node.http.post("/api/v1/me/emotes?code=Hype", content=_png(28, 28), headers=headers)
    assert r.status_code == 201, r.text
    emote = r.json()
    assert (emote["content_type"], emote["width"], emote["height"]) == ("image/png", 28, 28)
    r = await node.http.post("/api/v1/me/emotes?code=Hype", content=_gif(28, 28), headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "emote_code_taken"
    image = await node.http.get(emote["url"])
    assert image.status_code == 200 and image.content == _png(28, 28)
    assert image.headers["content-type"] == "image/png"
    assert "immutable" in image.headers["cache-control"] and image.headers["etag"]
    again = await node.http.get(emote["url"], headers={"If-None-Match": image.headers["etag"]})
    assert again.status_code == 304
    # In chat: a subscriber's message shows it, anyone else's keeps the word as text.
    stream = await live_stream(node.http, streamer)
    await subscribe_by_checkout(node, fan, channel)
    fan_who = await node.hub.identity.from_token(fan["access_token"])
    viewer_who = await node.hub.identity.from_token(viewer["access_token"])
    by_fan = await node.hub.use.chatting.send(fan_who, stream["id"], "so Hype today", None)
    by_viewer = await node.hub.use.chatting.send(viewer_who, stream["id"], "so Hype today", None)
    assert by_fan.emotes == (("Hype", emote["url"]),) and by_fan.to_dict()["user"]["sub_months"] == 1
    assert by_viewer.emotes == () and "sub_months" not in by_viewer.to_dict()["user"]
    # Deleting is for the channel's owner.
    r = await node.http.delete(f"/api/v1/me/emotes/{emote['id']}", headers=auth(viewer))
    assert r.status_code == 404
    r = await node.http.delete(f"/api/v1/me/emotes/{emote['id']}", headers=auth(streamer))
    assert r.status_code == 204
    assert (await node.http.get(emote["url"])).status_code == 404


async def test_a_new_subscriber_reaches_the_overlay_and_the_room_with_months_in_chat(node: Node) -> None:
    streamer, fan = await register(node.http, "Streamer"), await register(node.http, "Fan")
    channel = streamer["user"]["id"]
    stream = await live_stream(node.http, streamer)
    r = await node.http.get(f"/api/v1/streams/{stream['id']}/overlays", headers=auth(streamer))
    key = r.json()["key"]
    async with live_clients() as open_client:
        overlay = await open_client(node.url, auth={"overlay": key})
        await overlay.ok("overlay:join", {})
        watcher = await open_client(node.url, fan["access_token"])
        await watcher.ok("stream:join", {"stream_id": stream["id"]})
        await subscribe_by_checkout(node, fan, channel)
        alert = await overlay.wait_event("sub:new", where=lambda p: p["user"]["id"] == fan["user"]["id"])
        assert (alert["months"], alert["tier_id"], alert["user"]["nickname"]) == (1, "tier1", "Fan")
        assert alert["gifted_by"] is None
        await watcher.wait_event("sub:new", where=lambda p: p["user"]["id"] == fan["user"]["id"])
        await watcher.ok("chat:send", {"stream_id": stream["id"], "text": "hi as a sub"})
        msg = await overlay.wait_event("chat:message", where=lambda m: m["text"] == "hi as a sub")
        assert "subscriber" in msg["user"]["badges"] and msg["user"]["sub_months"] == 1


async def test_a_gift_to_a_random_viewer_goes_to_a_present_non_subscriber_once_per_key(node: Node) -> None:
    streamer, buyer = await register(node.http, "Streamer"), await register(node.http, "Buyer")
    subbed, plain, away = [await register(node.http, n) for n in ("Subbed", "Plain", "Away")]
    channel = streamer["user"]["id"]
    stream = await live_stream(node.http, streamer)
    await give_coins(node.http, node.hub, buyer["user"]["id"], 2000)
    url = f"/api/v1/channels/{channel}/subscription-gifts"
    r = await node.http.post(
        url,
        json={"recipient_id": subbed["user"]["id"], "tier_id": "tier1", "idempotency_key": "named"},
        headers=auth(buyer),
    )
    assert r.status_code == 201, r.text
    async with live_clients() as open_client:
        for person in (buyer, subbed, plain):  # "away" never joins the room
            client = await open_client(node.url, person["access_token"])
            await client.ok("stream:join", {"stream_id": stream["id"]})
        await open_client(node.url)  # a guest is present too
        body = {"stream_id": stream["id"], "tier_id": "tier1", "idempotency_key": "drawn-1"}
        first = await node.http.post(url, json=body, headers=auth(buyer))
        assert first.status_code == 201, first.text
        assert first.json()["recipient_id"] == plain["user"]["id"]  # the only present non-subscriber
        again = await node.http.post(url, json=body, headers=auth(buyer))  # a retry: the same gift, once
        assert again.status_code == 201 and again.json()["transfer_id"] == first.json()["transfer_id"]
        assert again.json()["recipient_id"] == plain["user"]["id"] and again.json()["balance"] == 2000 - 2 * 500
        r = await node.http.post(url, json={**body, "idempotency_key": "drawn-2"}, headers=auth(buyer))
        assert r.status_code == 409 and r.json()["code"] == "no_eligible_viewer"
    assert (await node.http.get("/api/v1/wallet", headers=auth(buyer))).json()["coins"] == 1000
    assert (await node.membership(plain, channel))["months"] == 1
    r = await node.http.get(f"/api/v1/channels/{channel}/subscription", headers=auth(away))
    assert r.status_code == 404
    await verify_at_rest(node.hub)


async def test_a_billing_event_with_a_bad_signature_changes_nothing(node: Node) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription", json={"tier_id": "tier1"}, headers=auth(viewer)
    )
    sub_id = node.stripe.complete_checkout(r.json()["checkout_session_id"])
    forged = node.stripe.invoice_event("invoice.paid", sub_id, created=node.tick())
    payload, header = stripe_events.sign(forged, "whsec_" + "x" * 32)
    r = await node.http.post(
        WEBHOOK, content=payload, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["code"] == "bad_signature"
    r = await node.http.get(f"/api/v1/channels/{channel}/subscription", headers=auth(viewer))
    assert r.status_code == 404
    assert await node.beans_held(channel) == 0
    # The same event, properly signed, is then applied (the forged delivery did not burn its id).
    assert (await node.deliver(forged))["outcome"] == "month_counted"


async def test_an_abandoned_incomplete_subscription_is_replaced_by_the_next_attempt(node: Node) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    url = f"/api/v1/channels/{channel}/subscription"
    body = {"tier_id": "tier1", "method": "subscription"}
    first = (await node.http.post(url, json=body, headers=auth(viewer))).json()["subscription_id"]
    second_answer = await node.http.post(url, json=body, headers=auth(viewer))  # the app never confirmed the first
    assert second_answer.status_code == 201, second_answer.text
    second = second_answer.json()["subscription_id"]
    assert second != first
    node.stripe.set(second, status="active")
    await node.deliver(node.stripe.invoice_event("invoice.paid", second, created=node.tick()))
    # The abandoned one expires later; its late events change nothing.
    node.stripe.set(first, status="incomplete_expired")
    await node.deliver(node.stripe.subscription_event("customer.subscription.updated", first, created=node.tick()))
    member = await node.membership(viewer, channel)
    assert (member["status"], member["active"], member["months"]) == ("active", True, 1)
    assert member["stripe_subscription_id"] == second
    r = await node.http.post(url, json=body, headers=auth(viewer))
    assert r.status_code == 409 and r.json()["code"] == "already_subscribed"


async def _beans(node: Node, account: str) -> int:
    doc = await node.hub.money.ledger_store.get_account(account)
    return int(doc["balance"]) if doc else 0


async def _paid_month(node: Node, viewer: dict[str, Any], channel: str) -> dict[str, Any]:
    """An active checkout subscription and its first paid invoice's event (not delivered yet)."""
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription", json={"tier_id": "tier1"}, headers=auth(viewer)
    )
    sub_id = node.stripe.complete_checkout(r.json()["checkout_session_id"])
    await node.deliver(node.stripe.subscription_event("customer.subscription.created", sub_id, created=node.tick()))
    return node.stripe.invoice_event("invoice.paid", sub_id, created=node.tick())


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_refunded_month_takes_the_streamers_held_share_back_once_in_any_order(node: Node, seed: int) -> None:
    """Refunded in full while the beans are held: the month's transfer is reversed (share and platform part
    un-minted) once, whether the charge's refund, the credit note or the invoice comes first, and however often."""
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    paid = await _paid_month(node, viewer, channel)
    refund = node.stripe.refund_event(paid, 499, created=node.tick(), names_invoice=seed != 2)
    note = node.stripe.credit_note_event(paid, 499, created=node.tick())
    events = [paid, refund, note] if seed == 2 else [paid, refund, note, dict(refund), dict(note)]
    random.Random(seed).shuffle(events)
    if seed == 2:  # a charge that does not name its invoice is matched by the payment the invoice.paid recorded
        events.remove(paid)
        events.insert(0, paid)
    outcomes = [(e["type"], (await node.deliver(e)).get("outcome")) for e in [*events, paid, refund, note]]

    assert await node.beans_held(channel) == 0
    assert await _beans(node, "beans:platform_revenue") == 0
    reversal = await node.hub.money.ledger.get(f"reversal:sub:{paid['data']['object']['id']}")
    assert reversal is not None and reversal.applied, outcomes
    assert ("charge.refunded", "unknown_topup") not in outcomes  # never taken for a top-up's refund
    report = await verify_at_rest(node.hub)
    assert report.ok, report.problems


async def test_a_partial_refund_after_the_beans_matured_takes_its_part_and_never_more_than_the_streamer_has(
    node: Node,
) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    paid = await _paid_month(node, viewer, channel)
    await node.deliver(paid)
    node.clock.advance(node.hub.settings.gifts.bean_hold_s + 60)
    await node.hub.money.reconciler.run_once()
    assert (await node.beans_held(channel), await _beans(node, f"beans:user:{channel}")) == (0, 249)

    # 200 of 499 cents refunded (the note and the charge's refund tell of the same money): 249 × 200 // 499 = 99.
    note = node.stripe.credit_note_event(paid, 200, created=node.tick())
    first = await node.deliver(note)
    assert first["outcome"] == "clawed_back"
    await node.deliver(node.stripe.refund_event(paid, 200, created=node.tick()))
    assert await _beans(node, f"beans:user:{channel}") == 249 - 99
    assert await _beans(node, "beans:platform_revenue") == 250 - 250 * 200 // 499

    # The streamer cashes out (here: pays out) all but 50 beans; the rest of the month is then refunded.
    await node.hub.money.ledger.execute(
        TransferSpec(
            "payout:test",
            TransferKind.ADJUSTMENT,
            (Leg(f"beans:user:{channel}", Currency.BEANS, -100), Leg("beans:payouts", Currency.BEANS, 100)),
        )
    )
    await node.deliver(node.stripe.refund_event(paid, 499, created=node.tick()))
    assert await _beans(node, f"beans:user:{channel}") == 0  # 50 taken, 100 written off: never negative
    doc = await node.hub.subs.refund_store.get(paid["data"]["object"]["id"])
    assert doc is not None
    assert (doc["clawed_share"], doc["short"], doc["clawed_platform"]) == (249, 100, 250)
    await node.deliver(node.stripe.credit_note_event(paid, 499, created=node.tick()))  # nothing more to take
    assert await _beans(node, "beans:platform_revenue") == 0
    report = await verify_at_rest(node.hub)
    assert report.ok, report.problems


async def test_a_tier_change_is_a_prorated_stripe_update_and_the_perks_follow_it(node: Node) -> None:
    streamer, viewer = await register(node.http, "Streamer"), await register(node.http, "Viewer")
    channel = streamer["user"]["id"]
    paid = await _paid_month(node, viewer, channel)
    await node.deliver(paid)
    sub_id = paid["data"]["object"]["parent"]["subscription_details"]["subscription"]
    stale = node.stripe.subscription_event("customer.subscription.updated", sub_id, created=node.tick())
    node.tick()  # the change comes a second later
    r = await node.http.post(
        f"/api/v1/channels/{channel}/subscription/tier", json={"tier_id": "tier2"}, headers=auth(viewer)
    )
    assert r.status_code == 200, r.text
    assert (r.json()["tier_id"], r.json()["months"], r.json()["active"]) == ("tier2", 1, True)
    sub = node.stripe.subscriptions[sub_id]
    assert sub["_proration"] == "always_invoice"
    assert (sub["items"]["data"][0]["price"]["unit_amount"], sub["metadata"]["tier_id"]) == ("999", "tier2")
    # The perks (chat badge, emotes) read the new tier; an older "updated" event (tier1) does not undo it.
    await node.deliver(stale)
    assert (await node.hub.subs.service.perks(channel, viewer["user"]["id"])).tier_id == "tier2"  # type: ignore[union-attr]
    # Stripe invoices the prorated difference at once: its share is booked, but it is not another month.
    proration = node.stripe.invoice_event(
        "invoice.paid", sub_id, amount=250, created=node.tick(), billing_reason="subscription_update"
    )
    assert (await node.deliver(proration))["outcome"] == "proration_booked"
    member = await node.membership(viewer, channel)
    assert (member["tier_id"], member["months"]) == ("tier2", 1)
    assert await node.beans_held(channel) == 249 + 999 * 250 // 999 // 2
    # The same tier again, or an unknown one, changes nothing.
    again = await node.http.post(
        f"/api/v1/channels/{channel}/subscription/tier", json={"tier_id": "tier2"}, headers=auth(viewer)
    )
    unknown = await node.http.post(
        f"/api/v1/channels/{channel}/subscription/tier", json={"tier_id": "gold"}, headers=auth(viewer)
    )
    assert (again.status_code, again.json()["code"], unknown.status_code) == (409, "same_tier", 422)
    report = await verify_at_rest(node.hub)
    assert report.ok, report.problems
