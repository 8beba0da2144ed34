"""The facts the policy needs about a room, read fresh: the stream (its channel's moderators included) and the
caller's ban or timeout in that channel. Every use case that acts in a room starts with ``RoomAccess.authorize``."""

from __future__ import annotations

from app.policy import REQUIREMENTS, Action, Room, Rule, Standing, decide, require
from app.principal import Principal
from core.ids import StreamId
from rooms.chat import ChatService
from rooms.models import Stream
from rooms.streams import StreamService

#: Rules under which a ban or timeout matters (reading the restriction costs a read, so only then).
_RESTRICTABLE = (Rule.PARTICIPANT, Rule.PUBLISHER)


class RoomAccess:
    def __init__(self, streams: StreamService, chat: ChatService) -> None:
        self._streams = streams
        self._chat = chat

    async def room(self, stream_id: StreamId, who: Principal | None, *, standing: bool = True) -> tuple[Stream, Room]:
        stream = await self._streams.get(stream_id)
        if not standing:
            return stream, Room.of(stream)
        return stream, await self._standing(stream, who)

    async def _standing(self, stream: Stream, who: Principal | None) -> Room:
        restriction = None
        if who is not None and who.user_id != stream.owner_id:
            r = await self._chat.restriction(stream, who.user_id)
            if r is not None:
                restriction = Standing(r.kind, r.until)
        return Room.of(stream, restriction)

    async def authorize(self, action: Action, stream_id: StreamId, who: Principal | None) -> Stream:
        """The stream, if ``who`` may do ``action`` in it; else the policy's error is raised. For a participant's
        action (chat, like, report, gift) the channel's moderators matter only to a restricted caller (a moderator's
        own timeout does not stop them), so they are read only then; the stream returned then has none."""
        rule = REQUIREMENTS[action].rule
        if rule is Rule.PARTICIPANT:
            stream = await self._streams.get(stream_id, moderators=False)
            room = await self._standing(stream, who)
            if room.restriction is not None:
                stream, room = await self.room(stream_id, who)
            require(action, who, room)
            return stream
        stream, room = await self.room(stream_id, who, standing=rule in _RESTRICTABLE)
        require(action, who, room)
        return stream

    async def moderates(self, stream_id: StreamId, who: Principal | None) -> bool:
        """Whether ``who`` is one of the room's moderators now (for moderator-only events on open sockets)."""
        _, room = await self.room(stream_id, who, standing=False)
        return decide(Action.READ_MODERATION, who, room) is None
