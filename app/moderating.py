"""Moderating a channel: actions in a room, the channel's moderators, reports, and the moderators' reading.

Moderators belong to the streamer's channel and hold in every stream of it; removing one takes every power and
every moderator-only event at once (their sockets are told with ``you:changed`` and leave the moderators' rooms).
"""

from __future__ import annotations

from typing import Any

from accounts.service import AccountService
from app.access import RoomAccess
from app.accounts_admin import CHANGED_EVENT
from app.policy import Action
from app.principal import Principal
from core.ids import StreamId, UserId
from core.pagination import Page
from rooms.chat_models import ModAction
from rooms.models import Stream
from rooms.moderation import ModerationService, ModRequest
from rooms.notify import RoomNotifier
from rooms.streams import StreamService


class Moderating:
    def __init__(
        self,
        access: RoomAccess,
        moderation: ModerationService,
        streams: StreamService,
        accounts: AccountService,
        notifier: RoomNotifier,
    ) -> None:
        self._access = access
        self._moderation = moderation
        self._streams = streams
        self._accounts = accounts
        self._notifier = notifier

    async def act(self, who: Principal | None, stream_id: StreamId, req: ModRequest) -> dict[str, Any]:
        """One moderation action (``mod:action`` and ``POST /streams/{id}/mod-actions``)."""
        action = Action.END_STREAM if req.action is ModAction.END_STREAM else Action.MODERATE
        await self._access.authorize(action, stream_id, who)
        assert who is not None
        return await self._moderation.act(stream_id, who, req)

    async def name_moderator(self, who: Principal | None, stream_id: StreamId, user_id: UserId) -> Stream:
        await self._access.authorize(Action.NAME_MODERATOR, stream_id, who)
        assert who is not None
        await self._accounts.get_user(user_id)
        stream = await self._streams.add_moderator(stream_id, user_id)
        await self._changed(user_id, stream)
        return stream

    async def remove_moderator(self, who: Principal | None, stream_id: StreamId, user_id: UserId) -> Stream:
        await self._access.authorize(Action.NAME_MODERATOR, stream_id, who)
        assert who is not None
        stream = await self._streams.remove_moderator(stream_id, user_id)
        await self._changed(user_id, stream)
        return stream

    async def _changed(self, user_id: UserId, stream: Stream) -> None:
        await self._notifier.to_user(
            user_id,
            CHANGED_EVENT,
            {"reason": "moderator", "channel_id": stream.owner_id, "moderator": user_id in stream.moderators},
        )

    async def report(
        self,
        who: Principal | None,
        stream_id: StreamId,
        *,
        reason: str,
        message_id: str | None,
        target_user_id: UserId | None,
    ) -> dict[str, Any]:
        await self._access.authorize(Action.REPORT, stream_id, who)
        assert who is not None
        return await self._moderation.report(
            stream_id, who, reason=reason, message_id=message_id, target_user_id=target_user_id
        )

    async def modlog(
        self, who: Principal | None, stream_id: StreamId, *, cursor: str | None, limit: int | None
    ) -> Page:
        await self._access.authorize(Action.READ_MODERATION, stream_id, who)
        return await self._moderation.modlog(stream_id, cursor=cursor, limit=limit)

    async def reports(
        self, who: Principal | None, stream_id: StreamId, *, status: str | None, cursor: str | None, limit: int | None
    ) -> Page:
        await self._access.authorize(Action.READ_MODERATION, stream_id, who)
        return await self._moderation.reports(stream_id, status=status, cursor=cursor, limit=limit)

    async def resolve_report(
        self, who: Principal | None, stream_id: StreamId, report_id: str, resolution: str
    ) -> dict[str, Any]:
        await self._access.authorize(Action.RESOLVE_REPORT, stream_id, who)
        assert who is not None
        return await self._moderation.resolve_report(stream_id, who.user_id, report_id, resolution)

    async def room_settings(self, who: Principal | None, stream_id: StreamId) -> dict[str, Any]:
        await self._access.authorize(Action.READ_MODERATION, stream_id, who)
        return await self._moderation.room_settings(stream_id)

    async def restrictions(self, who: Principal | None, stream_id: StreamId) -> list[dict[str, Any]]:
        await self._access.authorize(Action.READ_MODERATION, stream_id, who)
        return await self._moderation.restrictions(stream_id)
