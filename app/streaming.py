"""Going live and ending: publishing by stream key (WHIP) or by a signed-in owner (``rtc:publish``), going live,
ending. The key stands for its owner: the owner's account is read fresh and goes through the same policy, so a
suspended streamer's keys publish nothing."""

from __future__ import annotations

from dataclasses import dataclass

from app.access import RoomAccess
from app.lifecycle import StreamLifecycle
from app.policy import Action, require
from app.principal import Identity, Principal
from core.errors import ForbiddenError, UnauthenticatedError
from core.ids import StreamId
from rooms.models import Stream
from rooms.streams import StreamService
from sfu import Sfu


@dataclass(frozen=True, slots=True)
class Published:
    stream: Stream
    session_id: str
    answer_sdp: str


class GoingLive:
    def __init__(
        self,
        access: RoomAccess,
        streams: StreamService,
        identity: Identity,
        lifecycle: StreamLifecycle,
        sfu: Sfu,
    ) -> None:
        self._access = access
        self._streams = streams
        self._identity = identity
        self._lifecycle = lifecycle
        self._sfu = sfu

    async def publish_with_key(self, stream_id: StreamId, stream_key: str, offer_sdp: str) -> Published:
        """WHIP: the stream key proves the owner sent it; the owner must still be allowed to publish."""
        try:
            stream = await self._streams.authorize_publisher(stream_id, stream_key)
        except ForbiddenError:
            raise UnauthenticatedError("wrong stream key", code="invalid_stream_key") from None
        owner = await self._identity.user(stream.owner_id)
        stream, room = await self._access.room(stream.id, owner)
        require(Action.PUBLISH, owner, room)
        session_id, answer = await self._sfu.publish(
            stream.id, offer_sdp, {"stream_id": stream.id, "user_id": stream.owner_id}
        )
        return Published(stream, session_id, answer)

    async def authorize_publish(self, who: Principal | None, stream_id: StreamId) -> Stream:
        """``rtc:publish``: the signed-in owner of a stream that has not ended, not suspended."""
        return await self._access.authorize(Action.PUBLISH, stream_id, who)

    async def go_live(self, who: Principal | None, stream_id: StreamId) -> Stream:
        await self._access.authorize(Action.GO_LIVE, stream_id, who)
        return await self._streams.go_live(stream_id)

    async def end(self, who: Principal | None, stream_id: StreamId) -> Stream:
        stream = await self._access.authorize(Action.END_STREAM, stream_id, who)
        assert who is not None
        reason = "ended_by_owner" if who.user_id == stream.owner_id else "ended_by_staff"
        return await self._lifecycle.end(stream_id, reason)
