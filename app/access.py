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
        restriction = None
        if standing and who is not None and who.user_id != stream.owner_id:
            r = await self._chat.restriction(stream, who.user_id)
            if r is not None:
                restriction = Standing(r.kind, r.until)
        return stream, Room.of(stream, restriction)

    async def authorize(self, action: Action, stream_id: StreamId, who: Principal | None) -> Stream:
        """The stream, if ``who`` may do ``action`` in it; else the policy's error is raised."""
        stream, room = await self.room(stream_id, who, standing=REQUIREMENTS[action].rule in _RESTRICTABLE)
        require(action, who, room)
        return stream

    async def moderates(self, stream_id: StreamId, who: Principal | None) -> bool:
        """Whether ``who`` is one of the room's moderators now (for moderator-only events on open sockets)."""
        _, room = await self.room(stream_id, who, standing=False)
        return decide(Action.READ_MODERATION, who, room) is None
