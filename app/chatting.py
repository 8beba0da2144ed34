"""Chatting and liking in a room. A banned or timed-out person can do neither (the policy's ``restricted``)."""

from __future__ import annotations

from app.access import RoomAccess
from app.policy import Action
from app.principal import Principal
from core.ids import StreamId
from rooms.chat import ChatService, Speaker
from rooms.chat_models import ChatMessage
from rooms.presence import PresenceService


class Chatting:
    def __init__(self, access: RoomAccess, chat: ChatService, presence: PresenceService) -> None:
        self._access = access
        self._chat = chat
        self._presence = presence

    async def send(self, who: Principal | None, stream_id: StreamId, text: str, client_id: str | None) -> ChatMessage:
        await self._access.authorize(Action.CHAT, stream_id, who)
        assert who is not None and who.created_at is not None
        speaker = Speaker(who.user_id, who.nickname, who.role, who.created_at)
        return await self._chat.send(stream_id, speaker, text, client_id)

    async def like(self, who: Principal | None, stream_id: StreamId, count: int) -> None:
        await self._access.authorize(Action.LIKE, stream_id, who)
        assert who is not None
        await self._presence.like(stream_id, who.user_id, count)
