"""Gifts end to end over real Socket.IO clients and HTTP: effects on every screen, combos, leaderboards, goals,
double spends, idempotent replays across two nodes, refusals and the versioned catalogue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, coins_of, create_stream, live_stream, register
from tests.support.coins import give_coins, verify_at_rest
from tests.support.gift_node import gift_node
from tests.support.live import live_clients
from tests.support.servers import serve_asgi

ADMIN_EMAIL = "boss@example.com"


def settings_for(db_name: str, **overrides: Any) -> Any:
    return make_settings(db_name, gift_burst=1000, gift_per_second=1000.0, admin_emails=(ADMIN_EMAIL,), **overrides)


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    async with gift_node(db_name, mongo_client, admin_emails=(ADMIN_EMAIL,)) as n:
        yield n


async def test_a_gift_reaches_every_screen_with_its_effect_combo_leaderboard_and_goal(node: Any) -> None:
    url, http, hub = node
    owner = await register(http, "Owner")
    fan = await register(http, "Fan")
    watcher = await register(http, "Watcher")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    r = await http.put(
        f"/api/v1/streams/{stream['id']}/goal",
        json={"kind": "gift", "target": 5, "gift_id": "rose", "title": "5 roses"},
        headers=auth(owner),
    )
    assert r.status_code == 200, r.text
    async with live_clients() as open_client:
        a = await open_client(url, fan["access_token"])
        b = await open_client(url, watcher["access_token"])
        guest = await open_client(url)
        for c in (a, b, guest):
            joined = await c.ok("stream:join", {"stream_id": stream["id"]})
            assert joined["goal"]["target"] == 5 and joined["leaderboard"] == []
        first = await a.ok(
            "gift:send", {"stream_id": stream["id"], "gift_id": "rose", "count": 2, "idempotency_key": "g1"}
        )
        second = await a.ok(
            "gift:send", {"stream_id": stream["id"], "gift_id": "rose", "count": 1, "idempotency_key": "g2"}
        )
        assert (first["combo"], second["combo"]) == (2, 3)
        assert (first["balance"], second["balance"]) == (98, 97)
        for screen in (a, b, guest):
            got = await screen.wait_event("gift:received", where=lambda p: p["transfer_id"] == second["transfer_id"])
            assert got["sender"]["nickname"] == "Fan" and got["gift"]["id"] == "rose"
            assert got["count"] == 1 and got["combo"] == 3
            assert got["effect"] == {"animation": "rose", "duration_ms": 1500, "fullscreen": False}
            board = await screen.wait_event("leaderboard:update", where=lambda p: p["top"][0]["coins"] == 3)
            assert board["top"][0]["user_id"] == fan["user"]["id"]
            goal = await screen.wait_event("goal:progress", where=lambda p: p["goal"]["progress"] == 3)
            assert goal["goal"]["reached"] is False
        err = await guest.error("gift:send", {"stream_id": stream["id"], "gift_id": "rose", "idempotency_key": "x"})
        assert err["code"] == "unauthenticated"
        # The top gifter wears a badge in chat (TopGiftersChanged → rooms).
        await a.ok("chat:send", {"stream_id": stream["id"], "text": "thanks!"})
        said = await b.wait_event("chat:message", where=lambda m: m["text"] == "thanks!")
        assert "top_gifter" in said["user"]["badges"]
    lb = (await http.get(f"/api/v1/streams/{stream['id']}/leaderboard")).json()
    assert lb["live"][0]["coins"] == 3 and lb["live"][0]["nickname"] == "Fan"
    assert (lb["all_time"][0]["user_id"], lb["all_time"][0]["coins"]) == (fan["user"]["id"], 3)
    s = (await http.get(f"/api/v1/streams/{stream['id']}", headers=auth(owner))).json()
    assert s["stats"]["gifts_coins"] == 3 and s["stats"]["gifts_beans"] == 24  # 80 % of 3 roses' 30 beans
    owner_wallet = (await http.get("/api/v1/wallet", headers=auth(owner))).json()
    assert (owner_wallet["beans_held"], owner_wallet["beans"]) == (24, 0)  # held for the holding period
    assert (await verify_at_rest(hub)).ok


async def test_a_gift_storm_reaches_every_screen_with_every_gift_once_merged_or_not(node: Any) -> None:
    """Many gifts at once (one room:batch per tick, small repeated ones merged): every screen accounts for every acked
    transfer exactly once and for the sum of their counts; a big gift keeps its own effect."""
    url, http, hub = node
    owner = await register(http, "Owner")
    fans = [await register(http, f"Fan{i}") for i in range(2)]
    stream = await live_stream(http, owner)
    for fan in fans:
        await give_coins(http, hub, fan["user"]["id"], 2000)
    async with live_clients() as open_client:
        senders = [await open_client(url, fan["access_token"]) for fan in fans]
        screens = [await open_client(url), await open_client(url, serializer="msgpack", path="socket.io-msgpack")]
        for c in (*senders, *screens):
            await c.ok("stream:join", {"stream_id": stream["id"]})
        sends = [("rose", 1)] * 30 + [("sports_car", 1)]  # the sports car is 1,000 coins and fullscreen: big
        acks = await asyncio.gather(
            *(
                senders[i % 2].call(
                    "gift:send",
                    {"stream_id": stream["id"], "gift_id": gift, "count": n, "idempotency_key": f"storm-{i}"},
                    timeout=30,
                )
                for i, (gift, n) in enumerate(sends)
            )
        )
        assert all(a["ok"] for a in acks), acks
        sent = {a["transfer_id"] for a in acks}

        def effects(screen: Any) -> list[dict[str, Any]]:
            return screen.received("gift:received")  # type: ignore[no-any-return]

        def seen(screen: Any) -> list[str]:
            return [t for e in effects(screen) for t in (e.get("transfer_ids") or [e["transfer_id"]])]

        for screen in screens:
            await screen.wait_for(lambda s=screen: set(seen(s)) >= sent, timeout=20)
            assert sorted(seen(screen)) == sorted(sent)  # each once
            assert sum(e["count"] for e in effects(screen)) == len(sends)
            big = [e for e in effects(screen) if e["gift"]["id"] == "sports_car"]
            assert len(big) == 1 and "merged" not in big[0] and big[0]["effect"]["fullscreen"] is True
            for e in effects(screen):
                assert e.get("merged", 1) == len(e.get("transfer_ids") or [e["transfer_id"]])
    assert (await verify_at_rest(hub)).ok


async def test_100_concurrent_sends_from_a_sender_who_can_afford_10_succeed_exactly_10_times(node: Any) -> None:
    url, http, hub = node
    owner = await register(http, "Owner")
    fan = await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 10)
    async with live_clients() as open_client:
        sockets = [await open_client(url, fan["access_token"]) for _ in range(4)]
        acks = await asyncio.gather(
            *(
                sockets[i % 4].call(
                    "gift:send", {"stream_id": stream["id"], "gift_id": "rose", "idempotency_key": f"k{i}"}, timeout=30
                )
                for i in range(100)
            )
        )
    ok = [a for a in acks if a.get("ok")]
    refused = [a["error"]["code"] for a in acks if not a.get("ok")]
    assert len(ok) == 10 and refused == ["insufficient_funds"] * 90
    assert sorted(a["balance"] for a in ok) == list(range(10))
    assert await coins_of(http, fan) == 0
    assert (await verify_at_rest(hub)).ok


async def test_a_replayed_key_debits_once_and_returns_the_same_ack_even_across_two_nodes(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    hub_a = Hub(settings_for(db_name, redis_url=clean_redis, node_id="node-a"), mongo_client=mongo_client)
    hub_b = Hub(settings_for(db_name, redis_url=clean_redis, node_id="node-b"), mongo_client=mongo_client)
    async with (
        serve_asgi(create_app(hub_a)) as url_a,
        serve_asgi(create_app(hub_b)) as url_b,
        httpx.AsyncClient(base_url=url_a, timeout=20) as http_a,
        httpx.AsyncClient(base_url=url_b, timeout=20) as http_b,
        live_clients() as open_client,
    ):
        owner = await register(http_a, "Owner")
        fan = await register(http_a, "Fan")
        stream = await live_stream(http_a, owner)
        await give_coins(http_a, hub_a, fan["user"]["id"], 50)
        body = {"stream_id": stream["id"], "gift_id": "heart", "count": 2, "idempotency_key": "same-key"}
        sock_a = await open_client(url_a, fan["access_token"])
        sock_b = await open_client(url_b, fan["access_token"])
        http_body = {k: v for k, v in body.items() if k != "stream_id"}
        results = await asyncio.gather(
            sock_a.call("gift:send", body),
            sock_b.call("gift:send", body),
            http_a.post(f"/api/v1/streams/{stream['id']}/gifts", json=http_body, headers=auth(fan)),
            http_b.post(f"/api/v1/streams/{stream['id']}/gifts", json=http_body, headers=auth(fan)),
        )
        acks = [r for r in results[:2]] + [{"ok": True, **r.json()} for r in results[2:]]  # type: ignore[union-attr]
        assert all(a["ok"] for a in acks), acks
        assert len({a["transfer_id"] for a in acks}) == 1
        assert {a["balance"] for a in acks} == {40} and {a["combo"] for a in acks} == {2}
        again = await sock_b.call("gift:send", body)
        assert again == acks[0]
        assert await coins_of(http_b, fan) == 40
        other = await sock_a.call("gift:send", {**body, "gift_id": "rose"})
        assert other["ok"] is False and other["error"]["code"] == "idempotency_key_reused"
        assert (await verify_at_rest(hub_a)).ok
    await mongo_client.drop_database(db_name)


async def test_refusals_self_gifts_blocked_users_caps_rates_and_streams_not_live(
    db_name: str, mongo_client: Any
) -> None:
    hub = Hub(settings_for(db_name, gift_daily_cap_coins=30), mongo_client=mongo_client)
    hub_settings_rate = settings_for(db_name)
    assert hub_settings_rate.gifts.burst == 1000
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        owner = await register(http, "Owner")
        fan = await register(http, "Fan")
        stream = await live_stream(http, owner)
        await give_coins(http, hub, fan["user"]["id"], 500)
        await give_coins(http, hub, owner["user"]["id"], 500)

        async def send(who: dict[str, Any], gift: str, key: str, stream_id: str = stream["id"]) -> httpx.Response:
            return await http.post(
                f"/api/v1/streams/{stream_id}/gifts", json={"gift_id": gift, "idempotency_key": key}, headers=auth(who)
            )

        r = await send(owner, "rose", "self")
        assert r.status_code == 422 and r.json()["code"] == "self_gift"
        r = await send(fan, "no_such_gift", "x1")
        assert r.status_code == 404 and r.json()["code"] == "gift_not_found"
        r = await send(fan, "confetti", "x2")  # 100 coins > the daily cap of 30
        assert r.status_code == 403 and r.json()["code"] == "daily_spend_cap"
        assert (await send(fan, "perfume", "x3")).status_code == 200  # 20 of 30
        r = await send(fan, "perfume", "x4")
        assert r.json()["code"] == "daily_spend_cap"
        await hub.account_store.set_suspended(owner["user"]["id"], True)
        r = await send(fan, "rose", "x5")
        assert r.status_code == 403 and r.json()["code"] == "user_blocked"
        await hub.account_store.set_suspended(owner["user"]["id"], False)
        await hub.account_store.set_suspended(fan["user"]["id"], True)
        r = await send(fan, "rose", "x6")
        assert r.status_code == 403 and r.json()["code"] == "user_blocked"
        await hub.account_store.set_suspended(fan["user"]["id"], False)
        other = await create_stream(http, owner, "not live yet")
        r = await send(fan, "rose", "x7", other["id"])
        assert r.status_code == 409 and r.json()["code"] == "stream_not_live"
        assert await coins_of(http, fan) == 480
    await mongo_client.drop_database(db_name)


async def test_sending_too_fast_is_rate_limited(db_name: str, mongo_client: Any) -> None:
    hub = Hub(make_settings(db_name, gift_burst=3, gift_per_second=0.5), mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        owner = await register(http, "Owner")
        fan = await register(http, "Fan")
        stream = await live_stream(http, owner)
        await give_coins(http, hub, fan["user"]["id"], 50)
        codes = []
        for i in range(5):
            r = await http.post(
                f"/api/v1/streams/{stream['id']}/gifts",
                json={"gift_id": "rose", "idempotency_key": f"r{i}"},
                headers=auth(fan),
            )
            codes.append(r.status_code)
        assert codes == [200, 200, 200, 429, 429]
        assert await coins_of(http, fan) == 47
    await mongo_client.drop_database(db_name)


async def test_a_retry_refused_by_the_rate_limit_still_gets_the_first_sends_ack(
    db_name: str, mongo_client: Any
) -> None:
    """A new key costs no replay lookup any more; a retry of a key that was used is answered when a check refuses it."""
    hub = Hub(make_settings(db_name, gift_burst=1, gift_per_second=0.01), mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        owner = await register(http, "Owner")
        fan = await register(http, "Fan")
        stream = await live_stream(http, owner)
        await give_coins(http, hub, fan["user"]["id"], 50)
        replies = []
        for key in ("same", "same", "other"):
            r = await http.post(
                f"/api/v1/streams/{stream['id']}/gifts",
                json={"gift_id": "rose", "idempotency_key": key},
                headers=auth(fan),
            )
            replies.append((r.status_code, r.json()))
        (first, ack), (again, replay), (third, refused) = replies
        assert (first, again, third) == (200, 200, 429), replies
        assert replay == ack
        assert refused["code"] == "rate_limited"
        assert await coins_of(http, fan) == 49
    await mongo_client.drop_database(db_name)


async def test_admins_version_the_catalogue_and_a_sent_gift_keeps_the_version_it_used(node: Any) -> None:
    _, http, hub = node
    admin = await register(http, "Boss", email=ADMIN_EMAIL)
    owner = await register(http, "Owner")
    fan = await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    gifts = (await http.get("/api/v1/gifts")).json()["items"]
    ids = [g["id"] for g in gifts]
    assert {"rose", "lion"} <= set(ids) and gifts[0]["names"] == {"en": "Rose", "ru": "Роза"}
    assert next(g for g in gifts if g["id"] == "lion")["effect"]["fullscreen"] is True
    new = {
        "id": "comet",
        "names": {"en": "Comet", "ru": "Комета"},
        "coins": 7,
        "beans": 10,
        "rarity": "rare",
        "effect": {"animation": "comet", "duration_ms": 2000, "fullscreen": False},
    }
    r = await http.post("/api/v1/admin/gifts", json=new, headers=auth(fan))
    assert r.status_code == 403
    r = await http.post("/api/v1/admin/gifts", json=new, headers=auth(admin))
    assert r.status_code == 201 and r.json()["version"] == 1
    r = await http.post(
        f"/api/v1/streams/{stream['id']}/gifts", json={"gift_id": "comet", "idempotency_key": "c1"}, headers=auth(fan)
    )
    assert r.status_code == 200 and r.json()["coins_spent"] == 7
    r = await http.patch("/api/v1/admin/gifts/comet", json={"coins": 9, "expected_version": 1}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await http.patch("/api/v1/admin/gifts/comet", json={"coins": 11, "expected_version": 1}, headers=auth(admin))
    assert r.status_code == 409 and r.json()["code"] == "gift_version_conflict"
    r = await http.post(
        f"/api/v1/streams/{stream['id']}/gifts", json={"gift_id": "comet", "idempotency_key": "c2"}, headers=auth(fan)
    )
    assert r.json()["coins_spent"] == 9
    first = await hub.money.ledger.get(f"gift:{fan['user']['id']}:c1")
    second = await hub.money.ledger.get(f"gift:{fan['user']['id']}:c2")
    assert first is not None and second is not None
    assert (first.refs["gift_version"], first.refs["coins"], first.refs["beans"]) == (1, 7, 8)  # 80 % of 10
    assert (second.refs["gift_version"], second.refs["coins"], second.refs["share_bps"]) == (2, 9, 8000)
    assert await coins_of(http, fan) == 84
