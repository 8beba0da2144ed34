"""Two hub nodes sharing one real Redis and one database: chat, moderation and presence cross nodes.

Every test runs twice: on one ``redis-server``, and on a three-master Redis Cluster (shard channels, hash tags).
"""

from __future__ import annotations

import asyncio
from typing import Any

from signaling.keys import room_channel, stream_room
from tests.support.api import create_stream, register
from tests.support.live import live_clients
from tests.support.nodes import hub_nodes
from tests.support.redis_cluster import SharedRedis


async def test_chat_written_on_one_node_reaches_viewers_on_the_other_in_order(
    any_redis: SharedRedis, db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        viewer = await register(n2.http, "Viewer")
        stream = await create_stream(n1.http, owner)
        a = await open_client(n1.url, owner["access_token"])
        b = await open_client(n2.url, viewer["access_token"])
        await a.ok("stream:join", {"stream_id": stream["id"]})
        await b.ok("stream:join", {"stream_id": stream["id"]})
        texts = [f"m{i}" for i in range(20)]
        for t in texts:
            await a.ok("chat:send", {"stream_id": stream["id"], "text": t})
        await b.wait_for(lambda: b.chat_texts() == texts)
        await b.ok("chat:send", {"stream_id": stream["id"], "text": "back"})
        await a.wait_for(lambda: a.chat_texts() == [*texts, "back"])
        # The recent chat is shared: a late joiner on node 2 gets what node 1 stored.
        c = await open_client(n2.url, viewer["access_token"])
        join = await c.ok("stream:join", {"stream_id": stream["id"]})
        assert [m["text"] for m in join["recent_chat"]] == [*texts, "back"]
        # A node only subscribes to rooms it has members in.
        assert n2.hub.broadcaster.link is not None
        assert room_channel(stream_room(stream["id"])) in n2.hub.broadcaster.link.channels  # type: ignore[attr-defined]


async def test_a_ban_on_one_node_holds_on_the_other_and_survives_reconnect(
    any_redis: SharedRedis, db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        troll = await register(n2.http, "Troll")
        stream = await create_stream(n1.http, owner)
        a = await open_client(n1.url, owner["access_token"])
        t = await open_client(n2.url, troll["access_token"])
        await a.ok("stream:join", {"stream_id": stream["id"]})
        await t.ok("stream:join", {"stream_id": stream["id"]})
        await t.ok("chat:send", {"stream_id": stream["id"], "text": "before"})
        ban = {"stream_id": stream["id"], "action": "ban", "target_user_id": troll["user"]["id"], "reason": "spam"}
        await a.ok("mod:action", ban)
        restricted = await t.wait_event("you:restricted")
        assert restricted == {"stream_id": stream["id"], "kind": "ban", "until": None, "reason": "spam"}
        err = await t.error("chat:send", {"stream_id": stream["id"], "text": "after"})
        assert err["code"] == "restricted" and err["kind"] == "ban"
        await t.close()
        t2 = await open_client(n1.url, troll["access_token"])
        join = await t2.ok("stream:join", {"stream_id": stream["id"]})
        assert join["restriction"]["kind"] == "ban"
        assert (await t2.error("chat:send", {"stream_id": stream["id"], "text": "again"}))["code"] == "restricted"


async def test_viewers_are_counted_once_across_nodes(any_redis: SharedRedis, db_name: str, mongo_client: Any) -> None:
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        viewer = await register(n1.http, "Viewer")
        stream = await create_stream(n1.http, owner)
        a = await open_client(n1.url, owner["access_token"])
        await a.ok("stream:join", {"stream_id": stream["id"]})
        on_1 = await open_client(n1.url, viewer["access_token"])
        on_2 = await open_client(n2.url, viewer["access_token"])  # the same person on the other node
        guest = await open_client(n2.url)
        for c in (on_1, on_2, guest):
            await c.ok("stream:join", {"stream_id": stream["id"]})
        await a.wait_event("viewers:count", where=lambda d: d["count"] == 3)
        await guest.wait_event("viewers:count", where=lambda d: d["count"] == 3)
        r = await n2.http.get(f"/api/v1/streams/{stream['id']}/viewers")
        assert r.json()["count"] == 3


async def test_a_viewer_who_moved_to_another_node_stays_counted_when_the_old_connection_closes(
    any_redis: SharedRedis, db_name: str, mongo_client: Any
) -> None:
    """A viewer's page moves to node 2 (its node is going away, or it followed ``node_full``) and then its old
    connection on node 1 closes: node 1 must not take them out of the shared count (they were missing until node 2's
    next heartbeat, up to 10 s: viewer counts dipped, watch time stalled)."""
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        viewer = await register(n1.http, "Viewer")
        stream = await create_stream(n1.http, owner)
        a = await open_client(n1.url, owner["access_token"])
        await a.ok("stream:join", {"stream_id": stream["id"]})
        old = await open_client(n1.url, viewer["access_token"])
        await old.ok("stream:join", {"stream_id": stream["id"]})
        moved = await open_client(n2.url, viewer["access_token"])
        await moved.ok("stream:join", {"stream_id": stream["id"]})
        await old.close()
        await asyncio.sleep(0.5)  # node 1 has handled the disconnect
        for node in (n1, n2):
            r = await node.http.get(f"/api/v1/streams/{stream['id']}/viewers")
            assert r.json()["count"] == 2, r.json()
        await moved.close()
        await a.wait_event("viewers:count", where=lambda d: d["count"] == 1)


async def test_moderators_on_another_node_get_mod_events_and_reports(
    any_redis: SharedRedis, db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        mod = await register(n1.http, "Mod")
        viewer = await register(n1.http, "Viewer")
        stream = await create_stream(n1.http, owner)
        r = await n1.http.post(
            f"/api/v1/streams/{stream['id']}/moderators",
            json={"user_id": mod["user"]["id"]},
            headers={"Authorization": f"Bearer {owner['access_token']}"},
        )
        assert r.status_code == 200, r.text
        m = await open_client(n2.url, mod["access_token"])
        join = await m.ok("stream:join", {"stream_id": stream["id"]})
        assert join["role"] == "moderator" and "blocked_terms" in join["settings"]
        v = await open_client(n1.url, viewer["access_token"])
        await v.ok("stream:join", {"stream_id": stream["id"]})
        sent = await v.ok("chat:send", {"stream_id": stream["id"], "text": "rude words"})
        await v.ok("report:send", {"stream_id": stream["id"], "message_id": sent["message"]["id"], "reason": "rude"})
        event = await m.wait_event("mod:event", where=lambda d: d["type"] == "report")
        assert event["report"]["message"]["text"] == "rude words"
        assert event["report"]["target_user_id"] == viewer["user"]["id"]
        a = await open_client(n1.url, owner["access_token"])
        await a.ok("stream:join", {"stream_id": stream["id"]})
        await a.ok("mod:action", {"stream_id": stream["id"], "action": "slow", "value": 10})
        logged = await m.wait_event("mod:event", where=lambda d: d["type"] == "action")
        assert logged["entry"]["action"] == "slow" and logged["entry"]["actor_id"] == owner["user"]["id"]
        settings = await v.wait_event("room:settings")
        assert settings["slow_s"] == 10
        await asyncio.sleep(0)
        assert not v.received("mod:event")  # viewers never see moderation events


async def test_likes_from_both_nodes_add_up_everywhere(any_redis: SharedRedis, db_name: str, mongo_client: Any) -> None:
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        fan = await register(n1.http, "Fan")
        stream = await create_stream(n1.http, owner)
        a = await open_client(n1.url, fan["access_token"])
        b = await open_client(n2.url, fan["access_token"])
        for c in (a, b):
            await c.ok("stream:join", {"stream_id": stream["id"]})
        await a.ok("like:send", {"stream_id": stream["id"], "count": 7})
        await b.ok("like:send", {"stream_id": stream["id"], "count": 5})
        for c in (a, b):
            await c.wait_event("likes:update", where=lambda d: d["total"] == 12)
        for _ in range(50):  # each node persists its own share on its next flush
            r = await n1.http.get(f"/api/v1/streams/{stream['id']}")
            if r.json()["stats"]["likes"] == 12:
                break
            await asyncio.sleep(0.1)
        assert r.json()["stats"]["likes"] == 12


async def test_settings_and_the_end_of_a_stream_apply_at_once_on_the_other_node(
    any_redis: SharedRedis, db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        viewer = await register(n2.http, "Viewer")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        a = await open_client(n1.url, owner["access_token"])
        v = await open_client(n2.url, viewer["access_token"])
        await a.ok("stream:join", {"stream_id": sid})
        await v.ok("stream:join", {"stream_id": sid})
        await v.ok("chat:send", {"stream_id": sid, "text": "warm the cache"})
        await a.ok("mod:action", {"stream_id": sid, "action": "block_term", "value": "spoiler*"})
        await v.wait_event("room:settings")
        assert (await v.error("chat:send", {"stream_id": sid, "text": "SPOILERS ahead"}))["code"] == "blocked_term"
        await a.ok("mod:action", {"stream_id": sid, "action": "end_stream"})
        await v.wait_event("stream:ended")
        assert (await v.error("chat:send", {"stream_id": sid, "text": "still here?"}))["code"] == "stream_ended"


async def test_a_node_unsubscribes_when_its_last_member_of_a_room_leaves(
    any_redis: SharedRedis, db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(2, db_name, mongo_client, any_redis) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        stream = await create_stream(n1.http, owner)
        channel = room_channel(stream_room(stream["id"]))
        guests = [await open_client(n2.url) for _ in range(3)]
        for g in guests:
            await g.ok("stream:join", {"stream_id": stream["id"]})
        link = n2.hub.broadcaster.link
        assert link is not None and channel in link.channels  # type: ignore[attr-defined]
        await guests[0].ok("stream:leave", {"stream_id": stream["id"]})
        await guests[1].close()
        assert channel in link.channels  # type: ignore[attr-defined]
        assert n2.hub.signaling.server.manager.get_rooms(guests[2].sio.get_sid("/live"), "/live")[1:] == [
            "s:" + stream["id"]
        ]
        await guests[2].close()
        await guests[2].wait_for(lambda: channel not in link.channels, timeout=5)  # type: ignore[attr-defined]
        assert n2.hub.broadcaster.local_rooms == frozenset()
