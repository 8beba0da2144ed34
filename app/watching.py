"""Joining and watching a room: what a viewer gets on joining (the stream, counts, recent chat, the settings their
role may see, their own restriction, the leaderboard and goal) and leaving; and what anyone may read of a room over
HTTP (chat history, viewers, leaderboards). The socket edge keeps its connection's rooms; everything it shows comes
from here. Moderators see more: removed chat messages and who is watching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.service import AccountService
from app.access import RoomAccess
from app.policy import Action, require, room_role
from app.principal import Principal
from core.errors import UnavailableError
from core.ids import StreamId, UserId
from core.pagination import Page
from gifts.service import GiftService
from rooms.chat import ChatService
from rooms.chat_models import Restriction, RoomRole, RoomSettings
from rooms.models import Stream
from rooms.presence import PresenceService


@dataclass(frozen=True, slots=True)
class Joined:
    stream: Stream
    role: RoomRole
    viewers: int
    likes: int
    recent_chat: list[dict[str, Any]]
    settings: RoomSettings
    restriction: Restriction | None
    leaderboard: list[dict[str, Any]] | None  # None while the live board (Redis) is unreachable
    goal: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        moderates = self.role.can_moderate
        return {
            "stream": self.stream.to_public(),
            "viewers": self.viewers,
            "likes": self.likes,
            "recent_chat": self.recent_chat,
            "settings": self.settings.to_moderator() if moderates else self.settings.to_public(),
            "role": self.role.value,
            "restriction": self.restriction.to_dict() if self.restriction else None,
            "leaderboard": self.leaderboard,
            "goal": self.goal,
        }


#: At most this many watching accounts are listed for moderators.
VIEWER_LIST_MAX = 500


@dataclass(frozen=True, slots=True)
class Viewers:
    count: int
    likes: int
    users: list[dict[str, Any]] | None = None  # moderators only: the signed-in viewers' public profiles
    guests: int | None = None  # moderators only

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "likes": self.likes}
        if self.users is not None:
            out["users"] = self.users
            out["guests"] = self.guests
        return out


@dataclass(frozen=True, slots=True)
class Leaderboards:
    stream_id: StreamId
    live: list[dict[str, Any]]  # of this stream
    all_time: list[dict[str, Any]]  # of its streamer, from the ledger

    def to_dict(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "live": self.live, "all_time": self.all_time}


class Watching:
    def __init__(
        self,
        access: RoomAccess,
        chat: ChatService,
        presence: PresenceService,
        gifts: GiftService,
        accounts: AccountService,
    ) -> None:
        self._access = access
        self._chat = chat
        self._presence = presence
        self._gifts = gifts
        self._accounts = accounts

    async def room_for(self, who: Principal | None, stream_id: StreamId) -> tuple[Stream, RoomRole]:
        """The stream and the caller's role in it, if they may watch it (not ended; not suspended)."""
        stream, room = await self._access.room(stream_id, who, standing=False)
        require(Action.WATCH, who, room)
        return stream, room_role(who, room)

    async def admit(self, viewer_key: str) -> None:
        """Refuse a viewer who joins rooms too fast (one more room for this connection)."""
        await self._presence.allow_join(viewer_key)

    async def join(self, who: Principal | None, stream: Stream, role: RoomRole, viewer_key: str, first: bool) -> Joined:
        if first:
            if who is not None and who.nickname:
                await self._chat.remember_nickname(stream.id, who.nickname, who.user_id)
            viewers = await self._presence.join(stream.id, viewer_key)
        else:
            viewers = await self._presence.count(stream.id)
        restriction = await self._chat.restriction(stream, who.user_id) if who is not None else None
        try:
            leaderboard: list[dict[str, Any]] | None = await self._gifts.live_leaderboard(stream.id)
        except UnavailableError:  # the live board lives in Redis; joining a room must not depend on it
            leaderboard = None
        goal = await self._gifts.goals.get(stream.id)
        return Joined(
            stream=stream,
            role=role,
            viewers=viewers,
            likes=await self._presence.likes(stream.id),
            recent_chat=await self._chat.recent(stream.id),
            settings=await self._chat.settings(stream.id),
            restriction=restriction,
            leaderboard=leaderboard,
            goal=goal.to_dict() if goal is not None else None,
        )

    async def leave(self, stream_id: str, viewer_key: str) -> None:
        await self._presence.leave(stream_id, viewer_key)

    async def chat_history(
        self, who: Principal | None, stream_id: StreamId, *, cursor: str | None, limit: int | None, removed: bool
    ) -> Page:
        """Stored chat, newest first; with ``removed`` (moderators only) deleted and cleared messages too."""
        if removed:
            await self._access.authorize(Action.READ_MODERATION, stream_id, who)
        else:
            require(Action.READ_ROOM, who)
        return await self._chat.history(stream_id, cursor=cursor, limit=limit, include_removed=removed)

    async def viewers(self, who: Principal | None, stream_id: StreamId) -> Viewers:
        """Viewer count and likes; for the room's moderators also who is watching."""
        require(Action.READ_ROOM, who)
        await self._access.room(stream_id, who, standing=False)  # no such stream → 404
        count, likes = await self._presence.count(stream_id), await self._presence.likes(stream_id)
        if not await self._access.moderates(stream_id, who):
            return Viewers(count, likes)
        keys = await self._presence.viewers(stream_id, VIEWER_LIST_MAX)
        users = await self._accounts.get_users([UserId(k) for k in keys if not k.startswith("g:")])
        guests = sum(1 for k in keys if k.startswith("g:"))
        return Viewers(count, likes, [u.public() for u in users.values()], guests)

    async def leaderboards(self, who: Principal | None, stream_id: StreamId) -> Leaderboards:
        """Top gifters of the stream (live) and of its streamer (all time)."""
        require(Action.READ_ROOM, who)
        stream, _ = await self._access.room(stream_id, who, standing=False)
        return Leaderboards(
            stream.id,
            await self._gifts.live_leaderboard(stream.id),
            await self._gifts.all_time_leaderboard(stream.owner_id),
        )
