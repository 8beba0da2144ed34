"""Finding streams: the public directory (live by default), the live streams of people I follow, the rooms I can
moderate, and one stream — with its secret key when the caller owns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.service import AccountService
from app.policy import Action, require
from app.principal import Principal
from core.ids import StreamId
from core.pagination import Page
from rooms.models import Stream, StreamStatus
from rooms.presence import PresenceService
from rooms.streams import StreamService
from rooms.thumbnails import ThumbnailService

#: Staff see every live stream in their "rooms I can moderate" list, up to this many.
STAFF_LIVE_MAX = 100


@dataclass(frozen=True, slots=True)
class StreamView:
    """A stream as its caller may see it: the owner also sees the stream key."""

    stream: Stream
    with_key: bool = False

    def to_dict(self) -> dict[str, Any]:
        public = self.stream.to_public()
        if not self.with_key:
            return public
        return {**public, "stream_key": self.stream.stream_key, "transcode_ladder": self.stream.transcode_ladder}


class Directory:
    def __init__(
        self,
        streams: StreamService,
        accounts: AccountService,
        presence: PresenceService,
        thumbnails: ThumbnailService | None = None,
    ) -> None:
        self._streams = streams
        self._accounts = accounts
        self._presence = presence
        self._thumbnails = thumbnails

    async def browse(
        self,
        who: Principal | None,
        *,
        status: StreamStatus | None,
        cursor: str | None,
        limit: int | None,
        category: str | None = None,
        tags: list[str] | None = None,
        query: str | None = None,
    ) -> Page:
        """Streams by status (every status when None), newest first, optionally of one category, with every tag in
        ``tags`` and matching every word of ``query`` (title or streamer). Live streams carry ``viewers``: the room's
        audience on every node, WHEP viewers included (``rooms.presence``), and ``thumbnail_version`` once a picture
        was made (``app/thumbnails.py``; the edge turns it into a URL)."""
        require(Action.BROWSE_STREAMS, who)
        page = await self._streams.directory(
            status=status, cursor=cursor, limit=limit, category=category, tags=tags, query=query
        )
        live = [item for item in page.items if item["status"] == StreamStatus.LIVE.value]
        for item in live:
            item["viewers"] = await self._presence.count(item["id"])
        if live and self._thumbnails is not None:
            versions = await self._thumbnails.versions([item["id"] for item in live])
            for item in live:
                if item["id"] in versions:
                    item["thumbnail_version"] = versions[item["id"]]
        return page

    async def following(self, who: Principal | None, *, cursor: str | None, limit: int | None) -> Page:
        """Live streams of the accounts the caller follows."""
        require(Action.LIST_MY_STREAMS, who)
        assert who is not None
        owners = await self._accounts.followees(who.user_id)
        return await self._streams.directory(status=StreamStatus.LIVE, owners=owners, cursor=cursor, limit=limit)

    async def moderated(self, who: Principal | None) -> list[dict[str, Any]]:
        """Rooms the caller can moderate: their own streams and their channels' streams that have not ended, and
        for staff every live stream (public form, one entry per stream)."""
        require(Action.LIST_MY_STREAMS, who)
        assert who is not None
        rooms: dict[str, dict[str, Any]] = {}
        for stream in [*await self._streams.owned_by(who.user_id), *await self._streams.moderated_by(who.user_id)]:
            if stream.status is not StreamStatus.ENDED:
                rooms.setdefault(stream.id, stream.to_public())
        if who.is_staff:
            live = await self._streams.directory(status=StreamStatus.LIVE, limit=STAFF_LIVE_MAX)
            for item in live.items:
                rooms.setdefault(item["id"], item)
        return list(rooms.values())

    async def view(self, who: Principal | None, stream_id: StreamId) -> StreamView:
        require(Action.BROWSE_STREAMS, who)
        stream = await self._streams.get(stream_id)
        return StreamView(stream, with_key=who is not None and who.user_id == stream.owner_id)
