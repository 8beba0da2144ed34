"""Goals: moved by gifts (each transfer counted once), restarted by a new goal. Who sets one: the policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.clock import ManualClock
from core.errors import InvalidInputError
from gifts.goals import GoalService
from gifts.models import GoalKind
from gifts.store import GiftStore


@pytest.fixture
async def goals(mongo_client: Any, db_name: str) -> AsyncIterator[GoalService]:
    store = GiftStore(mongo_client[db_name])
    await store.create_indexes()
    yield GoalService(store, ManualClock())
    await mongo_client.drop_database(db_name)


async def test_a_beans_goal_counts_each_transfer_once_and_says_when_it_is_reached(goals: GoalService) -> None:
    await goals.set("sam", "s1", GoalKind.BEANS, 100, None, "new mic")
    first = await goals.count("s1", "rose", 60, 1, "t1")
    assert first is not None and (first.progress, first.reached) == (60, False)
    assert await goals.count("s1", "rose", 60, 1, "t1") is None  # the same transfer again
    done = await goals.count("s1", "heart", 50, 1, "t2")
    assert done is not None and done.reached and done.to_dict()["progress"] == 100
    assert done.to_dict()["raw_progress"] == 110


async def test_a_gift_goal_counts_only_its_gift_and_a_new_goal_starts_from_zero(goals: GoalService) -> None:
    await goals.set("sam", "s1", GoalKind.GIFT, 10, "rose", "")
    assert await goals.count("s1", "heart", 50, 3, "t1") is None
    g = await goals.count("s1", "rose", 30, 3, "t2")
    assert g is not None and g.progress == 3
    await goals.set("sam", "s1", GoalKind.GIFT, 10, "rose", "again")
    g = await goals.count("s1", "rose", 30, 3, "t2")  # counted for the new goal, which starts at 0
    assert g is not None and g.progress == 3
    await goals.clear("s1")
    assert await goals.get("s1") is None


async def test_a_goal_must_make_sense(goals: GoalService) -> None:
    # Who may set it (the streamer only) is the policy's: tests/integration/test_use_cases_authorize.py.
    with pytest.raises(InvalidInputError):
        await goals.set("sam", "s1", GoalKind.GIFT, 5, None, "")
    with pytest.raises(InvalidInputError):
        await goals.set("sam", "s1", GoalKind.BEANS, 0, None, "")
