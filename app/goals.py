"""A stream's goal: the streamer sets a target (beans, or N of one gift) and clears it; anyone reads it and its
progress. Gifts move it forward in the gift service, each counted once."""

from __future__ import annotations

from app.access import RoomAccess
from app.policy import Action, require
from app.principal import Principal
from core.ids import StreamId
from gifts.errors import GiftNotFoundError
from gifts.models import Goal, GoalKind
from gifts.service import GiftService


class Goals:
    def __init__(self, access: RoomAccess, gifts: GiftService) -> None:
        self._access = access
        self._gifts = gifts

    async def set(
        self,
        who: Principal | None,
        stream_id: StreamId,
        *,
        kind: GoalKind,
        target: int,
        gift_id: str | None,
        title: str,
    ) -> Goal:
        """Replace the stream's goal (its owner only); a gift goal names a gift of the catalogue."""
        stream = await self._access.authorize(Action.SET_GOAL, stream_id, who)
        assert who is not None
        if gift_id:
            await self._gifts.catalogue.get(gift_id)
        return await self._gifts.goals.set(who.user_id, stream.id, kind, target, gift_id, title)

    async def get(self, who: Principal | None, stream_id: StreamId) -> Goal:
        """The goal and its progress (``no_goal`` when there is none)."""
        require(Action.READ_ROOM, who)
        goal = await self._gifts.goals.get(stream_id)
        if goal is None:
            raise GiftNotFoundError("this stream has no goal", code="no_goal")
        return goal

    async def clear(self, who: Principal | None, stream_id: StreamId) -> None:
        stream = await self._access.authorize(Action.SET_GOAL, stream_id, who)
        assert who is not None
        await self._gifts.goals.clear(stream.id)
