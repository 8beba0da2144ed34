"""The hub on a real three-master Redis Cluster: one room's keys in one slot, rooms' pub/sub spread over the masters,
and a master restarting under two running nodes.

(The multi-node room behaviours themselves run on the cluster too: tests/integration/test_rooms_many_nodes.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

import cluster.keys as cluster_keys
import gifts.keys as gift_keys
import rooms.keys as room_keys
from gifts.store_redis import RedisLiveState as GiftLiveState
from hub.redis_client import node_client
from rooms.store_redis import RedisLiveState as RoomLiveState
from signaling import keys as channel_keys
from signaling.store_redis import ShardedRoomLink
from tests.support.api import create_stream, register
from tests.support.live import live_clients
from tests.support.nodes import hub_nodes
from tests.support.redis_cluster import LocalRedisCluster, SharedRedis


def _slot(key: str) -> int:
    return int(key_slot(key.encode()))


def _shard_channels(cluster: LocalRedisCluster, wanted: list[str]) -> dict[int, set[str]]:
    """Master port -> which of ``wanted`` it has shard subscribers for (``PUBSUB SHARDCHANNELS`` on each)."""
    out: dict[int, set[str]] = {}
    for m in cluster.masters:
        direct = sync_redis.Redis(host="127.0.0.1", port=m.port)
        try:
            raw = direct.execute_command("PUBSUB", "SHARDCHANNELS")
        finally:
            direct.close()
        out[m.port] = {c.decode() for c in raw} & set(wanted)
    return out


def _cluster_client(cluster: LocalRedisCluster) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", m.port) for m in cluster.masters])


def test_every_key_and_channel_of_one_room_lands_in_one_slot() -> None:
    sid = "65f0c0ffee0123456789abcd"
    names = [
        room_keys.recent_chat(sid),
        room_keys.viewers(sid),
        room_keys.likes(sid),
        room_keys.nicknames(sid),
        gift_keys.leaderboard(sid),
        gift_keys.leaderboard_seen(sid, "t-1"),
        gift_keys.combo(sid, "u-1", "rose"),
        gift_keys.combo_seen(sid, "t-1"),
        cluster_keys.origin(sid),
        cluster_keys.epoch(sid),
        cluster_keys.viewers(sid),
        channel_keys.room_channel(channel_keys.stream_room(sid)),
        channel_keys.room_channel(channel_keys.moderators_room(sid)),
    ]
    assert {_slot(n) for n in names} == {_slot(sid)}
    # ... and another room is elsewhere (the id alone decides).
    assert _slot(room_keys.viewers("65f0c0ffee0123456789abce")) != _slot(room_keys.viewers(sid))


async def test_the_room_and_gift_stores_run_their_multi_key_scripts_on_the_cluster(
    clean_redis_cluster: LocalRedisCluster,
) -> None:
    client = _cluster_client(clean_redis_cluster)
    try:
        gifts = GiftLiveState(client)
        rooms = RoomLiveState(client)
        sids = [f"stream-{i}" for i in range(12)]  # spread over the three masters
        for sid in sids:
            assert await gifts.add_score(sid, "u1", 10, "t-" + sid) is True
            assert await gifts.add_score(sid, "u1", 10, "t-" + sid) is False  # the same transfer counts once
            assert await gifts.combo(sid, "u1", "rose", 1, 3.0, "c1-" + sid) == 1
            assert await gifts.combo(sid, "u1", "rose", 1, 3.0, "c2-" + sid) == 2
            assert await gifts.top(sid, 3) == [("u1", 10)]
            await rooms.replace_recent(sid, ["b", "a"])  # a transaction: one slot
            await rooms.push_recent(sid, "c")
            assert await rooms.recent(sid) == ["c", "b", "a"]
            assert await rooms.add_likes(sid, 2) == 2
        await client.initialize()
        masters_used = {client.get_node_from_key(room_keys.viewers(sid)).name for sid in sids}
        assert len(masters_used) == 3
    finally:
        await client.aclose()


async def test_rooms_shard_channels_spread_over_the_masters_and_each_message_arrives_once(
    clean_redis_cluster: LocalRedisCluster,
) -> None:
    sender_client = _cluster_client(clean_redis_cluster)
    receiver_client = _cluster_client(clean_redis_cluster)
    got: list[bytes] = []
    sender = ShardedRoomLink(sender_client, channel_keys.node_channel("a"), lambda _d: asyncio.sleep(0), node_client)

    async def on_message(data: bytes) -> None:
        got.append(data)

    receiver = ShardedRoomLink(receiver_client, channel_keys.node_channel("b"), on_message, node_client)
    rooms = [channel_keys.room_channel(channel_keys.stream_room(f"room-{i}")) for i in range(30)]
    try:
        sender.start()
        receiver.start()
        for channel in rooms:
            await receiver.subscribe(channel)
        async with asyncio.timeout(10):
            while not (receiver.connected and sender.connected and len(receiver.channels) == 30):
                await asyncio.sleep(0.05)
            # Each master holds the shard channels of its own slots, and only those.
            per_master = _shard_channels(clean_redis_cluster, rooms)
            while sum(len(v) for v in per_master.values()) < 30:  # SSUBSCRIBEs still on their way
                await asyncio.sleep(0.05)
                per_master = _shard_channels(clean_redis_cluster, rooms)
        assert all(per_master.values()), per_master  # no master idle, none carrying every room
        assert sorted(c for v in per_master.values() for c in v) == sorted(rooms)  # each channel on one master
        for port, names in per_master.items():
            owner = f"127.0.0.1:{port}"
            assert {receiver_client.get_node_from_key(c).name for c in names} == {owner}
        assert set(receiver.shards) == {f"127.0.0.1:{m.port}" for m in clean_redis_cluster.masters}

        for i, channel in enumerate(rooms):
            sender.publish(channel, f"m{i}".encode())
        async with asyncio.timeout(10):
            while len(got) < 30:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert sorted(got) == sorted(f"m{i}".encode() for i in range(30))
        assert sender.dropped == 0
    finally:
        await sender.close()
        await receiver.close()
        await sender_client.aclose()
        await receiver_client.aclose()


@pytest.mark.slow
async def test_a_master_restarting_mid_run_loses_only_its_rooms_meanwhile_and_they_cross_nodes_again(
    clean_redis_cluster: LocalRedisCluster, db_name: str, mongo_client: Any
) -> None:
    """While one master is down its rooms' messages do not cross nodes (viewers on the same node still get them),
    rooms on the other masters carry on, and its keys (recent chat, presence, likes, boards of its rooms) are gone
    when it comes back empty; after it is back, its rooms cross nodes again. Nothing crashes."""
    shared = SharedRedis(clean_redis_cluster.url, cluster=True)
    slot_owner = _cluster_client(clean_redis_cluster)
    await slot_owner.initialize()
    async with hub_nodes(2, db_name, mongo_client, shared) as (n1, n2), live_clients() as open_client:
        owner = await register(n1.http, "Owner")
        viewer = await register(n2.http, "Viewer")
        # Streams until two of them are served by different masters: one to restart, one that stays up.
        by_master: dict[str, str] = {}
        for _ in range(40):
            stream = await create_stream(n1.http, owner)
            name = slot_owner.get_node_from_key(room_keys.viewers(stream["id"])).name
            by_master.setdefault(name, stream["id"])
            if len(by_master) >= 2:
                break
        (down_name, down_sid), (_up_name, up_sid) = list(by_master.items())[:2]
        down_index = next(i for i, m in enumerate(clean_redis_cluster.masters) if f"127.0.0.1:{m.port}" == down_name)

        # Per room: a sender on node 1, a viewer on node 1 and a viewer on node 2.
        a, b, c = [await open_client(n1.url, owner["access_token"]) for _ in range(2)] + [
            await open_client(n2.url, viewer["access_token"])
        ]
        ua, uc = await open_client(n1.url, owner["access_token"]), await open_client(n2.url, viewer["access_token"])
        for client in (a, b, c):
            await client.ok("stream:join", {"stream_id": down_sid})
        for client in (ua, uc):
            await client.ok("stream:join", {"stream_id": up_sid})
        await a.ok("chat:send", {"stream_id": down_sid, "text": "one"})
        await ua.ok("chat:send", {"stream_id": up_sid, "text": "one"})
        await c.wait_for(lambda: c.chat_texts() == ["one"])
        await uc.wait_for(lambda: uc.chat_texts() == ["one"])

        clean_redis_cluster.stop_master(down_index)
        link1 = n1.hub.broadcaster.link
        link2 = n2.hub.broadcaster.link
        assert link1 is not None and link2 is not None
        try:
            await a.wait_for(lambda: not link1.connected, timeout=10)
            ack = await a.call("chat:send", {"stream_id": down_sid, "text": "two"})
            assert ack["ok"] is True, ack
            await b.wait_for(lambda: b.chat_texts() == ["one", "two"])  # the same node: still delivered
            await ua.ok("chat:send", {"stream_id": up_sid, "text": "two"})
            await uc.wait_for(lambda: uc.chat_texts() == ["one", "two"], timeout=10)  # another master: unaffected
            await asyncio.sleep(0.3)
            assert c.chat_texts() == ["one"]  # lost across nodes while its master is down
        finally:
            clean_redis_cluster.start_master(down_index)

        await a.wait_for(lambda: link1.connected and link2.connected, timeout=15)
        deadline = asyncio.get_running_loop().time() + 15
        n = 0
        while not any(t.startswith("three") for t in c.chat_texts()):
            # The first publish may race the resubscription; keep sending until one arrives (bounded).
            assert asyncio.get_running_loop().time() < deadline, c.chat_texts()
            n += 1
            with contextlib.suppress(Exception):
                await a.call("chat:send", {"stream_id": down_sid, "text": f"three {n}"})
            await asyncio.sleep(0.3)
        await c.ok("chat:send", {"stream_id": down_sid, "text": "four"})
        await a.wait_for(lambda: "four" in a.chat_texts(), timeout=10)
        for node in (n1, n2):
            assert (await node.http.get("/healthz")).status_code == 200
    await slot_owner.aclose()
