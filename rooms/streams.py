"""Streams: create, go live, end, list, stream keys, and the moderators of a streamer's channel.

Moderators belong to the channel (the owner), not to one stream: named once, they moderate every stream of that
owner until removed. ``Stream.moderators`` is always the channel's list as it is now."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any

from core.clock import Clock, as_utc
from core.errors import ForbiddenError, InvalidInputError
from core.events import EventBus, StreamEnded, StreamStarted
from core.ids import StreamId, UserId, new_id
from core.pagination import Page, clamp_limit, decode_time_cursor, encode_cursor
from core.text import STREAM_CATEGORY, STREAM_TAG, STREAM_TITLE
from rooms.errors import StreamEndedError, StreamNotFoundError
from rooms.models import Stream, StreamStatus
from rooms.search import keywords, query_tokens
from rooms.store import StreamStore

TITLE_MAX = STREAM_TITLE.max_chars
CATEGORY_MAX = STREAM_CATEGORY.max_chars
TAG_MAX = STREAM_TAG.max_chars
TAGS_MAX = 10
MODERATORS_MAX = 100


def new_stream_key() -> str:
    return "sk_" + secrets.token_urlsafe(24)


class StreamService:
    def __init__(self, store: StreamStore, clock: Clock, events: EventBus) -> None:
        self._store = store
        self._clock = clock
        self._events = events

    async def _with_moderators(self, docs: list[dict[str, Any]]) -> list[Stream]:
        mods = await self._store.channel_moderators(list({d["owner_id"] for d in docs}))
        return [
            replace(s, moderators=tuple(UserId(m) for m in mods.get(s.owner_id, ())))
            for s in (Stream.from_doc(d) for d in docs)
        ]

    async def _one(self, doc: dict[str, Any]) -> Stream:
        return (await self._with_moderators([doc]))[0]

    async def create(
        self,
        owner_id: UserId,
        *,
        title: str,
        category: str | None = None,
        tags: list[str] | None = None,
        owner_name: str = "",
    ) -> Stream:
        tags = tags or []
        if len(tags) > TAGS_MAX:
            raise InvalidInputError(f"at most {TAGS_MAX} tags", field="tags")
        doc: dict[str, Any] = {
            "_id": new_id(),
            "owner_id": owner_id,
            "title": STREAM_TITLE.clean(title),
            "category": STREAM_CATEGORY.clean(category) if category else None,
            "tags": list(dict.fromkeys(STREAM_TAG.clean(t).lower() for t in tags)),
            "status": StreamStatus.CREATED.value,
            "stream_key": new_stream_key(),
            "keywords": keywords(STREAM_TITLE.clean(title), owner_name),  # directory search (rooms/search.py)
            "created_at": self._clock.now(),
            "moderators": [],
            "stats": {},
        }
        await self._store.insert(doc)
        return await self._one(doc)

    async def get(self, stream_id: StreamId, *, moderators: bool = True) -> Stream:
        """The stream with its channel's moderators; with ``moderators=False`` without them (``moderators`` is
        empty: one read less, for callers that do not look at them)."""
        doc = await self._store.get(stream_id)
        if doc is None:
            raise StreamNotFoundError("no such stream")
        return await self._one(doc) if moderators else Stream.from_doc(doc)

    async def rotate_key(self, stream_id: StreamId) -> Stream:
        """A new stream key (who may is ``app.policy``'s ``read_stream_key``: the owner)."""
        doc = await self._store.set_stream_key(stream_id, new_stream_key())
        if doc is None:
            raise StreamNotFoundError("no such stream")
        return await self._one(doc)

    async def set_transcode_ladder(self, stream_id: StreamId, enabled: bool) -> Stream:
        """Whether the SFU makes lower layers for this stream when its publisher sends one (``sfu/ladder.py``)."""
        doc = await self._store.set_transcode_ladder(stream_id, enabled)
        if doc is None:
            raise StreamNotFoundError("no such stream")
        return Stream.from_doc(doc)

    async def authorize_publisher(self, stream_id: StreamId, stream_key: str) -> Stream:
        """The stream, if ``stream_key`` is its key (constant-time compare) and it has not ended."""
        stream = await self.get(stream_id)
        if not secrets.compare_digest(stream.stream_key.encode(), stream_key.encode()):
            raise ForbiddenError("wrong stream key", code="invalid_stream_key")
        if stream.status is StreamStatus.ENDED:
            raise StreamEndedError("this stream has ended; create a new one")
        return stream

    async def go_live(self, stream_id: StreamId) -> Stream:
        """Mark the stream live (idempotent). Publishes ``StreamStarted`` the first time."""
        now = self._clock.now()
        doc = await self._store.mark_live(stream_id, now)
        if doc is None:
            stream = await self.get(stream_id)
            if stream.status is StreamStatus.ENDED:
                raise StreamEndedError("this stream has ended; create a new one")
            return stream
        stream = await self._one(doc)
        await self._events.publish(StreamStarted(stream.id, stream.owner_id, now, stream.title))
        return stream

    async def end(self, stream_id: StreamId, *, reason: str = "ended") -> Stream:
        """End the stream (idempotent); keeps its stats. Publishes ``StreamEnded`` the first time."""
        now = self._clock.now()
        current = await self.get(stream_id)
        if current.status is StreamStatus.ENDED:
            return current
        started = current.started_at or now
        doc = await self._store.mark_ended(stream_id, now, max(0, int((now - started).total_seconds())))
        if doc is None:
            return await self.get(stream_id)
        stream = await self._one(doc)
        await self._events.publish(StreamEnded(stream.id, stream.owner_id, now, reason))
        return stream

    async def record_stats(
        self, stream_id: StreamId, *, peak_viewers: int | None = None, inc: dict[str, int] | None = None
    ) -> None:
        """Raise the peak viewer count and add to counters (likes, gift totals)."""
        await self._store.record_stats(stream_id, peak_viewers=peak_viewers, inc=inc)

    async def add_moderator(self, stream_id: StreamId, user_id: UserId) -> Stream:
        """Name ``user_id`` a moderator of the channel of ``stream_id``'s owner (every stream of theirs). Who may is
        ``app.policy``'s ``name_moderator`` (the owner)."""
        stream = await self.get(stream_id)
        if user_id == stream.owner_id:
            raise InvalidInputError("the owner is already in charge of the room", field="user_id")
        if len(stream.moderators) >= MODERATORS_MAX and user_id not in stream.moderators:
            raise InvalidInputError(f"a channel can have at most {MODERATORS_MAX} moderators")
        await self._store.add_channel_moderator(stream.owner_id, user_id, self._clock.now())
        return await self.get(stream_id)

    async def remove_moderator(self, stream_id: StreamId, user_id: UserId) -> Stream:
        stream = await self.get(stream_id)
        await self._store.remove_channel_moderator(stream.owner_id, user_id)
        return await self.get(stream_id)

    async def directory(
        self,
        *,
        status: StreamStatus | None,
        owners: list[UserId] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        category: str | None = None,
        tags: list[str] | None = None,
        query: str | None = None,
    ) -> Page:
        """Streams by status (any when None), newest first; narrowed to a category, to streams having every tag in
        ``tags``, and to those matching every word of ``query`` (title or streamer, ``rooms/search.py``)."""
        n = clamp_limit(limit)
        sort_field = "started_at" if status is StreamStatus.LIVE else "created_at"
        after: tuple[datetime, str] | None = None
        if cursor:
            after = decode_time_cursor(cursor)
        docs = await self._store.page(
            status=status,
            owners=[str(o) for o in owners] if owners is not None else None,
            after=after,
            limit=n + 1,
            sort_field=sort_field,
            category=STREAM_CATEGORY.clean(category) if category else None,
            tags=[STREAM_TAG.clean(t).lower() for t in tags] if tags else None,
            keywords=query_tokens(query) if query else None,
        )
        streams = await self._with_moderators(docs[:n])
        next_cursor = None
        if len(docs) > n:
            last = docs[n - 1]
            next_cursor = encode_cursor([as_utc(last[sort_field]).isoformat(), last["_id"]])
        return Page([s.to_public() for s in streams], next_cursor)

    async def owned_by(self, owner_id: UserId, limit: int = 50) -> list[Stream]:
        return await self._with_moderators(await self._store.by_owner(owner_id, limit))

    async def moderated_by(self, user_id: UserId, limit: int = 50) -> list[Stream]:
        return await self._with_moderators(await self._store.where_moderator(user_id, limit))
