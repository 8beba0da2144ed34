"""Chatting and liking in a room. A banned or timed-out person can do neither (the policy's ``restricted``).
A subscriber of the channel chats with the subscriber badge (months), may use the channel's emotes, and may chat in
subscriber-only mode; that is read here, per message, and handed to the chat service as part of the speaker."""

from __future__ import annotations

from app.access import RoomAccess
from app.loyalty import ChannelPoints
from app.policy import Action
from app.principal import Principal
from core.ids import StreamId
from rooms.chat import ChatService, Speaker
from rooms.chat_models import ChatMessage
from rooms.presence import PresenceService
from subscriptions.emotes import EmoteService
from subscriptions.service import SubscriptionService


class Chatting:
    def __init__(
        self,
        access: RoomAccess,
        chat: ChatService,
        presence: PresenceService,
        subscriptions: SubscriptionService | None = None,
        emotes: EmoteService | None = None,
        points: ChannelPoints | None = None,
    ) -> None:
        self._access = access
        self._chat = chat
        self._presence = presence
        self._subs = subscriptions
        self._emotes = emotes
        self._points = points

    async def send(self, who: Principal | None, stream_id: StreamId, text: str, client_id: str | None) -> ChatMessage:
        stream = await self._access.authorize(Action.CHAT, stream_id, who)
        assert who is not None and who.created_at is not None
        perks = await self._subs.perks(stream.owner_id, who.user_id) if self._subs is not None else None
        emotes: tuple[tuple[str, str], ...] = ()
        if perks is not None and self._emotes is not None:
            emotes = await self._emotes.in_text(stream.owner_id, text)  # only subscribers show the channel's emotes
        speaker = Speaker(who.user_id, who.nickname, who.role, who.created_at, perks.months if perks else 0)
        message = await self._chat.send(stream_id, speaker, text, client_id, emotes)
        if self._points is not None:  # channel points for chatting (capped per hour; never fails the message)
            await self._points.chatted(stream.owner_id, stream.status, who.user_id, message.id, stream.id)
        return message

    async def like(self, who: Principal | None, stream_id: StreamId, count: int) -> None:
        await self._access.authorize(Action.LIKE, stream_id, who)
        assert who is not None
        await self._presence.like(stream_id, who.user_id, count)
