"""Viewers leaving a room at once (a big stream ends) are taken out of the shared state together: a few round trips,
not one pooled connection each (2,500 viewers leaving one node opened the Redis breaker in bench_chat's runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from core.clock import ManualClock
from rooms.live_state import InProcessLiveState, LiveState
from rooms.presence import PresenceService, PresenceTiming
from rooms.store_redis import RedisLiveState

VIEWERS = 2_000


class Counting:
    """A live state that counts its removal round trips and makes each take a little while (a network hop)."""

    def __init__(self, inner: LiveState) -> None:
        self._inner = inner
        self.removals: list[int] = []
        self.removed: set[str] = set()

    async def remove_viewers(self, stream_id: str, removals: list[tuple[str, float]]) -> None:
        self.removals.append(len(removals))
        await asyncio.sleep(0.01)
        await self._inner.remove_viewers(stream_id, removals)
        self.removed.update(key for key, _ in removals)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(params=["in-process", "redis"])
async def live(request: Any, clean_redis: str) -> AsyncIterator[LiveState]:
    if request.param == "in-process":
        yield InProcessLiveState()
        return
    client = aioredis.Redis.from_url(clean_redis)
    yield RedisLiveState(client)
    await client.aclose()


async def test_viewers_leaving_at_once_are_removed_in_a_few_round_trips_each_leave_returning_after_its_own(
    live: LiveState,
) -> None:
    counting = Counting(live)
    clock = ManualClock(datetime(2026, 11, 30, tzinfo=UTC))
    presence = PresenceService(cast(LiveState, counting), cast(Any, None), cast(Any, None), clock, PresenceTiming())
    keys = [f"u{i}" for i in range(VIEWERS)]
    for key in keys:
        await presence.join("s", key)
    assert await presence.count("s") == VIEWERS

    async def leave(key: str) -> bool:
        await presence.leave("s", key)
        return key in counting.removed  # written by the time its leave returned

    gone = await asyncio.wait_for(asyncio.gather(*(leave(k) for k in keys)), 30)
    assert all(gone)
    assert await presence.count("s") == 0
    assert sum(counting.removals) == VIEWERS and len(counting.removals) <= 3, counting.removals


async def test_a_viewer_who_came_back_while_its_removal_waited_stays(live: LiveState) -> None:
    counting = Counting(live)
    clock = ManualClock(datetime(2026, 11, 30, tzinfo=UTC))
    presence = PresenceService(cast(LiveState, counting), cast(Any, None), cast(Any, None), clock, PresenceTiming())
    for key in ("a", "b"):
        await presence.join("s", key)
    first = asyncio.ensure_future(presence.leave("s", "a"))  # in flight
    await asyncio.sleep(0)
    second = asyncio.ensure_future(presence.leave("s", "b"))  # waits for the next batch
    await asyncio.sleep(0)
    clock.advance(1)
    await presence.join("s", "b")  # b is back (a newer expiry) before its removal is written
    await asyncio.gather(first, second)
    assert await live.list_viewers("s", clock.now().timestamp(), 10) == ["b"]
