"""The notification centre, per-streamer mutes and Web Push subscriptions, for the signed-in caller. The go-live
fan-out itself is not a use case: ``hub`` subscribes ``notifications.fanout.GoLiveFanout`` to ``StreamStarted``,
which the stream lifecycle publishes once per stream (the node whose ``created → live`` update won)."""

from __future__ import annotations

from typing import Any

from app.policy import Action, require
from app.principal import Principal
from core.ids import UserId
from core.pagination import Page
from notifications.service import NotificationService


class Notifying:
    def __init__(self, notifications: NotificationService) -> None:
        self._notes = notifications

    def _me(self, who: Principal | None) -> UserId:
        require(Action.USE_NOTIFICATIONS, who)
        assert who is not None
        return who.user_id

    async def page(self, who: Principal | None, *, cursor: str | None, limit: int | None) -> dict[str, Any]:
        """A page of my notifications, newest first, with my unread count."""
        me = self._me(who)
        page: Page = await self._notes.page(me, cursor=cursor, limit=limit)
        return {**page.to_dict(), "unread": await self._notes.unread(me)}

    async def mark_read(self, who: Principal | None, ids: list[str] | None) -> dict[str, int]:
        me = self._me(who)
        changed = await self._notes.mark_read(me, ids)
        return {"marked": changed, "unread": await self._notes.unread(me)}

    async def mutes(self, who: Principal | None) -> list[str]:
        return await self._notes.mutes(self._me(who))

    async def mute(self, who: Principal | None, streamer_id: UserId) -> None:
        await self._notes.mute(self._me(who), streamer_id)

    async def unmute(self, who: Principal | None, streamer_id: UserId) -> None:
        await self._notes.unmute(self._me(who), streamer_id)

    def push_key(self, who: Principal | None) -> str:
        self._me(who)
        return self._notes.push_key

    async def subscribe(self, who: Principal | None, endpoint: str, p256dh: str, auth: str) -> dict[str, Any]:
        return await self._notes.subscribe(self._me(who), endpoint, p256dh, auth)

    async def unsubscribe(self, who: Principal | None, endpoint: str) -> None:
        await self._notes.unsubscribe(self._me(who), endpoint)
