"""One hub node (embedded: no Redis): chat, presence, likes, guests, bad payloads, over real Socket.IO clients."""

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


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    settings = make_settings(db_name, chat_burst=20, chat_per_second=20.0, viewers_interval_s=0.2, likes_interval_s=0.1)
    hub = Hub(settings, mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url) as http:
        yield url, http, hub
    await mongo_client.drop_database(db_name)


async def test_viewer_sees_chat_with_author_badges_and_mentions(node: Any) -> None:
    url, http, _ = node
    owner = await register(http, "Owner")
    viewer = await register(http, "Viewer")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        a = await open_client(url, owner["access_token"])
        b = await open_client(url, viewer["access_token"])
        join_a = await a.ok("stream:join", {"stream_id": stream["id"]})
        assert join_a["role"] == "owner"
        join_b = await b.ok("stream:join", {"stream_id": stream["id"]})
        assert join_b["role"] == "viewer" and join_b["viewers"] == 2
        ack = await a.ok("chat:send", {"stream_id": stream["id"], "text": "  hello @Viewer  ", "client_id": "c1"})
        assert ack["message"]["text"] == "hello @Viewer"
        msg = await b.wait_event("chat:message")
        assert msg["user"]["nickname"] == "Owner" and msg["user"]["badges"] == ["owner"]
        assert msg["mentions"] == [{"user_id": viewer["user"]["id"], "nickname": "Viewer"}]
        assert msg["client_id"] == "c1"

        c = await open_client(url, viewer["access_token"])
        join_c = await c.ok("stream:join", {"stream_id": stream["id"]})
        assert [m["text"] for m in join_c["recent_chat"]] == ["hello @Viewer"]
        assert join_c["viewers"] == 2  # the same person twice counts once


async def test_guest_may_watch_but_not_chat_like_or_report(node: Any) -> None:
    url, http, _ = node
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        guest = await open_client(url)
        join = await guest.ok("stream:join", {"stream_id": stream["id"]})
        assert join["role"] == "guest"
        for event, body in (
            ("chat:send", {"stream_id": stream["id"], "text": "hi"}),
            ("like:send", {"stream_id": stream["id"], "count": 1}),
            ("report:send", {"stream_id": stream["id"], "target_user_id": owner["user"]["id"], "reason": "x"}),
            ("mod:action", {"stream_id": stream["id"], "action": "clear"}),
        ):
            err = await guest.error(event, body)
            assert err["code"] == "unauthenticated", (event, err)


async def test_bad_payloads_get_error_acks(node: Any) -> None:
    url, http, hub = node
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        a = await open_client(url, owner["access_token"])
        assert (await a.error("stream:join", {"stream_id": 42}))["code"] == "invalid_input"
        assert (await a.error("stream:join", "not an object"))["code"] == "invalid_input"
        assert (await a.error("stream:join", {"stream_id": "nope"}))["code"] == "stream_not_found"
        await a.ok("stream:join", {"stream_id": stream["id"]})
        huge = {"stream_id": stream["id"], "text": "x" * 20000}
        assert (await a.error("chat:send", huge))["code"] == "payload_too_large"
        long = {"stream_id": stream["id"], "text": "x" * 501}
        assert (await a.error("chat:send", long))["code"] == "invalid_input"
        assert (await a.error("chat:send", {"stream_id": stream["id"], "text": "a\x07b"}))["code"] == "invalid_input"
        assert (await a.error("chat:send", {"stream_id": stream["id"], "text": "   "}))["code"] == "invalid_input"
        extra = {"stream_id": stream["id"], "text": "hi", "x": 1}
        assert (await a.error("chat:send", extra))["code"] == "invalid_input"
        assert (await a.error("chat:send", {"stream_id": "other", "text": "hi"}))["code"] == "not_joined"
        assert (await a.error("like:send", {"stream_id": stream["id"], "count": "3"}))["code"] == "invalid_input"
        before = hub.metrics.registry.get_sample_value("hub_socket_unknown_events_total") or 0
        await a.sio.emit("no:such:event", {"a": 1}, namespace="/live")
        await a.ok("stream:leave", {"stream_id": stream["id"]})  # the connection still works
        after = hub.metrics.registry.get_sample_value("hub_socket_unknown_events_total") or 0
        assert after == before + 1


async def test_chat_rate_limit_refuses_a_burst(db_name: str, mongo_client: Any) -> None:
    settings = make_settings(db_name, chat_burst=3, chat_per_second=0.5)
    hub = Hub(settings, mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url) as http:
        owner = await register(http, "Owner")
        stream = await create_stream(http, owner)
        async with live_clients() as open_client:
            a = await open_client(url, owner["access_token"])
            await a.ok("stream:join", {"stream_id": stream["id"]})
            acks = [await a.call("chat:send", {"stream_id": stream["id"], "text": f"m{i}"}) for i in range(5)]
            assert [x["ok"] for x in acks] == [True, True, True, False, False]
            assert acks[3]["error"]["code"] == "rate_limited" and acks[3]["error"]["retry_after_s"] > 0


async def test_expired_or_forged_token_is_refused_with_a_reason(node: Any) -> None:
    import socketio

    url, _, _ = node
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []

    async def on_error(data: Any) -> None:
        reasons.append(data)

    client.on("connect_error", on_error, namespace="/live")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, namespaces=["/live"], auth={"token": "forged.token.here"}, transports=["websocket"])
    await client.disconnect()
    # The client gets {message, data: {code, message}} (the JS client: err.message and err.data).
    assert reasons and reasons[0]["data"]["code"] in ("invalid_token", "unauthenticated"), reasons
    assert reasons[0]["message"]


async def test_likes_are_aggregated_and_totals_persisted(node: Any) -> None:
    url, http, _ = node
    owner = await register(http, "Owner")
    viewer = await register(http, "Viewer")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        a = await open_client(url, owner["access_token"])
        b = await open_client(url, viewer["access_token"])
        await a.ok("stream:join", {"stream_id": stream["id"]})
        await b.ok("stream:join", {"stream_id": stream["id"]})
        for _ in range(10):
            await b.ok("like:send", {"stream_id": stream["id"], "count": 3})
        await a.wait_event("likes:update", where=lambda d: d["total"] == 30)
        assert len(a.received("likes:update")) < 10  # aggregated, not one per tap
    r = await http.get(f"/api/v1/streams/{stream['id']}")
    assert r.json()["stats"]["likes"] == 30


async def test_viewer_count_is_pushed_and_peak_kept(node: Any) -> None:
    url, http, _ = node
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        a = await open_client(url, owner["access_token"])
        await a.ok("stream:join", {"stream_id": stream["id"]})
        guests = [await open_client(url) for _ in range(3)]
        for g in guests:
            await g.ok("stream:join", {"stream_id": stream["id"]})
        await a.wait_event("viewers:count", where=lambda d: d["count"] == 4)
        await guests[0].ok("stream:leave", {"stream_id": stream["id"]})
        await a.wait_event("viewers:count", where=lambda d: d["count"] == 3)
    r = await http.get(f"/api/v1/streams/{stream['id']}")
    assert r.json()["stats"]["peak_viewers"] == 4


async def test_msgpack_clients_share_rooms_with_json_clients(node: Any) -> None:
    url, http, _ = node
    owner = await register(http, "Owner")
    viewer = await register(http, "Viewer")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        a = await open_client(url, owner["access_token"])
        m = await open_client(url, viewer["access_token"], path="socket.io-msgpack", serializer="msgpack")
        await a.ok("stream:join", {"stream_id": stream["id"]})
        await m.ok("stream:join", {"stream_id": stream["id"]})
        await m.ok("chat:send", {"stream_id": stream["id"], "text": "from msgpack"})
        await a.ok("chat:send", {"stream_id": stream["id"], "text": "from json"})
        await a.wait_for(lambda: a.chat_texts() == ["from msgpack", "from json"])
        await m.wait_for(lambda: m.chat_texts() == ["from msgpack", "from json"])
    _ = auth


async def test_joining_in_bulk_is_rate_limited(node: Any) -> None:
    url, http, _ = node
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        guest = await open_client(url)
        codes = []
        for _ in range(25):
            ack = await guest.call("stream:join", {"stream_id": stream["id"]})
            codes.append("ok" if ack["ok"] else ack["error"]["code"])
            await guest.ok("stream:leave", {"stream_id": stream["id"]})
        assert codes[:20] == ["ok"] * 20 and "rate_limited" in codes[20:]
