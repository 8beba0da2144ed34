"""Sending gifts. A banned or timed-out person cannot gift into that channel, so their name never reaches the room
in ``gift:received``."""

from __future__ import annotations

from app.access import RoomAccess
from app.battling import Battling
from app.policy import Action
from app.principal import Principal
from core.ids import StreamId
from gifts.models import GiftAck, StreamRef
from gifts.service import GiftService
from rooms.models import StreamStatus


class Gifting:
    def __init__(self, access: RoomAccess, gifts: GiftService, battling: Battling | None = None) -> None:
        self._access = access
        self._gifts = gifts
        self._battling = battling

    async def send(
        self,
        who: Principal | None,
        stream_id: StreamId,
        gift_id: str,
        count: int,
        idempotency_key: str,
        message: str | None = None,
    ) -> GiftAck:
        """``message``: optional, shown highlighted with the gift (text policy and the room's blocked terms)."""
        stream = await self._access.authorize(Action.SEND_GIFT, stream_id, who)
        assert who is not None
        ref = StreamRef(stream.id, stream.owner_id, stream.status is StreamStatus.LIVE)
        # In a live PK battle the transfer carries the battle, so its score is the ledger's sum (app/battling.py).
        battle = await self._battling.tag(stream) if self._battling is not None else None
        return await self._gifts.send(
            who.user_id, stream_id, gift_id, count, idempotency_key, message or "", stream=ref, battle=battle
        )
