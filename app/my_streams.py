"""A streamer's own streams: create one (the account becomes a streamer), list them with their keys, rotate a key.
Going live, publishing and ending are ``app.streaming.GoingLive``."""

from __future__ import annotations

from accounts.service import AccountService
from app.access import RoomAccess
from app.directory import StreamView
from app.policy import Action, require
from app.principal import Principal
from core.ids import StreamId
from rooms.streams import StreamService


class MyStreams:
    def __init__(self, access: RoomAccess, streams: StreamService, accounts: AccountService) -> None:
        self._access = access
        self._streams = streams
        self._accounts = accounts

    async def create(
        self, who: Principal | None, *, title: str, category: str | None, tags: list[str] | None
    ) -> StreamView:
        require(Action.CREATE_STREAM, who)
        assert who is not None
        owner = await self._accounts.get_user(who.user_id)
        stream = await self._streams.create(
            who.user_id, title=title, category=category, tags=tags, owner_name=owner.nickname
        )
        await self._accounts.become_streamer(who.user_id)
        return StreamView(stream, with_key=True)

    async def mine(self, who: Principal | None) -> list[StreamView]:
        require(Action.LIST_MY_STREAMS, who)
        assert who is not None
        return [StreamView(s, with_key=True) for s in await self._streams.owned_by(who.user_id)]

    async def rotate_key(self, who: Principal | None, stream_id: StreamId) -> StreamView:
        """A new stream key; the old one publishes nothing from now on."""
        await self._access.authorize(Action.READ_STREAM_KEY, stream_id, who)
        assert who is not None
        return StreamView(await self._streams.rotate_key(stream_id), with_key=True)
