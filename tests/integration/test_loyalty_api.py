"""Channel points through the API of one node: earning by following and chatting (capped), redeeming a request that
waits in the streamer's queue, refunds, highlights in chat, sound alerts on the overlays, achievements on the
profile, ``hub wallet verify`` covering the points ledger, and no way to buy points."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.principal import Principal
from core.ids import StreamId
from hub.wiring import Hub
from loyalty.models import EntryKind
from tests.support.api import auth, live_stream, register
from tests.support.gift_node import gift_node
from tests.support.live import live_clients

ADMIN = "points-admin@example.com"


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    async with gift_node(
        db_name, mongo_client, admin_emails=(ADMIN,), loyalty_chat_cap_per_hour=3, chat_burst=50, chat_per_second=50.0
    ) as n:
        yield n


def key() -> str:
    return "k-" + secrets.token_hex(8)


async def menu(http: httpx.AsyncClient, stream_id: str, who: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await http.get(f"/api/v1/streams/{stream_id}/rewards", headers=auth(who) if who else {})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def reward(http: httpx.AsyncClient, owner: dict[str, Any], stream_id: str, **fields: Any) -> dict[str, Any]:
    r = await http.post(f"/api/v1/streams/{stream_id}/rewards", json=fields, headers=auth(owner))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def follow(http: httpx.AsyncClient, who: dict[str, Any], user: dict[str, Any]) -> None:
    r = await http.post(f"/api/v1/users/{user['user']['id']}/follow", headers=auth(who))
    assert r.status_code < 300, r.text


async def principal(hub: Hub, session: dict[str, Any]) -> Principal:
    return await hub.identity.from_token(session["access_token"])


async def test_a_follow_earns_once_and_a_request_waits_in_the_queue_until_refunded_once(node: Any) -> None:
    _, http, _ = node
    owner, fan, other = await register(http, "Owner"), await register(http, "Fan"), await register(http, "Other")
    stream = await live_stream(http, owner)
    sid = stream["id"]
    await follow(http, fan, owner)
    await http.delete(f"/api/v1/users/{owner['user']['id']}/follow", headers=auth(fan))
    await follow(http, fan, owner)  # a re-follow earns nothing more
    assert (await menu(http, sid, fan))["balance"] == 50
    assert (await menu(http, sid))["balance"] is None  # a guest sees the menu, no balance
    song = await reward(http, owner, sid, kind="request", title="Play my song", cost=30, prompt="Which song?")
    assert [r["id"] for r in (await menu(http, sid, fan))["rewards"]] == [song["id"]]

    body = {"idempotency_key": key(), "text": "Never gonna give you up"}
    url = f"/api/v1/streams/{sid}/rewards/{song['id']}/redeem"
    first = await http.post(url, json=body, headers=auth(fan))
    again = await http.post(url, json=body, headers=auth(fan))  # a retry: same answer, paid once
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["redemption"]["id"] == again.json()["redemption"]["id"]
    assert again.json()["balance"] == 20
    short = await http.post(url, json={"idempotency_key": key(), "text": "x"}, headers=auth(fan))
    assert short.status_code == 409 and short.json()["code"] == "insufficient_points"

    assert (await http.get(f"/api/v1/streams/{sid}/redemptions", headers=auth(other))).status_code == 403
    queue = (await http.get(f"/api/v1/streams/{sid}/redemptions", headers=auth(owner))).json()["items"]
    assert [(q["title"], q["text"], q["viewer"]["nickname"]) for q in queue] == [
        ("Play my song", "Never gonna give you up", "Fan")
    ]
    rid = queue[0]["id"]
    refund = f"/api/v1/streams/{sid}/redemptions/{rid}/refund"
    assert (await http.post(refund, headers=auth(fan))).status_code == 403
    r = await http.post(refund, headers=auth(owner))
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    twice = await http.post(refund, headers=auth(owner))
    assert twice.status_code == 409 and twice.json()["code"] == "redemption_decided"
    assert (await menu(http, sid, fan))["balance"] == 50
    assert (await http.get(f"/api/v1/streams/{sid}/redemptions", headers=auth(owner))).json()["items"] == []
    done = await http.get(f"/api/v1/streams/{sid}/redemptions?status=refunded", headers=auth(owner))
    assert [d["id"] for d in done.json()["items"]] == [rid]


async def test_the_streamer_edits_rewards_and_a_switched_off_reward_cannot_be_redeemed(node: Any) -> None:
    _, http, _ = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    sid = stream["id"]
    await follow(http, fan, owner)
    wave = await reward(http, owner, sid, kind="request", title="Wave", cost=5)
    r = await http.patch(f"/api/v1/streams/{sid}/rewards/{wave['id']}", json={"enabled": False}, headers=auth(fan))
    assert r.status_code == 403
    r = await http.patch(
        f"/api/v1/streams/{sid}/rewards/{wave['id']}", json={"enabled": False, "cost": 7}, headers=auth(owner)
    )
    assert r.status_code == 200 and r.json()["cost"] == 7 and r.json()["enabled"] is False
    assert (await menu(http, sid, fan))["rewards"] == []
    assert (await http.get(f"/api/v1/streams/{sid}/rewards?all=true", headers=auth(fan))).status_code == 403
    mine = await http.get(f"/api/v1/streams/{sid}/rewards?all=true", headers=auth(owner))
    assert [x["id"] for x in mine.json()["rewards"]] == [wave["id"]]
    off = await http.post(
        f"/api/v1/streams/{sid}/rewards/{wave['id']}/redeem",
        json={"idempotency_key": key(), "text": "hi"},
        headers=auth(fan),
    )
    assert off.status_code == 409 and off.json()["code"] == "reward_disabled"
    assert (await menu(http, sid, fan))["balance"] == 50


async def test_chat_earns_points_up_to_the_hourly_cap_and_a_highlight_appears_highlighted(node: Any) -> None:
    _, http, hub = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    sid = StreamId(stream["id"])
    who = await principal(hub, fan)
    for i in range(6):
        await hub.use.chatting.send(who, sid, f"hello {i}", None)
    assert (await menu(http, sid, fan))["balance"] == 3  # HUB_LOYALTY_CHAT_CAP_PER_HOUR=3
    await follow(http, fan, owner)
    glow = await reward(http, owner, sid, kind="highlight", title="Highlight my message", cost=20)
    r = await http.post(
        f"/api/v1/streams/{sid}/rewards/{glow['id']}/redeem",
        json={"idempotency_key": key(), "text": "look at me"},
        headers=auth(fan),
    )
    assert r.status_code == 200, r.text
    assert r.json()["redemption"]["status"] == "fulfilled" and r.json()["balance"] == 33
    chat = (await http.get(f"/api/v1/streams/{sid}/chat")).json()["items"]
    shown = {m["text"]: m.get("highlighted") for m in chat}
    assert shown["look at me"] is True and shown["hello 0"] is None
    # A highlight the room refuses (a blocked term) is refunded at once.
    r = await http.post(
        f"/api/v1/streams/{sid}/mod-actions",
        json={"action": "block_term", "value": "forbiddenword"},
        headers=auth(owner),
    )
    assert r.status_code == 200, r.text
    refused = await http.post(
        f"/api/v1/streams/{sid}/rewards/{glow['id']}/redeem",
        json={"idempotency_key": key(), "text": "a forbiddenword here"},
        headers=auth(fan),
    )
    assert refused.status_code == 422, refused.text
    assert (await menu(http, sid, fan))["balance"] == 33


async def test_a_sound_alert_reaches_the_overlays(node: Any) -> None:
    url, http, _ = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    sid = stream["id"]
    await follow(http, fan, owner)
    horn = await reward(http, owner, sid, kind="sound", title="Airhorn", cost=10, sound="airhorn", cooldown_s=30)
    overlay_key = (await http.get(f"/api/v1/streams/{sid}/overlays", headers=auth(owner))).json()["key"]
    async with live_clients() as open_client:
        overlay = await open_client(url, auth={"overlay": overlay_key})
        await overlay.ok("overlay:join", {})
        r = await http.post(
            f"/api/v1/streams/{sid}/rewards/{horn['id']}/redeem", json={"idempotency_key": key()}, headers=auth(fan)
        )
        assert r.status_code == 200, r.text
        alert = await overlay.wait_event("reward:alert")
        assert alert["sound"] == "airhorn" and alert["viewer"]["nickname"] == "Fan" and alert["title"] == "Airhorn"
        again = await http.post(
            f"/api/v1/streams/{sid}/rewards/{horn['id']}/redeem", json={"idempotency_key": key()}, headers=auth(fan)
        )
        assert again.status_code == 429 and again.json()["code"] == "reward_cooldown"


async def test_achievements_show_on_the_profile_from_recorded_facts(node: Any) -> None:
    _, http, hub = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    url = f"/api/v1/users/{fan['user']['id']}/achievements"
    before = {a["id"]: a["unlocked"] for a in (await http.get(url)).json()["items"]}
    assert not any(before.values())
    await follow(http, fan, owner)
    await hub.use.chatting.send(await principal(hub, fan), StreamId(stream["id"]), "first!", None)
    after = {a["id"]: a for a in (await http.get(url)).json()["items"]}
    assert after["first_follow"]["unlocked"] and after["first_words"]["unlocked"]
    assert not after["first_gift"]["unlocked"] and after["watch_streak_10"]["target"] == 10
    assert (await http.get("/api/v1/users/nobody/achievements")).status_code == 404


async def test_wallet_verify_covers_the_points_ledger_and_finds_a_tampered_balance(node: Any) -> None:
    _, http, hub = node
    admin, owner, fan = (
        await register(http, "Admin", email=ADMIN),
        await register(http, "Ow"),
        await register(http, "Fa"),
    )
    await follow(http, fan, owner)
    r = await http.post("/api/v1/admin/wallet/verify", json={}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert r.json()["totals"]["points_earned"] == r.json()["totals"]["points_held"] == 50
    await hub.loyalty.store.set_balance_for_test(f"points:{owner['user']['id']}:{fan['user']['id']}", 5000)
    r = await http.post("/api/v1/admin/wallet/verify", json={}, headers=auth(admin))
    assert r.json()["ok"] is False
    assert any(p.startswith("points: ") and "balance 5000" in p for p in r.json()["problems"])


async def test_points_cannot_be_bought(node: Any) -> None:
    _, http, hub = node
    admin, owner, fan = (
        await register(http, "Admin", email=ADMIN),
        await register(http, "Ow"),
        await register(http, "Fa"),
    )
    # No operation of the API credits points except the ones that redeem and refund rewards.
    doc = (await http.get("/api/v1/openapi.json")).json()
    writes = {
        f"{m.upper()} {p.removeprefix('/api/v1')}"
        for p, ops in doc["paths"].items()
        for m in ops
        if m in ("post", "put", "patch") and ("point" in p or "reward" in p or "redemption" in p)
    }
    assert writes == {
        "POST /streams/{stream_id}/rewards",
        "PATCH /streams/{stream_id}/rewards/{reward_id}",
        "POST /streams/{stream_id}/rewards/{reward_id}/redeem",
        "POST /streams/{stream_id}/redemptions/{redemption_id}/fulfil",
        "POST /streams/{stream_id}/redemptions/{redemption_id}/refund",
    }
    # Support's adjustments move coins and beans, never points.
    r = await http.post(
        "/api/v1/admin/wallet/adjustments",
        json={
            "user_id": fan["user"]["id"],
            "currency": "points",
            "amount": 100,
            "reason": "x",
            "idempotency_key": "a1",
        },
        headers=auth(admin),
    )
    assert r.status_code == 422
    # The ledger has no kind for a purchase, and verify flags an entry of any other kind.
    assert {k.value for k in EntryKind} == {"watch", "chat", "follow", "redeem", "refund"}
    assert (await http.get(f"/api/v1/users/{owner['user']['id']}/achievements")).status_code == 200
    assert (await hub.loyalty.audit.verify()).ok
    await hub.db["loyalty_entries"].insert_one(
        {
            "_id": "purchase:1",
            "kind": "purchase",
            "state": "settled",
            "channel": "c",
            "viewer": "v",
            "account": "points:c:v",
            "amount": 1,
            "legs": [{"account": "points:c:v", "amount": 1}, {"account": "points:issued", "amount": -1}],
        }
    )
    report = await hub.loyalty.audit.verify()
    assert any("unknown kind 'purchase'" in p for p in report.problems)


async def test_switching_off_or_deleting_a_reward_refunds_its_waiting_redemptions_once(node: Any) -> None:
    _, http, hub = node
    owner, fan, pal = await register(http, "Owner"), await register(http, "Fan"), await register(http, "Pal")
    sid = (await live_stream(http, owner))["id"]
    for who in (fan, pal):
        await follow(http, who, owner)  # 50 points each
    song = await reward(http, owner, sid, kind="request", title="Song", cost=20, prompt="Which?")
    hug = await reward(http, owner, sid, kind="request", title="Hug", cost=10, prompt="Who?")

    async def redeem(who: dict[str, Any], rw: dict[str, Any]) -> str:
        url = f"/api/v1/streams/{sid}/rewards/{rw['id']}/redeem"
        r = await http.post(url, json={"idempotency_key": key(), "text": "please"}, headers=auth(who))
        assert r.status_code == 200, r.text
        return str(r.json()["redemption"]["id"])

    await redeem(fan, song), await redeem(pal, song), await redeem(fan, hug)
    done = await redeem(pal, hug)
    r = await http.post(f"/api/v1/streams/{sid}/redemptions/{done}/fulfil", headers=auth(owner))
    assert r.status_code == 200, r.text
    assert [(await menu(http, sid, w))["balance"] for w in (fan, pal)] == [20, 20]

    # Switched off: the two waiting song requests are refunded; switching off again refunds nothing more.
    for _ in range(2):
        r = await http.patch(
            f"/api/v1/streams/{sid}/rewards/{song['id']}", json={"enabled": False}, headers=auth(owner)
        )
        assert r.status_code == 200, r.text
    assert [(await menu(http, sid, w))["balance"] for w in (fan, pal)] == [40, 40]

    # Deleted: only the fan's waiting hug is refunded (the pal's was fulfilled); gone from the menus; twice is 404.
    assert (await http.delete(f"/api/v1/streams/{sid}/rewards/{hug['id']}", headers=auth(fan))).status_code == 403
    r = await http.delete(f"/api/v1/streams/{sid}/rewards/{hug['id']}", headers=auth(owner))
    assert r.status_code == 200 and r.json() == {"deleted": True, "refunded": 1}, r.text
    again = await http.delete(f"/api/v1/streams/{sid}/rewards/{hug['id']}", headers=auth(owner))
    assert again.status_code == 404
    assert [(await menu(http, sid, w))["balance"] for w in (fan, pal)] == [50, 40]
    mine = await http.get(f"/api/v1/streams/{sid}/rewards?all=true", headers=auth(owner))
    assert [x["id"] for x in mine.json()["rewards"]] == [song["id"]]
    queue = await http.get(f"/api/v1/streams/{sid}/redemptions", headers=auth(owner))
    assert queue.json()["items"] == []
    entries = await hub.loyalty.store.entries_of(fan["user"]["id"], None, limit=50)
    assert sum(1 for e in entries if e["kind"] == EntryKind.REFUND.value) == 2  # one per redemption, never twice
