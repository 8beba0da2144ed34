"""OBS overlays over real Socket.IO clients: the owner's overlay links, an overlay connection bound to one stream by
its key (read-only, not a viewer), gifts/chat/goal/leaderboard reaching it, test alerts that move no money, and a
rotated key that cuts off old links at once — also on another node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, live_stream, register
from tests.support.coins import give_coins, verify_at_rest
from tests.support.gift_node import gift_node
from tests.support.live import live_clients
from tests.support.servers import serve_asgi


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    async with gift_node(db_name, mongo_client) as n:
        yield n


async def overlay_links(http: httpx.AsyncClient, owner: dict[str, Any], stream_id: str) -> dict[str, Any]:
    r = await http.get(f"/api/v1/streams/{stream_id}/overlays", headers=auth(owner))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def refused_overlay(url: str, key: str) -> str:
    """The ``code`` in the connect_error an overlay connection with ``key`` gets (the JS client's ``err.data``)."""
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []

    async def on_error(data: Any) -> None:
        reasons.append(data)

    client.on("connect_error", on_error, namespace="/live")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, namespaces=["/live"], auth={"overlay": key}, transports=["websocket"])
    await client.disconnect()
    assert reasons, "no connect_error"
    return str(reasons[0]["data"]["code"])


async def test_only_the_owner_gets_overlay_links_and_they_stay_the_same_until_rotated(node: Any) -> None:
    _url, http, _hub = node
    owner, other = await register(http, "Owner"), await register(http, "Other")
    stream = await create_stream(http, owner)
    first = await overlay_links(http, owner, stream["id"])
    assert first["key"].startswith("ovl_") and first["key"] != stream["stream_key"]
    assert {o["kind"] for o in first["overlays"]} == {"alerts", "goal", "chat", "top"}
    assert all(o["path"].endswith("#key=" + first["key"]) for o in first["overlays"])
    assert (await overlay_links(http, owner, stream["id"]))["key"] == first["key"]
    for headers, status in ((auth(other), 403), ({}, 401)):
        r = await http.get(f"/api/v1/streams/{stream['id']}/overlays", headers=headers)
        assert r.status_code == status, r.text
        r = await http.post(f"/api/v1/streams/{stream['id']}/overlays/rotate", headers=headers)
        assert r.status_code == status, r.text
    assert (await overlay_links(http, owner, stream["id"]))["key"] == first["key"]  # refused calls changed nothing


async def test_an_overlay_sees_its_streams_gifts_chat_and_goal_but_cannot_act_and_is_not_a_viewer(node: Any) -> None:
    url, http, hub = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    other_stream = await live_stream(http, await register(http, "Someone"))
    await give_coins(http, hub, fan["user"]["id"], 100)
    r = await http.put(
        f"/api/v1/streams/{stream['id']}/goal", json={"kind": "beans", "target": 1000}, headers=auth(owner)
    )
    assert r.status_code == 200, r.text
    key = (await overlay_links(http, owner, stream["id"]))["key"]
    async with live_clients() as open_client:
        overlay = await open_client(url, auth={"overlay": key})
        state = await overlay.ok("overlay:join", {})
        assert state["stream"]["id"] == stream["id"] and state["goal"]["target"] == 1000
        assert state["leaderboard"] == [] and state["recent_chat"] == []
        sender = await open_client(url, fan["access_token"])
        joined = await sender.ok("stream:join", {"stream_id": stream["id"]})
        assert joined["viewers"] == 1  # the overlay is not counted
        await sender.ok("chat:send", {"stream_id": stream["id"], "text": "hello overlay"})
        ack = await sender.ok(
            "gift:send", {"stream_id": stream["id"], "gift_id": "heart", "idempotency_key": "o1", "message": "gg!"}
        )
        got = await overlay.wait_event("gift:received", where=lambda p: p["transfer_id"] == ack["transfer_id"])
        assert got["message"] == "gg!" and got["sender"]["nickname"] == "Fan" and "test" not in got
        await overlay.wait_event("chat:message", where=lambda m: m["text"] == "hello overlay")
        await overlay.wait_event("goal:progress", where=lambda p: p["goal"]["progress"] > 0)
        await overlay.wait_event("leaderboard:update", where=lambda p: p["top"][0]["nickname"] == "Fan")
        # Read-only, one stream: every other event is refused, whatever it is.
        for event, payload in (
            ("chat:send", {"stream_id": stream["id"], "text": "spoofed"}),
            ("stream:join", {"stream_id": other_stream["id"]}),
            ("gift:send", {"stream_id": stream["id"], "gift_id": "rose", "idempotency_key": "o2"}),
            ("like:send", {"stream_id": stream["id"]}),
            ("rtc:subscribe", {"stream_id": stream["id"], "sdp": "v=0"}),
        ):
            assert (await overlay.error(event, payload))["code"] == "overlay_read_only", event
        # A person's connection cannot pose as an overlay.
        assert (await sender.error("overlay:join", {}))["code"] == "overlay_only"
    assert (await verify_at_rest(hub)).ok


async def test_a_test_alert_reaches_only_the_overlays_marked_as_a_test_and_moves_no_money(node: Any) -> None:
    url, http, hub = node
    owner, fan = await register(http, "Owner"), await register(http, "Fan")
    stream = await live_stream(http, owner)
    key = (await overlay_links(http, owner, stream["id"]))["key"]
    async with live_clients() as open_client:
        overlay = await open_client(url, auth={"overlay": key})
        await overlay.ok("overlay:join", {})
        viewer = await open_client(url, fan["access_token"])
        await viewer.ok("stream:join", {"stream_id": stream["id"]})
        r = await http.post(
            f"/api/v1/streams/{stream['id']}/overlays/test-alert", json={"gift_id": "lion"}, headers=auth(owner)
        )
        assert r.status_code == 200, r.text
        sent = r.json()["alert"]
        got = await overlay.wait_event("gift:received", where=lambda p: p.get("test") is True)
        assert got["transfer_id"] == sent["transfer_id"] and got["transfer_id"].startswith("test:")
        assert got["gift"]["id"] == "lion" and got["message"]
        await viewer.ok("chat:send", {"stream_id": stream["id"], "text": "after"})  # a marker the viewer waits for
        await viewer.wait_event("chat:message", where=lambda m: m["text"] == "after")
        assert viewer.received("gift:received") == []
        r = await http.post(
            f"/api/v1/streams/{stream['id']}/overlays/test-alert", json={"gift_id": "nope"}, headers=auth(owner)
        )
        assert r.status_code == 404 and r.json()["code"] == "gift_not_found"
        r = await http.post(f"/api/v1/streams/{stream['id']}/overlays/test-alert", json={}, headers=auth(fan))
        assert r.status_code == 403
    assert await hub.wallet.ledger.get(sent["transfer_id"]) is None
    owner_wallet = (await http.get("/api/v1/wallet", headers=auth(owner))).json()
    assert (owner_wallet["beans"], owner_wallet["beans_held"]) == (0, 0)
    lb = (await http.get(f"/api/v1/streams/{stream['id']}/leaderboard")).json()
    assert lb["live"] == [] and lb["all_time"] == []


async def test_a_rotated_key_disconnects_open_overlays_and_no_longer_connects(node: Any) -> None:
    url, http, _hub = node
    owner = await register(http, "Owner")
    stream = await live_stream(http, owner)
    old = (await overlay_links(http, owner, stream["id"]))["key"]
    async with live_clients() as open_client:
        overlay = await open_client(url, auth={"overlay": old})
        await overlay.ok("overlay:join", {})
        r = await http.post(f"/api/v1/streams/{stream['id']}/overlays/rotate", headers=auth(owner))
        assert r.status_code == 200, r.text
        new = r.json()["key"]
        assert new != old
        revoked = await overlay.wait_event("overlay:revoked")
        assert revoked["code"] == "invalid_overlay_key"
        await overlay.wait_for(lambda: not overlay.sio.connected)
        fresh = await open_client(url, auth={"overlay": new})
        assert (await fresh.ok("overlay:join", {}))["stream"]["id"] == stream["id"]
        r = await http.post(f"/api/v1/streams/{stream['id']}/overlays/test-alert", json={}, headers=auth(owner))
        assert r.status_code == 200, r.text
        await fresh.wait_event("gift:received")
        assert fresh.sio.connected and not overlay.sio.connected
    for bad in (old, "ovl_" + "x" * 32, "not-a-key", ""):
        assert await refused_overlay(url, bad) == "invalid_overlay_key", bad


async def test_rotating_on_one_node_disconnects_an_overlay_on_another(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    hub_a = Hub(make_settings(db_name, redis_url=clean_redis, node_id="node-a"), mongo_client=mongo_client)
    hub_b = Hub(make_settings(db_name, redis_url=clean_redis, node_id="node-b"), mongo_client=mongo_client)
    async with (
        serve_asgi(create_app(hub_a)) as url_a,
        serve_asgi(create_app(hub_b)) as url_b,
        httpx.AsyncClient(base_url=url_a, timeout=20) as http_a,
        live_clients() as open_client,
    ):
        owner = await register(http_a, "Owner")
        stream = await live_stream(http_a, owner)
        key = (await overlay_links(http_a, owner, stream["id"]))["key"]
        overlay = await open_client(url_b, auth={"overlay": key})
        await overlay.ok("overlay:join", {})
        r = await http_a.post(f"/api/v1/streams/{stream['id']}/overlays/test-alert", json={}, headers=auth(owner))
        assert r.status_code == 200, r.text
        await overlay.wait_event("gift:received", where=lambda p: p.get("test") is True)  # across nodes too
        r = await http_a.post(f"/api/v1/streams/{stream['id']}/overlays/rotate", headers=auth(owner))
        assert r.status_code == 200, r.text
        await overlay.wait_event("overlay:revoked")
        await overlay.wait_for(lambda: not overlay.sio.connected)
