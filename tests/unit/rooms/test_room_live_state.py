"""Both ``LiveState`` implementations behave the same (the Redis one against a real redis-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.errors import UnavailableError
from rooms.live_state import RECENT_MAX, InProcessLiveState, LiveState, ResilientLiveState
from rooms.store_redis import RedisLiveState


@pytest.fixture(params=["in-process", "redis"])
async def live(request: Any, clean_redis: str) -> AsyncIterator[LiveState]:
    if request.param == "in-process":
        yield InProcessLiveState()
        return
    client = aioredis.Redis.from_url(clean_redis)
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
    await live.remove_viewer("s", "u1", written=200.0)
    assert await live.count_viewers("s", now=150.0) == 0


async def test_a_node_leaving_does_not_remove_a_viewer_another_node_refreshed_since(live: LiveState) -> None:
    """The viewer moved: node A wrote 1000.25, node B then wrote 1010.5; A's leave must not take them out."""
    await live.touch_viewers("s", ["u1"], expires_at=1000.25)  # node A
    await live.touch_viewers("s", ["u1"], expires_at=1010.5)  # node B
    await live.remove_viewer("s", "u1", written=1000.25)  # node A's last connection of u1 closes
    assert await live.list_viewers("s", now=900.0, limit=10) == ["u1"]
    await live.remove_viewer("s", "u1", written=1010.5)  # then node B's
    assert await live.count_viewers("s", now=900.0) == 0
    await live.touch_viewers("s", ["u2"], expires_at=1796023577.358123)  # a real clock's expiry round-trips exactly
    await live.remove_viewer("s", "u2", written=1796023577.358123)
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
