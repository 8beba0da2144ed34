"""Combos and live leaderboards behave the same in-process and in Redis (a real redis-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.clock import ManualClock
from gifts.live_state import InProcessLiveState, LiveState
from gifts.store_redis import RedisLiveState


@pytest.fixture(params=["in_process", "redis"])
async def live(request: pytest.FixtureRequest, clean_redis: str) -> AsyncIterator[tuple[LiveState, ManualClock | None]]:
    if request.param == "in_process":
        clock = ManualClock()
        yield InProcessLiveState(clock), clock
        return
    client = aioredis.Redis.from_url(clean_redis)
    yield RedisLiveState(client), None
    await client.aclose()


async def test_a_combo_grows_within_the_window_and_a_retried_send_does_not_grow_it(live: tuple[LiveState, Any]) -> None:
    state, _ = live
    assert await state.combo("s", "u", "rose", 1, 5.0, "t1") == 1
    assert await state.combo("s", "u", "rose", 2, 5.0, "t2") == 3
    assert await state.combo("s", "u", "rose", 2, 5.0, "t2") == 3  # the same transfer again
    assert await state.combo("s", "u", "heart", 1, 5.0, "t3") == 1  # another gift: another combo
    assert await state.combo("s", "v", "rose", 1, 5.0, "t4") == 1  # another sender


async def test_a_combo_restarts_after_the_window(live: tuple[LiveState, Any]) -> None:
    state, clock = live
    if clock is None:
        assert await state.combo("s", "u", "rose", 1, 0.05, "a") == 1
        import asyncio

        await asyncio.sleep(0.12)
    else:
        assert await state.combo("s", "u", "rose", 1, 0.05, "a") == 1
        clock.advance(0.12)
    assert await state.combo("s", "u", "rose", 1, 0.05, "b") == 1


async def test_the_leaderboard_counts_each_transfer_once_best_first(live: tuple[LiveState, Any]) -> None:
    state, _ = live
    assert await state.add_score("s", "ann", 5, "t1")
    assert not await state.add_score("s", "ann", 5, "t1")
    await state.add_score("s", "bob", 7, "t2")
    await state.add_score("s", "ann", 4, "t3")
    await state.add_score("other", "cyd", 100, "t4")
    assert await state.top("s", 10) == [("ann", 9), ("bob", 7)]
    assert await state.top("s", 1) == [("ann", 9)]
    assert await state.top("nobody", 3) == []
