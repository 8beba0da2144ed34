"""Socket.IO gift events: ``gift:send`` (ack: the new coin balance and the combo); the leaderboard and goal in the
``stream:join`` ack come from ``app.watching``. The room fan-out of ``gift:received`` / ``leaderboard:update`` /
``goal:progress`` is driven by the ``GiftSent`` fact (see ``hub/money_wiring.py``), so it happens once per gift
whichever edge sent it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.requests import GiftRequest
from core.ids import StreamId
from signaling.events import EventContext, handler


class GiftSend(GiftRequest):
    stream_id: str = Field(max_length=64)


@handler("gift:send", schema=GiftSend, auth=True)
async def gift_send(ctx: EventContext, body: GiftSend) -> dict[str, Any]:
    ack = await ctx.use.gifting.send(
        ctx.principal, StreamId(body.stream_id), body.gift_id, body.count, body.idempotency_key, body.message
    )
    return ack.to_dict()
