"""Go-live notifications: a streamer going live reaches followers in-app over the socket (any node) and by Web Push
(checked and decrypted by a local push service), muted followers hear nothing, a subscription the push service
says is gone is removed, and the notification centre counts and clears unread notifications."""

from __future__ import annotations

from typing import Any

import httpx

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.live import live_clients
from tests.support.nodes import hub_nodes
from tests.support.push_service import push_service
from tests.support.servers import serve_asgi


async def _follow(http: httpx.AsyncClient, who: dict[str, Any], streamer: dict[str, Any]) -> None:
    r = await http.post(f"/api/v1/users/{streamer['user']['id']}/follow", headers=auth(who))
    assert r.status_code == 204, r.text


async def test_followers_hear_a_go_live_in_app_and_by_web_push_that_the_push_service_verifies_and_decrypts(
    db_name: str, mongo_client: Any
) -> None:
    hub = Hub(make_settings(db_name, push_allow_loopback=True), mongo_client=mongo_client)
    async with (
        push_service() as push,
        serve_asgi(create_app(hub)) as url,
        httpx.AsyncClient(base_url=url, timeout=20) as http,
        live_clients() as open_client,
    ):
        streamer = await register(http, "Streamer")
        online, muter, gone = [await register(http, n) for n in ("Online", "Muter", "Gone")]
        stranger = await register(http, "Stranger")  # follows nobody
        for f in (online, muter, gone):
            await _follow(http, f, streamer)
        r = await http.put(f"/api/v1/notifications/mutes/{streamer['user']['id']}", headers=auth(muter))
        assert r.status_code == 204, r.text
        key = (await http.get("/api/v1/notifications/push/key", headers=auth(online))).json()["public_key"]
        subs = {}
        for who in (online, muter, gone, stranger):
            sub = push.subscribe()
            r = await http.post("/api/v1/notifications/push/subscriptions", json=sub.json(), headers=auth(who))
            assert r.status_code == 201, r.text
            subs[who["user"]["id"]] = sub
        push.expire(subs[gone["user"]["id"]])
        sockets = {u["user"]["id"]: await open_client(url, u["access_token"]) for u in (online, muter, stranger)}
        stream = await create_stream(http, streamer, "Speedrun night")

        r = await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(streamer))
        assert r.status_code == 200, r.text

        note = await sockets[online["user"]["id"]].wait_event("notification:new")
        assert note["stream_id"] == stream["id"] and note["title"] == "Speedrun night"
        assert note["actor_id"] == streamer["user"]["id"] and note["actor_name"] == "Streamer"
        [message] = await push.wait_for(1)
        assert message.token == subs[online["user"]["id"]].endpoint.rsplit("/", 1)[1]
        assert message.vapid_key == key  # signed with the key the page subscribed with
        assert message.payload["stream_id"] == stream["id"] and message.payload["body"] == "Speedrun night"
        assert message.payload["title"] == "Streamer is live" and message.payload["url"] == f"/watch/{stream['id']}"
        assert message.headers["topic"] and int(message.headers["ttl"]) > 0
        assert push.refused == []
        # The 410 for the expired subscription removed it; the job finished; nobody else heard anything.
        await _wait_job_done(hub, stream["id"])
        assert len(push.received) == 1
        assert await hub.notification_store.subscription_ids(gone["user"]["id"]) == []
        assert sockets[muter["user"]["id"]].received("notification:new") == []
        assert sockets[stranger["user"]["id"]].received("notification:new") == []

        # The notification centre: one unread, then none once read; the muted follower has none.
        page = (await http.get("/api/v1/notifications", headers=auth(online))).json()
        assert page["unread"] == 1 and [n["id"] for n in page["items"]] == [note["id"]]
        assert page["items"][0]["read"] is False
        r = await http.post("/api/v1/notifications/read", json={"ids": [note["id"]]}, headers=auth(online))
        assert r.json() == {"marked": 1, "unread": 0}
        page = (await http.get("/api/v1/notifications", headers=auth(online))).json()
        assert page["unread"] == 0 and page["items"][0]["read"] is True
        assert (await http.get("/api/v1/notifications", headers=auth(muter))).json()["items"] == []
        assert (await http.get("/api/v1/notifications", headers=auth(gone))).json()["unread"] == 1


async def _wait_job_done(hub: Hub, stream_id: str) -> None:
    import asyncio

    for _ in range(500):
        job = await hub.notification_store.get_job(f"live:{stream_id}")
        if job is not None and job["done"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the fan-out job did not finish")


async def test_a_go_live_on_one_node_reaches_a_follower_connected_to_another(
    clean_redis: str, db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis) as (n1, n2), live_clients() as open_client:
        streamer = await register(n1.http, "Streamer")
        fan = await register(n2.http, "Fan")
        await _follow(n2.http, fan, streamer)
        socket = await open_client(n2.url, fan["access_token"])
        stream = await create_stream(n1.http, streamer, "Across nodes")
        r = await n1.http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(streamer))
        assert r.status_code == 200, r.text
        note = await socket.wait_event("notification:new")
        assert note["stream_id"] == stream["id"]
        # Going live again (the media starting, a second POST) does not notify twice.
        await n2.http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(streamer))
        await _wait_job_done(n1.hub, stream["id"])
        assert len(socket.received("notification:new")) == 1


async def test_a_push_subscription_must_be_a_push_service_url_with_real_keys(client: httpx.AsyncClient) -> None:
    me = await register(client, "Me")
    async with push_service() as push:
        good = push.subscribe().json()
    https = {**good, "endpoint": "https://fcm.googleapis.com/fcm/send/abc"}
    cases = {
        "endpoint": [
            {**good},  # loopback http: only with HUB_PUSH_ALLOW_LOOPBACK (tests of the real delivery)
            {**good, "endpoint": "https://evil.example/fcm.googleapis.com"},
            {**good, "endpoint": "https://fcm.googleapis.com.evil.example/x"},
            {**good, "endpoint": "http://fcm.googleapis.com/fcm/send/abc"},
            {**good, "endpoint": "https://user:pw@fcm.googleapis.com/x"},
        ],
        "keys.p256dh": [
            {**https, "keys": {**good["keys"], "p256dh": "BAAA"}},
            {**https, "keys": {**good["keys"], "p256dh": "B" + "A" * 86}},  # 65 bytes, not on the curve
        ],
        "keys.auth": [{**https, "keys": {**good["keys"], "auth": "c2hvcnQ"}}],
    }
    for field, bodies in cases.items():
        for body in bodies:
            r = await client.post("/api/v1/notifications/push/subscriptions", json=body, headers=auth(me))
            assert r.status_code == 422, (body, r.text)
            assert r.json()["errors"][0]["field"] == field, (body, r.text)
    too_long = {**https, "endpoint": "https://fcm.googleapis.com/" + "a" * 3000}
    r = await client.post("/api/v1/notifications/push/subscriptions", json=too_long, headers=auth(me))
    assert r.status_code == 422
    r = await client.post("/api/v1/notifications/push/subscriptions", json=https, headers=auth(me))
    assert r.status_code == 201, r.text
    gone = {"endpoint": https["endpoint"]}
    r = await client.request("DELETE", "/api/v1/notifications/push/subscriptions", json=gone, headers=auth(me))
    assert r.status_code == 204
    r = await client.post("/api/v1/notifications/push/subscriptions", json=https)
    assert r.status_code == 401
