"""Each message between nodes is passed on once per receiving node, on one Redis and on a Redis Cluster.

Two ways a message used to arrive more than once (the cluster master-restart test saw a chat line four times):
- the link's subscriber issued its first two commands at once (the listener's resubscribe-everything and the control
  task's pending subscribe) on a redis-py ``PubSub`` that was not connected yet: each command took a connection of
  its own, both were subscribed, and the listener read from both;
- a publish retried after a failure that came after Redis had run it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis as sync_redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from signaling import keys as channel_keys
from signaling.store_redis import RedisRoomLink, ShardedRoomLink
from tests.support.redis_cluster import SharedRedis
from tests.support.waiting import until

NAME = "fanout-link-under-test"


def _servers(shared: SharedRedis) -> list[tuple[str, int]]:
    out = []
    for url in shared.url.split(","):
        host, port = url.removeprefix("redis://").split("/")[0].split(":")
        out.append((host, int(port)))
    return out


def _on_each_server(shared: SharedRedis, command: Callable[[sync_redis.Redis], Any]) -> list[Any]:
    answers = []
    for host, port in _servers(shared):
        direct = sync_redis.Redis(host=host, port=port)
        try:
            answers.append(command(direct))
        finally:
            direct.close()
    return answers


def _subscribers(shared: SharedRedis, channel: str) -> int:
    """How many connections are subscribed to ``channel``, summed over every server (shard channels on a cluster)."""
    word = "SHARDNUMSUB" if shared.cluster else "NUMSUB"
    answers = _on_each_server(shared, lambda r: r.execute_command("PUBSUB", word, channel))
    return sum(int(a[1]) for a in answers)


def _named_connections(shared: SharedRedis) -> int:
    """Connections the link under test holds, over every server."""
    lists = _on_each_server(shared, lambda r: r.execute_command("CLIENT", "LIST"))
    text = "".join(x.decode() if isinstance(x, bytes) else str(x) for x in lists)
    return sum(1 for line in text.splitlines() if f" name={NAME} " in f" {line} ")


class _RepliesLost:
    """A client whose first pipeline reaches Redis and runs, and then fails as if the reply had been lost."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = self._real.pipeline(*args, **kwargs)
        run = pipe.execute

        async def execute(*a: Any, **k: Any) -> Any:
            result = await run(*a, **k)
            if not self.failed:
                self.failed += 1
                raise RedisConnectionError("the reply was lost after Redis ran the commands")
            return result

        pipe.execute = execute
        return pipe


def _link(
    shared: SharedRedis,
    node: str,
    on_message: Callable[[bytes], Awaitable[None]],
    wrap: Callable[[Any], Any] = lambda c: c,
) -> tuple[Any, list[Any]]:
    """A link for ``node`` whose own connections carry the name ``NAME``; the clients to close after it."""
    node_channel = channel_keys.node_channel(node)
    if not shared.cluster:
        client = wrap(aioredis.Redis.from_url(shared.url, client_name=NAME))
        return RedisRoomLink(client, node_channel, on_message, owns_client=True), []

    def node_client(n: Any) -> Any:
        return wrap(aioredis.Redis(host=n.host, port=n.port, client_name=NAME))

    cluster = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in _servers(shared)])
    return ShardedRoomLink(cluster, node_channel, on_message, node_client), [cluster]


async def _ignore(_data: bytes) -> None:
    return None


async def test_a_link_subscribes_each_channel_on_one_connection_however_its_first_commands_race(
    any_redis: SharedRedis,
) -> None:
    link, clients = _link(any_redis, "a", _ignore)
    rooms = [channel_keys.room_channel(channel_keys.stream_room(f"once-{i}")) for i in range(12)]
    try:
        for channel in rooms[:6]:
            await link.subscribe(channel)  # before start: sent when the subscriber connects
        link.start()
        for channel in rooms[6:]:
            await link.subscribe(channel)  # at once after: racing the first connect
        assert await until(lambda: link.connected and all(_subscribers(any_redis, c) for c in rooms), 10)
        await asyncio.sleep(0.3)  # anything still on its way lands
        assert {c: _subscribers(any_redis, c) for c in rooms} == dict.fromkeys(rooms, 1)
        servers_used = len(link.shards) if any_redis.cluster else 1
        assert _named_connections(any_redis) == servers_used  # one subscriber connection per server, none leaked
    finally:
        await link.close()
        for client in clients:
            await client.aclose()


async def test_a_publish_tried_again_after_redis_ran_it_reaches_each_other_node_once(any_redis: SharedRedis) -> None:
    heard: list[bytes] = []

    async def hear(data: bytes) -> None:
        heard.append(data)

    lossy: list[_RepliesLost] = []

    def wrap(client: Any) -> Any:
        lossy.append(_RepliesLost(client))
        return lossy[-1]

    sender, sender_clients = _link(any_redis, "a", _ignore, wrap)
    receiver, receiver_clients = _link(any_redis, "b", hear)
    room = channel_keys.room_channel(channel_keys.stream_room("once-room"))
    try:
        sender.start()
        receiver.start()
        await receiver.subscribe(room)
        assert await until(lambda: receiver.connected and _subscribers(any_redis, room) == 1, 10)
        sender.publish(room, b"first")  # its pipeline runs, then fails: the link tries it once more
        assert await until(lambda: heard == [b"first"] and sum(w.failed for w in lossy) == 1, 10), heard
        sender.publish(room, b"second")
        assert await until(lambda: len(heard) >= 2, 10), heard
        await asyncio.sleep(0.3)  # a repeat would be here by now
        assert heard == [b"first", b"second"]
        assert receiver.repeats == 1  # the second copy of "first" arrived and was not passed on
        assert sender.dropped == 0
    finally:
        await sender.close()
        await receiver.close()
        for client in sender_clients + receiver_clients:
            await client.aclose()
