"""Gift messages: a short text carried by a gift, stored on its ledger transfer, idempotent like the gift, screened
by the text policy and the room's blocked terms, and drawn with the gift's effect (never merged away)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.wiring import Hub
from tests.support.api import auth, coins_of, live_stream, register
from tests.support.coins import give_coins, verify_at_rest
from tests.support.gift_node import gift_node
from tests.support.live import live_clients


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    async with gift_node(db_name, mongo_client) as n:
        yield n


async def test_a_gift_message_reaches_json_and_msgpack_screens_and_is_recorded_on_the_transfer(node: Any) -> None:
    url, http, hub = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    async with live_clients() as open_client:
        sender = await open_client(url, fan["access_token"])
        screens = [await open_client(url), await open_client(url, serializer="msgpack", path="socket.io-msgpack")]
        for c in (sender, *screens):
            await c.ok("stream:join", {"stream_id": stream["id"]})
        # Two small roses of one sender in a row would merge; the one with a message keeps its own effect.
        plain = await sender.ok(
            "gift:send", {"stream_id": stream["id"], "gift_id": "rose", "idempotency_key": "plain-1"}
        )
        said = await sender.ok(
            "gift:send",
            {
                "stream_id": stream["id"],
                "gift_id": "rose",
                "idempotency_key": "msg-1",
                "message": "  Happy   birthday! 🎂 ",
            },
        )
        for screen in screens:
            got = await screen.wait_event("gift:received", where=lambda p: p["transfer_id"] == said["transfer_id"])
            assert got["message"] == "Happy birthday! 🎂"  # the text policy's form: trimmed, spaces collapsed
            assert "merged" not in got and got["count"] == 1
            other = await screen.wait_event(
                "gift:received", where=lambda p: plain["transfer_id"] in (p.get("transfer_ids") or [p["transfer_id"]])
            )
            assert "message" not in other
    transfer = await hub.wallet.ledger.get(said["transfer_id"])
    assert transfer is not None and transfer.refs["message"] == "Happy birthday! 🎂"
    # The HTTP edge takes the same field.
    r = await http.post(
        f"/api/v1/streams/{stream['id']}/gifts",
        json={"gift_id": "heart", "idempotency_key": "http-1", "message": "from the app"},
        headers=auth(fan),
    )
    assert r.status_code == 200, r.text
    transfer = await hub.wallet.ledger.get(r.json()["transfer_id"])
    assert transfer is not None and transfer.refs["message"] == "from the app"
    assert (await verify_at_rest(hub)).ok


async def test_a_replay_with_the_same_message_returns_the_same_ack_and_another_message_is_refused(node: Any) -> None:
    url, http, hub = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    body = {"stream_id": stream["id"], "gift_id": "heart", "idempotency_key": "k1", "message": "hello"}
    async with live_clients() as open_client:
        sender = await open_client(url, fan["access_token"])
        first = await sender.ok("gift:send", body)
        assert await sender.ok("gift:send", body) == first  # a retry: the same ack, one debit
        for changed in ({**body, "message": "hello!"}, {k: v for k, v in body.items() if k != "message"}):
            err = await sender.error("gift:send", changed)
            assert err["code"] == "idempotency_key_reused"
        # A first send without a message, replayed with one, is a changed replay too.
        await sender.ok("gift:send", {**body, "idempotency_key": "k2", "message": None})
        err = await sender.error("gift:send", {**body, "idempotency_key": "k2", "message": "late"})
        assert err["code"] == "idempotency_key_reused"
    assert await coins_of(http, fan) == 90  # two hearts of 5 coins
    transfer = await hub.wallet.ledger.get(first["transfer_id"])
    assert transfer is not None and transfer.refs["message"] == "hello"
    assert (await verify_at_rest(hub)).ok


async def test_a_gift_message_with_a_blocked_term_or_against_the_text_policy_is_refused_and_moves_no_coins(
    node: Any,
) -> None:
    url, http, hub = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    async with live_clients() as open_client:
        streamer = await open_client(url, owner["access_token"])
        sender = await open_client(url, fan["access_token"])
        for c in (streamer, sender):
            await c.ok("stream:join", {"stream_id": stream["id"]})
        await streamer.ok("mod:action", {"stream_id": stream["id"], "action": "block_term", "value": "scam"})
        base = {"stream_id": stream["id"], "gift_id": "rose"}
        err = await sender.error("gift:send", {**base, "idempotency_key": "b1", "message": "free ＳＣＡＭ here"})
        assert (err["code"], err.get("field")) == ("blocked_term", "message")
        for i, bad in enumerate(("a\u202eb", "x" * 101, "\u200b\u200b", 42)):
            err = await sender.error("gift:send", {**base, "idempotency_key": f"p{i}", "message": bad})
            assert err["code"] == "invalid_input" and err["field"] == "message", (bad, err)
        # The key of a refused gift is still free: the same key with a clean message goes through.
        ok = await sender.ok("gift:send", {**base, "idempotency_key": "b1", "message": "all good"})
        assert ok["balance"] == 99
    r = await http.post(
        f"/api/v1/streams/{stream['id']}/gifts",
        json={"gift_id": "rose", "idempotency_key": "h1", "message": "a\u202eb"},
        headers=auth(fan),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "message", r.text
    assert await coins_of(http, fan) == 99
    assert (await verify_at_rest(hub)).ok
