"""Both ``LiveState`` implementations behave the same (the Redis one against a real redis-server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.errors import UnavailableError
from rooms.live_state import RECENT_MAX, InProcessLiveState, LiveState, RecentWrittenBehind, ResilientLiveState
from rooms.store_redis import RedisLiveState


@pytest.fixture(params=["in-process", "redis", "redis-written-behind"])
async def live(request: Any, clean_redis: str) -> AsyncIterator[LiveState]:
    if request.param == "in-process":
        yield InProcessLiveState()
        return
    client = aioredis.Redis.from_url(clean_redis)
    if request.param == "redis-written-behind":
        behind = RecentWrittenBehind(RedisLiveState(client))
        yield behind
        await behind.close()
    else:
        yield RedisLiveState(client)
    await client.aclose()


async def test_recent_keeps_the_newest_hundred_newest_first(live: LiveState) -> None:
    for i in range(RECENT_MAX + 5):
        await live.push_recent("s", str(i))
    items = await live.recent("s")
    assert len(items) == RECENT_MAX and items[0] == str(RECENT_MAX + 4) and items[-1] == "5"
    await live.replace_recent("s", ["b", "a"])
    assert await live.recent("s") == ["b", "a"]
    assert await live.recent("other") == []


async def test_viewers_expire_unless_refreshed(live: LiveState) -> None:
    await live.touch_viewers("s", ["u1", "u2"], expires_at=100.0)
    await live.touch_viewers("s", ["u1"], expires_at=200.0)  # the same viewer twice counts once
    assert await live.count_viewers("s", now=50.0) == 2
    assert sorted(await live.list_viewers("s", now=50.0, limit=10)) == ["u1", "u2"]
    assert await live.count_viewers("s", now=150.0) == 1
    await live.remove_viewers("s", [("u1", 200.0)])
    assert await live.count_viewers("s", now=150.0) == 0


async def test_a_node_leaving_does_not_remove_a_viewer_another_node_refreshed_since(live: LiveState) -> None:
    """The viewer moved: node A wrote 1000.25, node B then wrote 1010.5; A's leave must not take them out."""
    await live.touch_viewers("s", ["u1"], expires_at=1000.25)  # node A
    await live.touch_viewers("s", ["u1"], expires_at=1010.5)  # node B
    await live.remove_viewers("s", [("u1", 1000.25)])  # node A's last connection of u1 closes
    assert await live.list_viewers("s", now=900.0, limit=10) == ["u1"]
    await live.remove_viewers("s", [("u1", 1010.5)])  # then node B's
    assert await live.count_viewers("s", now=900.0) == 0
    await live.touch_viewers("s", ["u2"], expires_at=1796023577.358123)  # a real clock's expiry round-trips exactly
    await live.remove_viewers("s", [("u2", 1796023577.358123)])
    assert await live.count_viewers("s", now=900.0) == 0


async def test_likes_and_nicknames(live: LiveState) -> None:
    assert await live.add_likes("s", 3) == 3
    assert await live.add_likes("s", 4) == 7
    assert await live.likes("s") == 7
    await live.put_nickname("s", "Bob", "u2")
    assert await live.find_nicknames("s", ["bob", "carol"]) == {"bob": "u2"}


async def test_resilient_state_degrades_instead_of_failing() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    state = ResilientLiveState(RedisLiveState(client))
    await state.push_recent("s", "x")  # dropped, not raised
    await state.touch_viewers("s", ["u"], 1.0)
    assert await state.find_nicknames("s", ["a"]) == {}
    with pytest.raises(UnavailableError):
        await state.recent("s")
    with pytest.raises(UnavailableError):
        await state.count_viewers("s", 0.0)
    assert state.failures >= 4
    await client.aclose()


class GatedRecent(InProcessLiveState):
    """Recent-chat writes wait for ``gate`` (a slow shared cache) and are counted."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.writes: list[list[str]] = []

    async def push_recent_many(self, stream_id: str, items_oldest_first: list[str]) -> None:
        await self.gate.wait()
        self.writes.append(list(items_oldest_first))
        await super().push_recent_many(stream_id, items_oldest_first)


async def test_a_recent_chat_push_written_behind_returns_before_the_write_and_a_read_here_waits_for_it() -> None:
    inner = GatedRecent()
    behind = RecentWrittenBehind(inner)
    for i in range(5):
        await asyncio.wait_for(behind.push_recent("s", str(i)), 0.5)  # returns although the cache does not answer
    assert inner.writes == [] and await inner.recent("s") == []
    read = asyncio.create_task(behind.recent("s"))
    await asyncio.sleep(0.05)
    assert not read.done()  # a read on this node waits for the pushes made before it
    inner.gate.set()
    assert await asyncio.wait_for(read, 2) == ["4", "3", "2", "1", "0"]  # newest first, none lost or reordered
    assert len(inner.writes) <= 2  # pushes made while one was being written go together in one round trip
    assert not behind._pushed and not behind._written  # nothing kept per stream once it is written
    await behind.close()


async def test_a_recent_chat_rebuild_is_not_overtaken_by_pushes_made_before_it() -> None:
    """A moderator removes a message: the rebuild from the database must be the last word, not a push queued
    before it (which would bring the removed message back)."""
    inner = GatedRecent()
    behind = RecentWrittenBehind(inner)
    await behind.push_recent("s", "removed")
    rebuild = asyncio.create_task(behind.replace_recent("s", ["kept"]))
    await asyncio.sleep(0.02)
    inner.gate.set()
    await asyncio.wait_for(rebuild, 2)
    assert await behind.recent("s") == ["kept"]
    await behind.close()


async def test_recent_chat_written_behind_carries_on_while_redis_is_down_and_close_writes_the_rest(
    clean_redis: str,
) -> None:
    down = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    resilient = ResilientLiveState(RedisLiveState(down))
    behind = RecentWrittenBehind(resilient)
    await behind.push_recent("s", "x")  # dropped by the resilient layer, never raised at the sender
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(behind.recent("s"), 5)  # the caller's own fallback (the database) takes over
    assert resilient.failures >= 2
    await behind.close()
    await down.aclose()
    client = aioredis.Redis.from_url(clean_redis)
    behind = RecentWrittenBehind(RedisLiveState(client))
    for i in range(3):
        await behind.push_recent("s", str(i))
    await behind.close()  # what was pushed is written before the node goes
    assert await RedisLiveState(client).recent("s") == ["2", "1", "0"]
    await client.aclose()
