"""Socket.IO gift events: ``gift:send`` (ack: the new coin balance and the combo); the leaderboard and goal in the
``stream:join`` ack come from ``app.watching``. The room fan-out of ``gift:received`` / ``leaderboard:update`` /
``goal:progress`` is driven by the ``GiftSent`` fact (see ``hub/money_wiring.py``), so it happens once per gift
whichever edge sent it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.ids import StreamId
from signaling.events import EventContext, Payload, handler


class GiftSend(Payload):
    stream_id: str = Field(max_length=64)
    gift_id: str = Field(max_length=40)
    count: int = Field(default=1, ge=1, le=99)
    idempotency_key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


@handler("gift:send", schema=GiftSend, auth=True)
async def gift_send(ctx: EventContext, body: GiftSend) -> dict[str, Any]:
    ack = await ctx.use.gifting.send(
        ctx.principal, StreamId(body.stream_id), body.gift_id, body.count, body.idempotency_key
    )
    return ack.to_dict()
