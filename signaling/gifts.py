"""Socket.IO gift events: ``gift:send`` (ack: the new coin balance and the combo), and the leaderboard and goal in
the ``stream:join`` ack. The room fan-out of ``gift:received`` / ``leaderboard:update`` / ``goal:progress`` is
driven by the ``GiftSent`` fact (see ``hub/money_wiring.py``), so it happens once per gift whichever edge sent it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.gifting import Gifting
from core.errors import UnavailableError
from core.ids import StreamId
from gifts.service import GiftService
from signaling.events import EventContext, Payload, handler, join_extra


class GiftSend(Payload):
    stream_id: str = Field(max_length=64)
    gift_id: str = Field(max_length=40)
    count: int = Field(default=1, ge=1, le=99)
    idempotency_key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


@handler("gift:send", schema=GiftSend, auth=True)
async def gift_send(ctx: EventContext, body: GiftSend) -> dict[str, Any]:
    gifting = ctx.need(Gifting)
    ack = await gifting.send(ctx.principal, StreamId(body.stream_id), body.gift_id, body.count, body.idempotency_key)
    return ack.to_dict()


@join_extra("leaderboard")
async def join_leaderboard(ctx: EventContext, stream: Any) -> Any:
    gifts = ctx.services.get(GiftService)
    if gifts is None:
        return []
    try:
        return await gifts.live_leaderboard(str(stream.id))
    except UnavailableError:  # the live board lives in Redis; joining a room must not depend on it
        return None


@join_extra("goal")
async def join_goal(ctx: EventContext, stream: Any) -> Any:
    gifts = ctx.services.get(GiftService)
    goal = await gifts.goals.get(str(stream.id)) if gifts is not None else None
    return goal.to_dict() if goal is not None else None
