"""Stream goals: the streamer sets a target (beans, or N of one gift); gifts move it forward, each counted once."""

from __future__ import annotations

from typing import Any

from core.clock import Clock
from core.errors import InvalidInputError
from core.ids import new_id
from core.text import GOAL_TITLE
from gifts.models import Goal, GoalKind
from gifts.store import GiftStore


class GoalService:
    def __init__(self, store: GiftStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def set(
        self, set_by: str, stream_id: str, kind: GoalKind, target: int, gift_id: str | None, title: str
    ) -> Goal:
        """Replace the stream's goal (who may: ``app.policy``'s ``set_goal``, the streamer); ``set_by`` is recorded."""
        if isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= 10**9:
            raise InvalidInputError("target must be between 1 and 1,000,000,000", field="target")
        if kind is GoalKind.GIFT and not gift_id:
            raise InvalidInputError("a gift goal names its gift", field="gift_id")
        doc: dict[str, Any] = {
            "_id": stream_id,
            "goal_id": new_id(),
            "kind": kind.value,
            "target": target,
            "progress": 0,
            "gift_id": gift_id if kind is GoalKind.GIFT else None,
            "title": GOAL_TITLE.clean(title),
            "set_by": set_by,
            "set_at": self._clock.now(),
        }
        await self._store.set_goal(doc)
        return Goal.from_doc(doc)

    async def get(self, stream_id: str) -> Goal | None:
        doc = await self._store.get_goal(stream_id)
        return Goal.from_doc(doc) if doc else None

    async def clear(self, stream_id: str) -> None:
        await self._store.clear_goal(stream_id)

    async def count(self, stream_id: str, gift_id: str, beans: int, count: int, tid: str) -> Goal | None:
        """Count a gift (once per transfer). Returns the goal if this gift moved it."""
        return await self.count_many(stream_id, [(gift_id, beans, count, tid)])

    async def count_many(self, stream_id: str, gifts: list[tuple[str, int, int, str]]) -> Goal | None:
        """Count several gifts ``(gift id, beans, count, transfer id)`` to the stream at once, each once per
        transfer. Returns the goal after them if any of them moved it."""
        doc = await self._store.get_goal(stream_id)
        if doc is None:
            return None
        amounts: list[tuple[str, int]] = []
        for gift_id, beans, count, tid in gifts:
            if doc["kind"] == GoalKind.GIFT.value:
                if doc.get("gift_id") != gift_id:
                    continue
                amount = count
            else:
                amount = beans
            if amount > 0:
                amounts.append((tid, amount))
        if not amounts:
            return None
        updated = await self._store.add_goal_progress_many(stream_id, doc["goal_id"], amounts)
        return Goal.from_doc(updated) if updated else None
